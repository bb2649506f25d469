"""The offline cartridge toolchain: builds in every language, compiler errors, refusals, scaffolding and the guest SDKs.

Everything compiles for real (wasmtime's wat2wasm, the ziglang wheel); the SDK checks run the built
modules under wasmtime with the seed ABI's host functions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.cartridges import examples, folder
from colony.plugins.cartridges import toolchain
from colony.plugins.cartridges.manifest import KINDS, ManifestError
from colony.plugins.cartridges.toolchain import BuildError, build, scaffold

LANGS = ("c", "zig", "wat")

C_BACKEND = """#include "colony.h"
static void handle(const colony_request *req) { colony_json(200, req->path); }
COLONY_HANDLER(handle)
"""
ZIG_BACKEND = """const colony = @import("colony");
fn handle(req: *const colony.Request) void { colony.json(200, req.path); }
export fn x402_handle(ptr: i32, len: i32) void { colony.handler(handle, ptr, len); }
"""
WAT_BACKEND = """(module
  (import "x402" "response" (func $response (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (func (export "x402_handle") (param i32 i32)
    (call $response (i32.const 200) (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0))))
"""
SOURCES = {"c": C_BACKEND, "zig": ZIG_BACKEND, "wat": WAT_BACKEND}
# A mistake in each language: the source, where the compiler says it is, and what it says.
BROKEN = {
    "c": ("int ok(void) { return 0; }\nint f(void) { return missing_name; }\n", "broken.c:2:", "undeclared identifier 'missing_name'"),
    "zig": ("const ok = 1;\nexport fn f() i32 { return \"text\"; }\n", "broken.zig:2:", "error: expected type 'i32'"),
    "wat": ("(module\n  (func (export \"f\")\n    (i32.nonsense)))\n", "broken.wat:3:", "unknown operator"),
}


def cartridge(root: Path, toml: str, files: dict[str, str] | None = None) -> Path:
    """A cartridge folder with `toml` as its cartridge.toml and the given source files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cartridge.toml").write_text(toml)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def refusal(source: Path) -> str:
    with pytest.raises(BuildError) as caught:
        build(source)
    return str(caught.value)


# -- building ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_a_single_source_file_builds_into_a_valid_backend(tmp_path: Path, lang: str) -> None:
    source = tmp_path / f"My Probe.{lang}"
    source.write_text(SOURCES[lang])
    built = build(source)
    assert built.path == tmp_path / "build" / "my-probe.wasm"
    assert built.path.read_bytes() == built.wasm
    assert built.manifest["sha256"] == hashlib.sha256(built.wasm).hexdigest()
    described = {key: built.manifest[key] for key in ("slug", "kind", "version", "lang", "source")}
    assert described == {"slug": "my-probe", "kind": "backend", "version": "0.1.0", "lang": lang, "source": source.name}
    exports = {item.name for item in wasmtime.Module(wasmtime.Engine(), built.wasm).exports}
    assert {"memory", "x402_handle"} <= exports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["My Probe." + lang, "build"]  # no compiler litter next to the source


def test_a_folder_builds_from_its_manifest_and_a_prebuilt_wasm_passes_through(tmp_path: Path) -> None:
    first = build(cartridge(tmp_path / "one", 'slug = "one"\nlang = "wat"\nsource = "one.wat"\nprice = 5\n', {"one.wat": WAT_BACKEND}))
    assert first.manifest["price"] == 5 and first.path == tmp_path / "one" / "build" / "one.wasm"
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "two.wasm").write_bytes(first.wasm)
    again = build(cartridge(tmp_path / "two", 'slug = "two"\nsource = "two.wasm"\n'))
    assert again.wasm == first.wasm and again.manifest["lang"] == "wasm"
    assert build(tmp_path / "one" / "cartridge.toml").wasm == first.wasm  # the manifest's path works too


def test_zig_caches_go_where_colony_zig_cache_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(toolchain.ZIG_CACHE_ENV, str(tmp_path / "zig-cache"))
    source = tmp_path / "src" / "probe.c"
    source.parent.mkdir()
    source.write_text(C_BACKEND)
    build(source)
    assert {p.name for p in (tmp_path / "zig-cache").iterdir()} == {"global", "local"}
    assert sorted(p.name for p in source.parent.iterdir()) == ["build", "probe.c"]


def test_a_compiler_that_runs_past_its_time_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "ZIG_TIMEOUT", 0.001)
    (tmp_path / "slow.c").write_text(C_BACKEND)
    assert "took longer than 0.001 s and was stopped" in refusal(tmp_path / "slow.c")


@pytest.mark.parametrize("lang", LANGS)
def test_a_compile_error_carries_the_compilers_message(tmp_path: Path, lang: str) -> None:
    text, where, says = BROKEN[lang]
    root = cartridge(tmp_path / "broken", f'slug = "broken"\nlang = "{lang}"\nsource = "broken.{lang}"\n', {f"broken.{lang}": text})
    message = refusal(root)
    assert where in message and says in message, message
    assert not (root / "build").exists()


def test_missing_exports_and_foreign_imports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "noexport.c").write_text('#include "colony.h"\nCOLONY_EXPORT(other) int other(void) { return 1; }\n')
    assert "must export x402_handle" in refusal(tmp_path / "noexport.c")
    (tmp_path / "nomemory.wat").write_text('(module (func (export "x402_handle") (param i32 i32)))')
    assert "memory" in refusal(tmp_path / "nomemory.wat")
    root = cartridge(tmp_path / "screen", 'slug = "screen"\nkind = "interactive"\nsource = "s.wat"\n', {"s.wat": WAT_BACKEND})
    assert "interactive cartridge must export x402_tick, x402_get_framebuffer" in refusal(root)
    (tmp_path / "foreign.zig").write_text('extern "x402" fn bogus() void;\nexport fn x402_handle(p: i32, n: i32) void { _ = p; _ = n; bogus(); }\n')
    assert "x402.bogus" in refusal(tmp_path / "foreign.zig")
    (tmp_path / "sig.wat").write_text('(module (memory (export "memory") 1) (func (export "x402_handle") (param i64)))')
    assert "export x402_handle is (i64) -> ()" in refusal(tmp_path / "sig.wat")


