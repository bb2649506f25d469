"""Milliseconds per heartbeat tick at T0 with the soul, the tools and all ten cognitive plugins, against a kernel with only pulse.

The issue's target: under 10 ms per tick at T0 with all nine systems, and the share of the tick spent
in hook dispatch. Both kernels run in this process, in one trio run, taking turns in blocks of ticks
so both see the same machine. The soul has no API key (T0) and sets itself the built-in agenda's goals
back to back, so every tick plans and runs steps; the tools run them for real (search_code starts a
sandboxed process), so their time is shown on its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import trio

from _common import Table, parse_args, percentiles, progress, ratio, report
from colony.core.config import Config
from colony.core.hookspecs import LIFECYCLE
from colony.core.kernel import Kernel

COGNITION = ("brain", "cortex", "genesis", "hivemind", "synthesis", "autonomy", "evaluation", "feedback", "free_energy", "colony_state")
HELPERS = ("soul", "tools", "models")  # the soul and its tools, and the models the brain and autonomy use
BASELINE = ("pulse",)
TARGET_MS = 10.0
# The hooks the heartbeat calls itself; colony_propose and colony_cognitive run inside other plugins' hooks.
PIPELINE = ("colony_observe", "colony_recall", "colony_gate", "colony_plan", "colony_appraise", "colony_act", "colony_verify", "colony_reflect")
NODE_CONFIG: dict[str, Any] = {
    # T0 throughout, a thought every tick, the agenda's goals back to back, and no training in the background.
    "soul": {"api_key": "", "max_tier": "T0", "agenda_every": 0.0, "think_every": 1, "think_every_idle": 1, "health_url": ""},
    "models": {"interval": 0.0, "dims": ["brain.hidden=64"]},
    "autonomy": {"plan_model": False},
}


def kernel(home: Path, plugins: Sequence[str]) -> Kernel:
    """A kernel loading only `plugins`, with its control socket in its home and a manual heartbeat."""
    overrides = {
        "heartbeat": {"enabled": False, "keep_ticks": 100},
        "control": {"socket": str(home / "node.sock")},
        "plugins": {"load": list(plugins)},
        "plugin": {name: options for name, options in NODE_CONFIG.items() if name in plugins},
    }
    return Kernel(Config(environ={}, overrides=overrides), home)


def hook_seconds(node: Kernel) -> dict[tuple[str, str], float]:
    """Seconds spent so far in each plugin's implementation of each hook."""
    return {(plugin, hook): stats.seconds for plugin, figures in node.dispatcher.stats.items() for hook, stats in figures.hooks.items()}


class Run:
    """One kernel's tick durations and hook time over the measured ticks."""

    def __init__(self, node: Kernel, plugins: Sequence[str]) -> None:
        self.node = node
        self.plugins = plugins
        self.ms: list[float] = []
        self.hooks: dict[tuple[str, str], float] = {}
        self.steps = 0

    async def ticks(self, count: int, measured: bool) -> None:
        """Run `count` ticks, timing them when `measured`."""
        before = hook_seconds(self.node)
        for _ in range(count):
            start = perf_counter()
            tick = await self.node.heartbeat.tick()
            if measured:
                self.ms.append((perf_counter() - start) * 1000)
                self.steps += len(tick.steps)
        if measured:
            for key, seconds in hook_seconds(self.node).items():
                self.hooks[key] = self.hooks.get(key, 0.0) + seconds - before.get(key, 0.0)

    def per_tick_ms(self, keys: Any) -> float:
        """Mean milliseconds per measured tick spent in the given (plugin, hook) pairs."""
        return 1000 * sum(self.hooks.get(key, 0.0) for key in keys) / len(self.ms)

    def pipeline_ms(self, plugins: Sequence[str] | None = None) -> float:
        """Mean ms per tick inside the pipeline hooks of `plugins` (all of them when None)."""
        return self.per_tick_ms(k for k in self.hooks if k[1] in PIPELINE and (plugins is None or k[0] in plugins))


async def measure(blocks: int, block: int, warmup: int, folder: str | None) -> tuple[Run, Run, list[str]]:
    """Both kernels (homes under `folder`), warmed up, then `blocks` turns of `block` ticks each."""
    os.environ.pop("GEMINI_API_KEY", None)  # T0: the soul must find no key
    homes = [Path(tempfile.mkdtemp(prefix="colony-bench-tick-", dir=folder)) for _ in range(2)]
    try:
        ours_kernel = kernel(homes[0], (*HELPERS, *COGNITION))
        base_kernel = kernel(homes[1], BASELINE)
        async with trio.open_nursery() as nursery:
            await nursery.start(ours_kernel.run)
            await nursery.start(base_kernel.run)
            running = {p.name for p in ours_kernel.host.plugins.values() if p.state == "running"}
            loaded = [name for name in (*HELPERS, *COGNITION) if name in running]
            missing = [name for name in COGNITION if name not in running]
            if missing:
                raise SystemExit(f"bench_tick: cognitive plugins did not start: {', '.join(missing)}")
            ours, base = Run(ours_kernel, loaded), Run(base_kernel, BASELINE)
            progress(f"tick: warming up ({warmup} ticks; the brain's first predictions compile kernels)")
            await ours.ticks(warmup, measured=False)
            await base.ticks(warmup, measured=False)
            for number in range(blocks):
                progress(f"tick: block {number + 1}/{blocks}, {block} ticks each side")
                await base.ticks(block, measured=True)
                await ours.ticks(block, measured=True)
            ours_kernel.request_stop()
            base_kernel.request_stop()
        return ours, base, loaded
    finally:
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)


