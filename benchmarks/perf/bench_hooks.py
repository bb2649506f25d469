"""Cost per hook call of the kernel's dispatcher against a plain pluggy call of the same hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pluggy
import trio

from _common import Table, parse_args, progress, ratio, report, time_interleaved_async, timed_loop, timed_loop_async
from colony.core.dispatch import Dispatcher, PluginManager

SIZES = (1, 10, 100)
TARGET = 3.0  # the bar: at most 3x pluggy's own overhead


class SyncPlugin:
    """A tiny plugin: an observation per tick, and a gate answer only when told to give one."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer

    def colony_observe(self, tick: int) -> dict[str, int]:
        """A small observation."""
        return {"tick": tick}

    def colony_gate(self, tick: int) -> bool | None:
        """None (no opinion) unless this is the deciding plugin."""
        return self.answer


class AsyncPlugin(SyncPlugin):
    """The same plugin with `async def` implementations."""

    async def colony_observe(self, tick: int) -> dict[str, int]:  # type: ignore[override]
        """A small observation."""
        return {"tick": tick}

    async def colony_gate(self, tick: int) -> bool | None:  # type: ignore[override]
        """None (no opinion) unless this is the deciding plugin."""
        return self.answer


def build(kind: type[SyncPlugin], n: int) -> tuple[PluginManager, Dispatcher]:
    """A manager and dispatcher with `n` active plugins; the one called last answers the gate."""
    pm = PluginManager()
    dispatcher = Dispatcher(pm)
    for i in range(n):
        # pluggy calls the plugin registered first last, so p0 is the only one that answers.
        pm.register(kind(True if i == 0 else None), name=f"p{i}")
        dispatcher.activate(f"p{i}")
    pm.check_pending()
    return pm, dispatcher


def in_trio(loop: Callable[[int], float]) -> Callable[[int], Awaitable[float]]:
    """A synchronous timing loop, run from the trio loop like the async ones."""

    async def run(n: int) -> float:
        return loop(n)

    return run


async def await_all(hook: pluggy.HookCaller, t: int) -> None:
    """pluggy's call of async implementations, then awaiting the coroutines it returns."""
    for coroutine in hook(tick=t):
        await coroutine


async def measure(n: int) -> list[dict[str, Any]]:
    """The rows for `n` implementations: collect and firstresult, with sync and with async impls."""
    pm, dispatcher = build(SyncPlugin, n)
    apm, adispatcher = build(AsyncPlugin, n)
    # Both sides must give the same answers before anything is timed.
    assert len(await dispatcher.collect("colony_observe", tick=0)) == n == len(pm.hook.colony_observe(tick=0))
    assert await dispatcher.first("colony_gate", tick=0) == ("p0", True) and pm.hook.colony_gate(tick=0) is True
    assert await adispatcher.first("colony_gate", tick=0) == ("p0", True)

    loops = {
        "pluggy_collect": in_trio(timed_loop(lambda t: pm.hook.colony_observe(tick=t))),
        "pluggy_first": in_trio(timed_loop(lambda t: pm.hook.colony_gate(tick=t))),
        "pluggy_awaited": timed_loop_async(lambda t: await_all(apm.hook.colony_observe, t)),
        "sync_collect": timed_loop_async(lambda t: dispatcher.collect("colony_observe", tick=t)),
        "sync_first": timed_loop_async(lambda t: dispatcher.first("colony_gate", tick=t)),
        "async_collect": timed_loop_async(lambda t: adispatcher.collect("colony_observe", tick=t)),
        "async_first": timed_loop_async(lambda t: adispatcher.first("colony_gate", tick=t)),
    }
    best = await time_interleaved_async(loops)
    return [
        row("collect, sync impls", "pluggy call", n, best["sync_collect"], best["pluggy_collect"]),
        row("firstresult, sync impls", "pluggy firstresult", n, best["sync_first"], best["pluggy_first"]),
        row("collect, async impls", "pluggy call, sync impls", n, best["async_collect"], best["pluggy_collect"]),
        row("collect, async impls", "pluggy call + caller awaits", n, best["async_collect"], best["pluggy_awaited"]),
        row("firstresult, async impls", "pluggy firstresult, sync impls", n, best["async_first"], best["pluggy_first"]),
    ]


def row(case: str, baseline: str, n: int, ours: float, base: float) -> dict[str, Any]:
    """One table row from two per-call times in seconds."""
    return {
        "case": case,
        "impls": n,
        "ours_us": ours * 1e6,
        "baseline": baseline,
        "baseline_us": base * 1e6,
        "ratio": ratio(ours, base),
        "ours_per_impl_ns": ours * 1e9 / n,
    }


async def run_all() -> list[dict[str, Any]]:
    """Every size, inside one trio run."""
    rows: list[dict[str, Any]] = []
    for n in SIZES:
        progress(f"hooks: {n} implementation(s)")
        rows += await measure(n)
    return sorted(rows, key=lambda r: (r["case"].startswith("firstresult"), "async" in r["case"], r["impls"]))


def main() -> None:
    """Run the benchmark and print its table."""
    args = parse_args(__doc__)
    table = Table(
        "Hook dispatch: Dispatcher (awaited, inside trio) vs pluggy's HookCaller, per hook call",
        {
            "case": "case",
            "impls": "impls",
            "ours_us": "ours us/call",
            "baseline": "baseline",
            "baseline_us": "base us/call",
            "ratio": "ratio",
            "ours_per_impl_ns": "ours ns/impl",
        },
        trio.run(run_all),
    )
    table.notes = [
        f"ratio = our time per call / the baseline's (lower is better); the issue's target is at most {TARGET:g}x.",
        "firstresult: only the implementation called last answers, so every implementation runs on both sides.",
        "pluggy cannot await coroutines: the async rows are set against pluggy calling the same impls written sync.",
        "'pluggy call + caller awaits': pluggy returns the coroutines and the caller awaits each (collect only).",
        "With firstresult pluggy would return the first coroutine unawaited; that is why the kernel dispatches itself.",
        "Each figure: best of 5 runs of a loop sized to last 50 ms, all loops of one size taking turns.",
        "The implementations do almost nothing, so the figures are dispatch overhead.",
    ]
    report("bench_hooks", [table], args.json)


if __name__ == "__main__":
    main()