# -- hostile or mistaken input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('slug = "x"\nsource = "x.wat\n', "cartridge.toml"),
        ('slug = "x"\nlang = "cobol"\nsource = "x.wat"\n', "lang must be one of"),
        ('slug = "x"\nlang = "c"\nsource = "x.wat"\n', "lang = 'c' builds from a .c source"),
        ('slug = "x"\nsource = "../outside.wat"\n', "outside the cartridge folder"),
        ('slug = "x"\nsource = "/etc/hostname"\n', "outside the cartridge folder"),
        ('slug = "x"\nsource = "escape.wat"\n', "outside the cartridge folder"),
        ('slug = "x"\nsource = "absent.wat"\n', "does not exist"),
        ('slug = "x"\nsource = "notes.txt"\n', "cannot tell the language"),
        ('slug = "x"\n', "source must name the source file"),
        ('slug = "X Y"\nsource = "x.wat"\n', "slug must be"),
        ('slug = "x"\nsource = "x.wat"\nshell = "rm -rf /"\n', "unknown manifest keys: shell"),
        ('slug = "x"\nkind = "interactive"\nprice = 10\nsource = "x.wat"\n', "only backend cartridges have a price"),
        ('slug = "x"\nkind = "cognitive"\nsource = "x.wat"\n', "needs hook"),
        ('slug = "x"\nsource = "x.wat"\n[limits]\nfuel = -1\n', "limits.fuel"),
        ('slug = "x"\nsource = "garbage.wasm"\n', "not a valid WebAssembly module"),
    ],
)
def test_bad_manifests_and_sources_are_refused_with_the_reason(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "outside.wat").write_text(WAT_BACKEND)
    root = cartridge(tmp_path / "x", toml, {"x.wat": WAT_BACKEND, "notes.txt": "hi", "garbage.wasm": "\0asm garbage"})
    (root / "escape.wat").symlink_to(tmp_path / "outside.wat")
    assert expected in refusal(root)


def test_a_source_named_like_a_compiler_flag_is_compiled_as_a_file(tmp_path: Path) -> None:
    root = cartridge(tmp_path / "flag", 'slug = "flag"\nsource = "-Wl,--export=evil.c"\n', {"-Wl,--export=evil.c": C_BACKEND})
    exports = {item.name for item in wasmtime.Module(wasmtime.Engine(), build(root).wasm).exports}
    assert "evil" not in exports and "x402_handle" in exports


def test_missing_paths_are_refused(tmp_path: Path) -> None:
    assert "no cartridge.toml" in refusal(tmp_path)
    assert "no such cartridge folder or source file" in refusal(tmp_path / "nowhere")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=st.binary(max_size=300), source=st.binary(max_size=300))