def tables(ours: Run, base: Run, loaded: list[str]) -> list[Table]:
    """The summary and the per-plugin breakdown."""
    mean, base_mean = sum(ours.ms) / len(ours.ms), sum(base.ms) / len(base.ms)
    acting = ours.per_tick_ms(k for k in ours.hooks if k[1] == "colony_act")
    cognition = ours.pipeline_ms(COGNITION)
    summary = Table(
        "Heartbeat tick at T0: soul + tools + the ten cognitive plugins vs a kernel with only pulse (ms per tick)",
        {"case": "case", "mean": "mean ms", "p50": "p50", "p90": "p90", "p99": "p99", "hooks": "in hooks ms", "share": "hook share",
         "steps": "steps/tick", "ratio": "ratio"},
        [
            {"case": "pulse only (baseline)", "mean": base_mean, **percentiles(base.ms), "hooks": base.pipeline_ms(),
             "share": base.pipeline_ms() / base_mean, "steps": base.steps / len(base.ms), "ratio": 1.0},
            {"case": "all loaded", "mean": mean, **percentiles(ours.ms), "hooks": ours.pipeline_ms(),
             "share": ours.pipeline_ms() / mean, "steps": ours.steps / len(ours.ms), "ratio": ratio(mean, base_mean)},
            {"case": "all loaded, less tool execution", "mean": mean - acting, "hooks": ours.pipeline_ms() - acting,
             "share": (ours.pipeline_ms() - acting) / (mean - acting), "ratio": ratio(mean - acting, base_mean)},
            {"case": "the ten cognitive plugins alone", "mean": cognition, "hooks": cognition, "share": cognition / mean,
             "ratio": ratio(cognition, base_mean)},
        ],
    )
    summary.notes = [
        f"Target: under {TARGET_MS:g} ms per tick at T0 with all nine systems. 'hook share' = time inside the pipeline's hook "
        "implementations (the dispatcher's per-hook figures) / tick time; the rest is the kernel: dispatch, budgets, the tick record.",
        f"'less tool execution' takes away every colony_act ({acting:.2f} ms/tick): the soul runs the tools inside its "
        "colony_act, with real file I/O, and search_code starts a sandboxed process.",
        "ratio = our ms per tick / the baseline's. Blocks of ticks alternate between the two kernels in one trio run.",
        f"Loaded: {', '.join(loaded)}.",
    ]
    rows = []
    for plugin in loaded:
        hooks = {hook: 1000 * seconds / len(ours.ms) for (owner, hook), seconds in ours.hooks.items()
                 if owner == plugin and hook not in LIFECYCLE}
        total = sum(ms for hook, ms in hooks.items() if hook in PIPELINE)
        top = sorted(hooks.items(), key=lambda item: -item[1])[:3]
        rows.append({"plugin": plugin, "ms": total, "share": total / mean,
                     "top": ", ".join(f"{hook.removeprefix('colony_')} {ms:.3f}" for hook, ms in top)})
    rows.sort(key=lambda row: -row["ms"])
    breakdown = Table("Where the tick goes: ms per tick in each plugin's pipeline hooks", {"plugin": "plugin", "ms": "ms/tick",
                      "share": "share of tick", "top": "largest hooks (ms/tick; propose and cognitive run inside plan/appraise)"}, rows)
    return [summary, breakdown]


def main() -> None:
    """Run the benchmark and print its tables."""

    def extra(parser: Any) -> None:
        parser.add_argument("--blocks", type=int, default=4, help="turns each kernel takes (default 4)")
        parser.add_argument("--block", type=int, default=40, help="ticks per turn (default 40)")
        parser.add_argument("--warmup", type=int, default=200, help="unmeasured ticks first, to fill the systems' buffers (default 200)")
        parser.add_argument("--dir", default=None, help="folder for the two node homes (default: the system temp folder); "
                            "a tmpfs such as /dev/shm takes the disk's fsync out of the figures")

    args = parse_args(__doc__, extra)
    ours, base, loaded = trio.run(measure, args.blocks, args.block, args.warmup, args.dir)
    report("bench_tick", tables(ours, base, loaded), args.json)


if __name__ == "__main__":
    main()
