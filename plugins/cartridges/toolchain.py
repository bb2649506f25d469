"""Offline cartridge builds (WAT via wasmtime, C and Zig via the ziglang wheel, Rust via cargo) and scaffolding."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from colony.cartridges import folder

from .abi import REQUIRED, DeployError, check_module
from .manifest import KINDS, ManifestError, parse

# The source each language builds from: a file suffix, or the exact name for Rust.
SOURCES = {"wat": ".wat", "c": ".c", "zig": ".zig", "wasm": ".wasm", "rust": "Cargo.toml"}
TEMPLATED = ("c", "zig", "wat")
STACK_BYTES = 65536
# Seconds per compiler run: a cold zig cache builds compiler_rt first (4-30 s), cargo may fetch crates.
ZIG_TIMEOUT = 300
CARGO_TIMEOUT = 900
RUST_TARGET = "wasm32-unknown-unknown"
ZIG_CACHE_ENV = "COLONY_ZIG_CACHE"


class BuildError(Exception):
    """A cartridge did not build; the message carries the compiler's own output."""


@dataclass(frozen=True)
class Built:
    """A compiled, validated cartridge."""

    wasm: bytes
    manifest: dict[str, Any]
    path: Path


def build(source: Path) -> Built:
    """Compile a cartridge folder (or its cartridge.toml), or a single .wat/.c/.zig/.wasm file, into `build/<slug>.wasm`."""
    source = Path(source)
    data: dict[str, Any] | None = None
    if source.is_dir() or source.name == "cartridge.toml":
        root = source if source.is_dir() else source.parent
        data = _read_toml(root / "cartridge.toml")
        try:
            parse(data)
        except ManifestError as err:
            raise BuildError(f"{root / 'cartridge.toml'}: {err}") from None
        file = _source_in(root, data.get("source"))
        lang = _lang_of(file, data.get("lang"))
    elif source.is_file():
        root, file = source.parent, source
        lang = _lang_of(file, None)
    else:
        raise BuildError(f"{source}: no such cartridge folder or source file")
    wasm = _compile(lang, file, root)
    module = _module(wasm, file.name)
    if data is None:  # a lone source file: name it after the file and tell its kind from its exports
        interactive = set(REQUIRED["interactive"]) <= {e.name for e in module.exports}
        slug = _slug_from(file.parent.name if lang == "rust" else file.stem)
        data = {"slug": slug, "kind": "interactive" if interactive else "backend", "source": file.name}
    kind = data.get("kind", "backend")
    try:
        check_module(module, kind)
    except DeployError as err:
        raise BuildError(f"{file.name}: {err}") from None
    try:
        manifest = parse({**data, "lang": lang, "sha256": hashlib.sha256(wasm).hexdigest()}).to_dict()
    except ManifestError as err:
        raise BuildError(f"{source}: {err}") from None
    return Built(wasm=wasm, manifest=manifest, path=_write(root / "build" / f"{manifest['slug']}.wasm", wasm))


def scaffold(slug: str, kind: str, lang: str, dest: Path) -> Path:
    """Create `dest/<slug>/` with a cartridge.toml and a `<slug>.<ext>` source from the templates; returns the folder.

    Raises ValueError (a ManifestError for a bad slug) for what it cannot scaffold and FileExistsError
    when the folder is already there.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if lang not in TEMPLATED:
        raise ValueError(f"templates exist for {', '.join(TEMPLATED)}, not {lang!r}")
    templates = folder("templates") / kind
    source = f"{slug}{SOURCES[lang]}"

    def fill(text: str) -> str:
        return text.replace("{{slug}}", slug).replace("{{lang}}", lang).replace("{{source}}", source)

    manifest = fill((templates / "cartridge.toml").read_text())
    parse(tomllib.loads(manifest))
    target = Path(dest) / slug
    try:
        target.mkdir(parents=True)
    except FileExistsError:
        raise FileExistsError(f"{target} already exists; pick another slug or folder") from None
    (target / "cartridge.toml").write_text(manifest)
    (target / source).write_text(fill((templates / f"main{SOURCES[lang]}").read_text()))
    return target


def zig_cache() -> Path:
    """Where zig keeps its caches: `$COLONY_ZIG_CACHE`, else `<XDG cache>/colony/zig`."""
    return Path(os.environ.get(ZIG_CACHE_ENV) or _cache_home() / "zig")


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "colony"


def rust_missing() -> str | None:
    """Why Rust cartridges cannot be built on this machine, or None when they can."""
    rustc, cargo = shutil.which("rustc"), shutil.which("cargo")
    if not (rustc and cargo):
        return "Rust cartridges need cargo and rustc: install them with rustup (https://rustup.rs)"
    try:
        sysroot = _run([rustc, "--print", "sysroot"], Path.cwd(), 60, "rustc --print sysroot").strip()
    except BuildError as err:
        return str(err)
    if not (Path(sysroot) / "lib" / "rustlib" / RUST_TARGET).is_dir():
        return f"the Rust target {RUST_TARGET} is not installed; add it with: rustup target add {RUST_TARGET}"
    return None


# -- reading the cartridge ---------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"{path.parent}: no cartridge.toml (create one with `colony cartridge new`)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BuildError(f"{path}: {err}") from None


def _source_in(root: Path, source: Any) -> Path:
    """The manifest's `source`, which must name a file inside the cartridge folder."""
    if not isinstance(source, str) or not source:
        raise BuildError(f"{root / 'cartridge.toml'}: source must name the source file, e.g. source = \"main.c\"")
    file = (root / source).resolve()
    if not file.is_relative_to(root.resolve()):
        raise BuildError(f"{root / 'cartridge.toml'}: source {source!r} is outside the cartridge folder")
    if not file.is_file():
        raise BuildError(f"{root / 'cartridge.toml'}: source {source!r} does not exist")
    return file


