"""Tuned kernel choices: tinygrad's BEAM-searched optimizations per kernel, recorded once, shipped as JSON, applied without searching.

tinygrad optimizes each kernel by applying a list of `Opt`s (upcast, unroll, thread, ...) to it:
its hand-coded heuristics pick them by default, and a BEAM search picks them by timing variants.
The choices are kernel-structure decisions, not machine code, so they carry over between machines.

A table maps a kernel (the sha256 key of its AST, as tinygrad computes it before optimizing, with the
search width cleared) to the opts the search chose. While a table is active, every kernel tinygrad
compiles is looked up: a known one gets its opts through tinygrad's own `KernelInfo.opts_to_apply`
(the mechanism `Tensor.contiguous(arg=opts)` uses), so no search runs; an unknown one keeps the
default heuristics. tinygrad has no hook for this, so `activate` wraps `tinygrad.engine.realize.
lower_and_compile`, the one step every compilation (eager and TinyJit) goes through, before kernels
are handed to its compiler processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import tinygrad.engine.realize as realize
from tinygrad.codegen.opt import Opt, OptOps
from tinygrad.helpers import NUM_CPU_THREADS
from tinygrad.renderer import Renderer
from tinygrad.uop.ops import KernelInfo, Ops, UOp

from colony.core.paths import write_private
from colony.core.rpc import loads

FORMAT = "colony-tuned-kernels/1"
SHIPPED = Path(__file__).parent / "tuned"  # the tables that ship with the package, one per model
KEY_CHARS = frozenset("0123456789abcdef")
FIELDS = {"model": str, "arch": str, "dims": dict, "beam": int, "device": str, "renderer": str, "arch_family": str, "tinygrad": str,
          "kernels": dict}  # a table's fields and their JSON types
KINDS = {str: "a string", int: "an integer", dict: "an object"}


class TunedError(Exception):
    """A tuned-kernel file that cannot be used: malformed, for another model, tinygrad or device."""


@dataclass
class Table:
    """One model's tuned kernels and where they were tuned."""

    model: str
    arch: str
    dims: dict[str, int]  # the model's dimensions: other dimensions make other kernels
    beam: int
    device: str  # tinygrad's device name, e.g. "CPU"
    renderer: str  # the renderer class, e.g. "ClangRenderer"
    arch_family: str  # the target's architecture without its tuning flags, e.g. "x86_64"
    tinygrad: str  # the tinygrad release that computed the kernel keys
    kernels: dict[str, tuple[Opt, ...]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The table as a stable JSON document (sorted, so a re-export of the same choices is byte-identical)."""
        header = {
            "format": FORMAT,
            "model": self.model,
            "arch": self.arch,
            "dims": dict(sorted(self.dims.items())),
            "beam": self.beam,
            "device": self.device,
            "renderer": self.renderer,
            "arch_family": self.arch_family,
            "tinygrad": self.tinygrad,
        }
        rows = [
            f"  {json.dumps(key)}: {json.dumps([[o.op.name, o.axis, list(o.arg) if isinstance(o.arg, tuple) else o.arg] for o in opts])}"
            for key, opts in sorted(self.kernels.items())
        ]
        head = json.dumps(header, indent=1, sort_keys=True)[:-2]  # without the closing brace: the kernels follow, one a line
        return head + ',\n "kernels": {\n' + ",\n".join(rows) + "\n }\n}\n"

    def save(self, path: Path) -> None:
        """Write the table atomically, readable by all (it is package data)."""
        write_private(path, self.to_json().encode(), mode=0o644)


def parse(text: str, model: str, arch: str, where: str = "tuned kernels") -> Table:
    """A table from JSON text, checked to be for `model` at `arch` and for this tinygrad, or TunedError."""
    try:
        document = loads(text.encode())
    except ValueError as exc:
        raise TunedError(f"{where}: not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TunedError(f"{where}: not a tuned-kernel file (format must be {FORMAT!r})")
    for name, kind in FIELDS.items():
        if type(document.get(name)) is not kind:
            raise TunedError(f"{where}: {name!r} must be {KINDS[kind]}")
    if not all(type(v) is int for v in document["dims"].values()):
        raise TunedError(f"{where}: 'dims' must map dimension names to integers")
    if (document["model"], document["arch"]) != (model, arch):
        raise TunedError(f"{where}: tuned for {document['model']} ({document['arch']}), not {model} ({arch})")
    if document["tinygrad"] != version("tinygrad"):
        raise TunedError(f"{where}: tuned with tinygrad {document['tinygrad']}, this is {version('tinygrad')}: re-tune with `colony models tune`")
    kernels = {}
    for key, value in document["kernels"].items():
        if len(key) != 64 or not KEY_CHARS.issuperset(key):
            raise TunedError(f"{where}: {key[:70]!r} is not a kernel key (64 hex digits)")
        kernels[key] = _opts(value, f"{where}: kernel {key[:12]}")
    return Table(**{name: document[name] for name in FIELDS if name != "kernels"}, kernels=kernels)


def load(path: Path, model: str, arch: str) -> Table:
    """The table in `path` (see `parse`)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TunedError(f"{path.name}: cannot read it ({exc})") from None
    return parse(text, model, arch, path.name)


def _opts(value: Any, where: str) -> tuple[Opt, ...]:
    """A JSON list of [op, axis, arg] triples as tinygrad Opts, or TunedError."""
    if not isinstance(value, list):
        raise TunedError(f"{where}: opts must be a list")
    opts = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and item[0] in OptOps.__members__):
            raise TunedError(f"{where}: {item!r} is not an [op, axis, arg] triple with a known op")
        op, axis, arg = item
        if not (axis is None or type(axis) is int) or not (arg is None or type(arg) is int or _ints(arg)):
            raise TunedError(f"{where}: {item!r} needs an integer (or null) axis and argument")
        opts.append(Opt(OptOps[op], axis, tuple(arg) if isinstance(arg, list) else arg))
    return tuple(opts)


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(type(v) is int for v in value)