def test_arbitrary_manifest_and_source_bytes_only_ever_raise_build_error(tmp_path: Path, manifest: bytes, source: bytes) -> None:
    root = tmp_path / "fuzz"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "cartridge.toml").write_bytes(manifest)
    (root / "x.wat").write_bytes(source)
    (tmp_path / "fuzz.wat").write_bytes(source)
    for target in (root, tmp_path / "fuzz.wat"):
        try:
            build(target)
        except BuildError:
            pass


# -- scaffolding -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_scaffold_then_build_round_trips_for_every_kind_and_language(tmp_path: Path, kind: str, lang: str) -> None:
    root = scaffold(f"my-{kind}", kind, lang, tmp_path)
    assert root == tmp_path / f"my-{kind}"
    assert sorted(p.name for p in root.iterdir()) == sorted(["cartridge.toml", f"my-{kind}.{lang}"])
    assert "{{" not in (root / f"my-{kind}.{lang}").read_text()
    built = build(root)
    assert (built.manifest["slug"], built.manifest["kind"], built.manifest["lang"]) == (f"my-{kind}", kind, lang)
    assert built.manifest.get("hook") == ("brain.predict" if kind == "cognitive" else None)


def test_scaffold_refuses_what_it_cannot_make(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="slug must be"):
        scaffold("../escape", "backend", "c", tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        scaffold("x", "frontend", "c", tmp_path)
    with pytest.raises(ValueError, match="templates exist for c, zig, wat"):
        scaffold("x", "backend", "cobol", tmp_path)
    scaffold("x", "backend", "c", tmp_path)
    with pytest.raises(FileExistsError, match="x already exists"):
        scaffold("x", "backend", "zig", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


# -- Rust --------------------------------------------------------------------------------------

RUST_CRATE = {
    "Cargo.toml": '[package]\nname = "rusty-probe"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ncrate-type = ["cdylib"]\n\n'
    '[profile.release]\nopt-level = "z"\npanic = "abort"\n',
    "src/lib.rs": """#![no_std]
#[link(wasm_import_module = "x402")]
extern "C" { fn response(status: i32, body: *const u8, body_len: i32, ct: *const u8, ct_len: i32); }
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
static mut SCRATCH: [u8; 65536] = [0; 65536];
#[no_mangle]
pub extern "C" fn x402_alloc(_size: i32) -> *mut u8 { core::ptr::addr_of_mut!(SCRATCH) as *mut u8 }
#[no_mangle]
pub extern "C" fn x402_handle(_ptr: *const u8, _len: i32) {
    let body = b"{\\"rust\\":true}";
    unsafe { response(200, body.as_ptr(), body.len() as i32, b"".as_ptr(), 0) }
}
""",
}


def rust_crate(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    for name, text in RUST_CRATE.items():
        (root / name).write_text(text)
    (root / "cartridge.toml").write_text('slug = "rusty"\nlang = "rust"\nsource = "Cargo.toml"\n')
    return root


def test_rust_without_its_wasm_target_says_how_to_add_it(tmp_path: Path) -> None:
    missing = toolchain.rust_missing()
    if missing is None:
        pytest.skip("the wasm32-unknown-unknown Rust target is installed here, so nothing is missing")
    message = refusal(rust_crate(tmp_path / "rusty"))
    assert message == missing
    assert "cargo" in message or "rustup target add wasm32-unknown-unknown" in message


def test_rust_builds_with_cargo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = toolchain.rust_missing()
    if missing is not None:
        pytest.skip(f"Rust cartridges cannot be built on this machine: {missing}")
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "target"))
    built = build(rust_crate(tmp_path / "rusty"))
    assert built.manifest["lang"] == "rust"
    assert Host(built.wasm).run({"method": "GET", "path": "/"})["body"] == b'{"rust":true}'


# -- the guest SDKs ----------------------------------------------------------------------------


class Host:
    """The seed ABI's host functions over plain wasmtime, enough to run one SDK call at a time."""

    def __init__(self, wasm: bytes) -> None:
        self.engine = wasmtime.Engine()
        self.module = wasmtime.Module(self.engine, wasm)
        self.kv: dict[bytes, bytes] = {}

    def run(self, request: dict[str, Any] | bytes) -> dict[str, Any]:
        """Call x402_handle with `request` (JSON-encoded unless bytes); returns the response it set."""
        store = wasmtime.Store(self.engine)
        linker = wasmtime.Linker(self.engine)
        out: dict[str, Any] = {}
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

        def read(caller: wasmtime.Caller, ptr: int, length: int) -> bytes:
            return bytes(caller["memory"].read(caller, ptr, ptr + length))  # type: ignore[union-attr]

        def hand_back(caller: wasmtime.Caller, data: bytes | None) -> int:
            if data is None:
                return 0
            ptr = caller["x402_alloc"](caller, len(data))  # type: ignore[operator]
            caller["memory"].write(caller, data, ptr)  # type: ignore[union-attr]
            return ptr << 32 | len(data)

        def kv_set(caller: wasmtime.Caller, key: int, key_len: int, value: int, value_len: int) -> int:
            self.kv[read(caller, key, key_len)] = read(caller, value, value_len)
            return 0

        def respond(caller: wasmtime.Caller, status: int, body: int, body_len: int, ct: int, ct_len: int) -> None:
            out.update(status=status, body=read(caller, body, body_len), content_type=read(caller, ct, ct_len))

        functions: dict[str, tuple[list[wasmtime.ValType], list[wasmtime.ValType], Callable[..., Any]]] = {
            "log": ([i32, i32, i32], [], lambda caller, level, ptr, length: None),
            "kv_get": ([i32, i32], [i64], lambda caller, ptr, length: hand_back(caller, self.kv.get(read(caller, ptr, length)))),
            "kv_set": ([i32, i32, i32, i32], [i32], kv_set),
            "payment_info": ([], [i64], lambda caller: hand_back(caller, b"null")),
            "response": ([i32, i32, i32, i32, i32], [], respond),
            "call": ([i32, i32, i32, i32], [i64], lambda caller, *args: 0),
        }
        for name, (params, results, fn) in functions.items():
            linker.define_func("x402", name, wasmtime.FuncType(params, results), fn, access_caller=True)
        exports = linker.instantiate(store, self.module).exports(store)
        data = request if isinstance(request, bytes) else json.dumps(request).encode()
        ptr = exports["x402_alloc"](store, len(data))  # type: ignore[operator]
        exports["memory"].write(store, data, ptr)  # type: ignore[union-attr]
        exports["x402_handle"](store, ptr, len(data))  # type: ignore[operator]
        return out


# Each probe answers what its SDK read from the request: the fields, a header, and the body's JSON members.
C_PROBE = r"""#include "colony.h"
static void handle(const colony_request *req) {
    colony_str value, cursor;
    colony_buf out = {0};
    colony_put(&out, "{\"method\":"); colony_put_quoted(&out, req->method);
    colony_put(&out, ",\"path\":"); colony_put_quoted(&out, req->path);
    colony_put(&out, ",\"query\":"); colony_put_quoted(&out, req->query);
    colony_put(&out, ",\"body\":"); colony_put_quoted(&out, req->body);
    colony_put(&out, ",\"probe\":"); colony_put_quoted(&out, colony_header(req, "X-Probe"));
    colony_put(&out, ",\"text\":");
    colony_put_quoted(&out, colony_json_get(req->body, "text", &value) ? colony_json_text(value) : COLONY_STR(""));
    colony_put(&out, ",\"int\":");
    colony_put_int(&out, colony_json_get(req->body, "int", &value) ? colony_json_int(value, -1) : -1);
    colony_put(&out, ",\"float\":");
    colony_put_float(&out, colony_json_get(req->body, "float", &value) ? colony_json_number(value, 0) : 0, 6);
    colony_put(&out, ",\"items\":");
    int items = 0;
    if (colony_json_get(req->body, "items", &cursor)) while (colony_json_next(&cursor, &value)) items++;
    colony_put_int(&out, items);
    colony_put(&out, ",\"count\":");
    int64_t count = colony_kv_get_int("count", 0) + 1;
    colony_kv_set_int("count", count);
    colony_put_int(&out, count);
    colony_put(&out, "}");
    colony_json(200, colony_buf_str(&out));
}
COLONY_HANDLER(handle)
"""
ZIG_PROBE = r"""const colony = @import("colony");
fn handle(req: *const colony.Request) void {
    var out = colony.Buf{};
    out.put("{\"method\":"); out.putQuoted(req.method);
    out.put(",\"path\":"); out.putQuoted(req.path);
    out.put(",\"query\":"); out.putQuoted(req.query);
    out.put(",\"body\":"); out.putQuoted(req.body);
    out.put(",\"probe\":"); out.putQuoted(req.header("X-Probe"));
    out.put(",\"text\":"); out.putQuoted(if (colony.field(req.body, "text")) |v| colony.text(v) else "");
    out.put(",\"int\":"); out.putInt(if (colony.field(req.body, "int")) |v| colony.int(v) orelse -1 else -1);
    out.put(",\"float\":"); out.putFloat(if (colony.field(req.body, "float")) |v| colony.number(v) orelse 0 else 0, 6);
    out.put(",\"items\":");
    var items: i64 = 0;
    if (colony.field(req.body, "items")) |list| {
        var cursor = colony.Cursor{ .rest = list };
        while (cursor.item()) |_| items += 1;
    }
    out.putInt(items);
    const count = colony.kvGetInt("count", 0) + 1;
    _ = colony.kvSetInt("count", count);
    out.put(",\"count\":"); out.putInt(count);
    out.put("}");
    colony.json(200, out.slice());
}
export fn x402_handle(ptr: i32, len: i32) void { colony.handler(handle, ptr, len); }
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Host]:
    """The C and Zig SDK probes, built once."""
    root = tmp_path_factory.mktemp("probes")
    found: dict[str, Host] = {}
    for lang, text in (("c", C_PROBE), ("zig", ZIG_PROBE)):
        (root / f"probe.{lang}").write_text(text)
        found[lang] = Host(build(root / f"probe.{lang}").wasm)
    return found


texts = st.text(st.characters(codec="utf-8"), max_size=40)


@pytest.mark.parametrize("lang", ["c", "zig"])
@settings(max_examples=80, deadline=None)
@given(
    method=texts, path=texts, query=texts, probe=texts, text=texts, ascii_only=st.booleans(),
    number=st.integers(-(2**62), 2**62), fraction=st.floats(-1e6, 1e6), items=st.lists(st.one_of(texts, st.integers(), st.none()), max_size=6),
)
def test_the_sdks_read_requests_and_write_json_like_python(
    probes: dict[str, Host], lang: str, method: str, path: str, query: str, probe: str, text: str, ascii_only: bool,
    number: int, fraction: float, items: list[Any],
) -> None:
    body = json.dumps({"pad": [{"text": "decoy"}], "text": text, "int": number, "float": fraction, "items": items}, ensure_ascii=ascii_only)
    headers = {"x-other": "no", "x-PROBE": probe}
    request = {"method": method, "path": path, "body": body, "headers": headers, "payment": None, "query": query}
    answer = probes[lang].run(json.dumps(request, ensure_ascii=ascii_only).encode())
    assert answer["status"] == 200 and answer["content_type"] == b"application/json"
    got = json.loads(answer["body"])
    assert {k: got[k] for k in ("method", "path", "query", "body", "probe", "text", "int", "items")} == {
        "method": method, "path": path, "query": query, "body": body, "probe": probe, "text": text, "int": number, "items": len(items),
    }
    assert got["float"] == pytest.approx(fraction, abs=2e-6)


@pytest.mark.parametrize("lang", ["c", "zig"])
@settings(max_examples=80, deadline=None)
@given(request=st.one_of(st.binary(max_size=200), st.text(alphabet='{}[]",:\\ux0 ', max_size=80).map(str.encode)))
def test_the_sdks_survive_malformed_requests(probes: dict[str, Host], lang: str, request: bytes) -> None:
    answer = probes[lang].run(request)
    assert answer["status"] == 200
    json.loads(answer["body"])


def test_the_sdk_kv_helpers_count_across_calls(probes: dict[str, Host]) -> None:
    for lang, host in probes.items():
        host.kv.clear()  # other tests ran the probes too
        counts = [json.loads(host.run({"method": "GET"})["body"])["count"] for _ in range(3)]
        assert counts == [1, 2, 3], lang
        assert host.kv == {b"count": b"3"}


def test_the_shipped_folders_are_where_the_package_says() -> None:
    assert (folder("sdk") / "colony.h").is_file() and (folder("sdk") / "colony.zig").is_file()
    assert {p.name for p in folder("templates").iterdir()} == set(KINDS)
    assert [p.name for p in examples()] == ["brain-override", "compose", "counter", "hello", "life"]
    with pytest.raises(ValueError):
        folder("elsewhere")  # type: ignore[arg-type]