def _lang_of(file: Path, declared: Any) -> str:
    inferred = next((lang for lang, source in SOURCES.items() if source in (file.suffix, file.name)), None)
    if declared is None and inferred is None:
        raise BuildError(f"{file.name}: cannot tell the language; build a {', '.join(SOURCES.values())} source")
    if declared is not None and declared != inferred:
        raise BuildError(f"{file.name}: lang = {declared!r} builds from a {SOURCES[declared]} source, not {file.name}")
    return declared or inferred


def _slug_from(stem: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:63] or "cartridge"


# -- compiling ---------------------------------------------------------------------------------


def _compile(lang: str, file: Path, root: Path) -> bytes:
    if lang == "wasm":
        return file.read_bytes()
    if lang == "wat":
        try:
            return wasmtime.wat2wasm(file.read_text())
        except (UnicodeDecodeError, wasmtime.WasmtimeError) as err:
            raise BuildError(f"{file.name}: {str(err).replace('<anon>', file.name)}") from None
    with tempfile.TemporaryDirectory(prefix="colony-build-") as tmp:
        out = Path(tmp) / "cartridge.wasm"
        if lang == "c":
            flags = ["-O2", "-s", "-Wl,--no-entry", f"-Wl,-z,stack-size={STACK_BYTES}", f"-I{folder('sdk')}"]
            _zig(["cc", "--target=wasm32-freestanding", *flags, "-o", str(out), _relative(file, root)], root, "C")
        elif lang == "zig":
            flags = ["-fno-entry", "-rdynamic", "-O", "ReleaseSmall", "--stack", str(STACK_BYTES), "--dep", "colony"]
            modules = [f"-Mroot={_relative(file, root)}", f"-Mcolony={folder('sdk') / 'colony.zig'}"]
            _zig(["build-exe", "-target", "wasm32-freestanding", *flags, *modules, f"-femit-bin={out}"], root, "Zig")
        else:
            return _cargo(file)
        return out.read_bytes()


def _relative(file: Path, root: Path) -> str:
    """`./file` relative to the folder the compiler runs in: its messages name files as the user does, and no name reads as a flag."""
    return f"./{file.resolve().relative_to(root.resolve())}"


def _zig(args: list[str], cwd: Path, what: str) -> None:
    cache = zig_cache()
    env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache / "global"), "ZIG_LOCAL_CACHE_DIR": str(cache / "local")}
    _run([sys.executable, "-m", "ziglang", *args], cwd, ZIG_TIMEOUT, f"the {what} build", env)


def _cargo(manifest: Path) -> bytes:
    missing = rust_missing()
    if missing:
        raise BuildError(missing)
    try:
        package = tomllib.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BuildError(f"{manifest}: {err}") from None
    tables = [package.get(key) for key in ("lib", "package")]
    name = next((table["name"] for table in tables if isinstance(table, dict) and isinstance(table.get("name"), str)), None)
    if name is None:
        raise BuildError(f"{manifest}: no [package] name")
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or _cache_home() / "cargo-target")
    cargo = shutil.which("cargo") or "cargo"
    command = [cargo, "build", "--release", "--target", RUST_TARGET, "--manifest-path", str(manifest), "--target-dir", str(target_dir)]
    _run(command, manifest.parent, CARGO_TIMEOUT, "the Rust build")
    wasm = target_dir / RUST_TARGET / "release" / f"{name.replace('-', '_')}.wasm"
    if not wasm.is_file():
        raise BuildError(f"{manifest}: cargo produced no {wasm.name}; set [lib] crate-type = [\"cdylib\"]")
    return wasm.read_bytes()


def _run(argv: list[str], cwd: Path, timeout: float, what: str, env: dict[str, str] | None = None) -> str:
    """Run a compiler in its own process group (so a timeout stops its children too); returns its stdout."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    except OSError as err:
        raise BuildError(f"{what}: cannot run {argv[0]}: {err}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BuildError(f"{what} took longer than {timeout:g} s and was stopped") from None
    if proc.returncode != 0:
        raise BuildError(f"{what} failed:\n{(err.strip() or out.strip())}")
    return out


# -- checking and writing ----------------------------------------------------------------------


@functools.cache
def _engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def _module(wasm: bytes, label: str) -> wasmtime.Module:
    """`wasm` compiled by wasmtime, which validates it."""
    try:
        return wasmtime.Module(_engine(), wasm)
    except wasmtime.WasmtimeError as err:
        raise BuildError(f"{label}: not a valid WebAssembly module: {err}") from None


def _write(path: Path, wasm: bytes) -> Path:
    """Write `wasm` to `path` atomically, so a reader never sees half a module."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(wasm)
        partial.replace(path)
    except OSError as err:
        raise BuildError(f"cannot write {path}: {err}") from None
    return path