# -- the compile hook -------------------------------------------------------------------------

@dataclass
class Stats:
    """What the hook did since it was activated."""

    tuned: int = 0  # kernels compiled with shipped opts
    default: int = 0  # kernels not in any table (tinygrad's heuristics, or a search if BEAM is set)
    unfit: int = 0  # kernels in a table whose opts do not fit this machine (more threads than it has)
    refused: int = 0  # kernels whose shipped opts tinygrad refused: compiled again with the defaults


_tables: dict[str, Table] = {}  # model -> its active table
_index: dict[str, tuple[Table, tuple[Opt, ...]]] = {}  # kernel key -> (table, opts)
_recording: list[dict[str, tuple[Opt, ...]]] = []
_original: Callable[[UOp], UOp] | None = None
stats = Stats()


def activate(table: Table) -> None:
    """Apply `table`'s opts to matching kernels from now on (replacing the model's previous table)."""
    _tables[table.model] = table
    _reindex()
    _install()


def deactivate(model: str) -> None:
    """Stop applying `model`'s table."""
    _tables.pop(model, None)
    _reindex()


def _reindex() -> None:
    _index.clear()
    for table in _tables.values():
        _index.update({key: (table, opts) for key, opts in table.kernels.items()})


def _install() -> None:
    global _original
    if _original is None:
        _original = realize.lower_and_compile
        realize.lower_and_compile = _lower_and_compile


def kernel_key(sink: UOp) -> str:
    """The key of a kernel's AST: tinygrad's sha256 of it, with the BEAM width it was scheduled with cleared."""
    return sink.replace(arg=replace(sink.arg, beam=0)).key.hex()


def _kernels(linear: UOp) -> Iterator[tuple[UOp, UOp, Renderer]]:
    """(call, sink, renderer) for each kernel in `linear` that still has to be optimized."""
    for call in linear.toposort():
        if call.op is Ops.CALL and call.src[0].op is Ops.SINK and isinstance(call.src[0].arg, KernelInfo):
            found = realize._get_call_to_compile(call)
            if found is not None and call.src[0].arg.opts_to_apply is None and call.src[0].tag is None:
                yield call, call.src[0], found[1]


def _fits(table: Table, opts: tuple[Opt, ...], renderer: Renderer) -> bool:
    """Whether `opts` from `table` apply on `renderer` here: same device and renderer, and no more threads than it has."""
    target = renderer.target
    if (target.device, type(renderer).__name__, target.arch.split(",")[0]) != (table.device, table.renderer, table.arch_family):
        return False
    threads = [o.arg for o in opts if o.op is OptOps.THREAD]
    return not threads or (renderer.has_threads and max(threads) <= NUM_CPU_THREADS.value)  # type: ignore[type-var]


def _lower_and_compile(linear: UOp) -> UOp:
    assert _original is not None
    swaps: dict[UOp, UOp] = {}
    for call, sink, renderer in _kernels(linear):
        found = _index.get(kernel_key(sink))
        if found is None:
            stats.default += 1
        elif not _fits(found[0], found[1], renderer):
            stats.unfit += 1
        else:
            swaps[call] = call.replace(src=(sink.replace(arg=replace(sink.arg, opts_to_apply=found[1])), *call.src[1:]))
    compiled = None
    if swaps:
        try:
            compiled = _original(linear.substitute(swaps))
            stats.tuned += len(swaps)
        except Exception:  # noqa: BLE001 - any refusal of a shipped choice falls back to tinygrad's own
            stats.refused += len(swaps)
            swaps = {}
    if compiled is None:
        compiled = _original(linear)
    if _recording:
        _record({swaps.get(call, call): kernel_key(sink) for call, sink, _ in _kernels(linear)})
    return compiled


def _record(keys: dict[UOp, str]) -> None:
    """Note the opts each kernel (the calls as compiled, with their keys) was compiled with."""
    for call, key in keys.items():
        found = realize._get_call_to_compile(call)
        program = realize.to_program_cache.get(realize.to_program_key(*found)) if found is not None else None
        info = program.src[0].arg if program is not None else None
        if isinstance(info, KernelInfo):
            _recording[-1][key] = tuple(info.applied_opts)


@contextmanager
def recording() -> Iterator[dict[str, tuple[Opt, ...]]]:
    """Collect, into the yielded dict, the opts of every kernel compiled inside the block (searched ones under BEAM)."""
    _install()
    found: dict[str, tuple[Opt, ...]] = {}
    _recording.append(found)
    try:
        yield found
    finally:
        _recording.remove(found)


def describe(table: Table | None) -> str:
    """A short account of a model's kernels for lists and panels."""
    return f"tuned({len(table.kernels)})" if table is not None else "default"

