"""Shared pieces of the perf benchmarks: a timing loop, percentiles, tables and JSON output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from time import perf_counter
from typing import Any


def timed_loop(call: Callable[[int], Any]) -> Callable[[int], float]:
    """A timing loop: `loop(n)` makes n calls `call(i)` and returns the seconds they took."""

    def loop(n: int) -> float:
        start = perf_counter()
        for i in range(n):
            call(i)
        return perf_counter() - start

    return loop


def timed_loop_async(call: Callable[[int], Awaitable[Any]]) -> Callable[[int], Awaitable[float]]:
    """`timed_loop` for a call whose result is awaited."""

    async def loop(n: int) -> float:
        start = perf_counter()
        for i in range(n):
            await call(i)
        return perf_counter() - start

    return loop


Schedule = Generator[tuple[str, int], float, dict[str, float]]


def _schedule(names: list[str], rounds: int, min_time: float) -> Schedule:
    """Yields (loop, size) and receives seconds: sizes each loop to `min_time`, then runs all in turns."""
    sizes: dict[str, int] = {}
    for name in names:
        n = 1
        while (elapsed := (yield name, n)) < min_time:
            n = n * 10 if elapsed < min_time / 20 else n * 2
        sizes[name] = n
    best = dict.fromkeys(names, float("inf"))
    for _ in range(rounds):
        for name in names:
            best[name] = min(best[name], (yield name, sizes[name]) / sizes[name])
    return best


def time_interleaved(
    loops: dict[str, Callable[[int], float]], rounds: int = 5, min_time: float = 0.05
) -> dict[str, float]:
    """Best seconds per iteration of each `loop(n)`, the loops taking turns so all see the same machine."""
    schedule = _schedule(list(loops), rounds, min_time)
    try:
        name, n = next(schedule)
        while True:
            name, n = schedule.send(loops[name](n))
    except StopIteration as done:
        return done.value


async def time_interleaved_async(
    loops: dict[str, Callable[[int], Awaitable[float]]], rounds: int = 5, min_time: float = 0.05
) -> dict[str, float]:
    """`time_interleaved` for async loops, inside the running trio loop."""
    schedule = _schedule(list(loops), rounds, min_time)
    try:
        name, n = next(schedule)
        while True:
            name, n = schedule.send(await loops[name](n))
    except StopIteration as done:
        return done.value


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 90, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of `samples`, keyed `p50`, `p90`, ..."""
    ordered = sorted(samples)
    last = len(ordered) - 1
    return {f"p{p}": ordered[min(last, round(p / 100 * last))] for p in points}


def ratio(ours: float, base: float) -> float:
    """How many times `ours` is the baseline (inf when the baseline is zero)."""
    return ours / base if base else float("inf")


@dataclass
class Table:
    """One result table: column keys (with headers) and rows of plain data."""

    title: str
    columns: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fmt(value: Any) -> str:
    """A cell: floats get precision to suit their size."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def render(table: Table) -> str:
    """A table as aligned text, with its notes under it."""
    header = list(table.columns.values())
    cells = [[fmt(row.get(key, "")) for key in table.columns] for row in table.rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    left = [all(not isinstance(row.get(key), (int, float)) for row in table.rows) for key in table.columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if lft else v.rjust(w) for v, w, lft in zip(values, widths, left)).rstrip()

    out = [table.title, line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    out += [f"  * {note}" for note in table.notes]
    return "\n".join(out)


def environment() -> dict[str, Any]:
    """Where the figures were taken."""
    versions = {}
    for dist in ("colony", "pluggy", "trio", "anyio", "lmdb", "msgpack"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The common command line: `--json` (and whatever `extra` adds)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print machine-readable results instead of tables")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays clean for `--json`."""
    print(message, file=sys.stderr, flush=True)


def report(name: str, tables: list[Table], as_json: bool) -> None:
    """Print the tables, or one JSON document with them and the environment."""
    if as_json:
        document = {"benchmark": name, "environment": environment(), "tables": [asdict(t) for t in tables]}
        print(json.dumps(document, indent=2))
        return
    env = environment()
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    print(f"{name}: Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; {versions}\n")
    print("\n\n".join(render(t) for t in tables))
