"""pulse: the built-in heartbeat probe; it runs every pipeline stage and reports tick metrics."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Step, Tick

PLUGIN = Manifest(
    name="pulse",
    version="1.0.0",
    description="Proves the heartbeat end to end: one 'pulse.beat' step per tick, and tick metrics.",
    config={"window": Option(60, "How many recent ticks the rate and latency gauges cover.")},
)

ACTION = "pulse.beat"


class Pulse:
    """The plugin's live state; the counters that matter also live in the store."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.beats: int = ctx.store.get("beats", 0)
        self.recent: deque[tuple[float, float]] = deque(maxlen=max(2, ctx.config["window"]))

    def rate(self) -> float:
        """Ticks per second over the window."""
        if len(self.recent) < 2:
            return 0.0
        span = self.recent[-1][0] - self.recent[0][0]
        return (len(self.recent) - 1) / span if span > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        """Gauges for `node.metrics` and the TUI."""
        durations = [ms for _, ms in self.recent]
        return {
            "beats": self.beats,
            "tick_rate_hz": round(self.rate(), 4),
            "tick_ms_mean": round(sum(durations) / len(durations), 3) if durations else 0.0,
            "tick_ms_max": round(max(durations), 3) if durations else 0.0,
        }


_state: dict[str, Pulse] = {}  # the running instance, set by colony_start


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("pulse.stats", pulse_stats)
    registrar.panel("pulse", pulse_panel, title="Heartbeat")


async def colony_start(ctx: PluginContext) -> None:
    _state["pulse"] = Pulse(ctx)


async def colony_stop(ctx: PluginContext) -> None:
    _state.pop("pulse", None)


async def colony_health(ctx: PluginContext) -> bool:
    return "pulse" in _state


def colony_observe(tick: Tick) -> dict[str, Any]:
    return {"tick": tick.number, "at": tick.started}


def colony_gate(tick: Tick) -> Any:
    return None  # no opinion: the tick proceeds


def colony_plan(tick: Tick) -> list[Step]:
    return [Step(ACTION, {"tick": tick.number})]


def colony_act(tick: Tick, step: Step) -> dict[str, Any] | None:
    if step.action != ACTION:
        return None
    return {"beat": step.params["tick"], "wall": time.time()}


def colony_verify(tick: Tick, step: Step, result: dict[str, Any]) -> bool | None:
    if step.action != ACTION:
        return None
    return result.get("pulse", {}).get("beat") == tick.number


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    pulse = _state.get("pulse")
    if pulse is None:
        return
    pulse.beats += 1
    pulse.recent.append((tick.started, sum(tick.stages_ms.values())))
    await pulse.ctx.store.put("beats", pulse.beats)


def colony_metrics() -> dict[str, float]:
    pulse = _state.get("pulse")
    return pulse.metrics() if pulse else {}


def pulse_panel() -> dict[str, Any]:
    """The heartbeat panel: gauges, and tick latency over the window as a series."""
    pulse = _state.get("pulse")
    if pulse is None:
        return {"text": "not running"}
    return {"gauges": pulse.metrics(), "series": {"tick_ms": [round(ms, 3) for _, ms in pulse.recent]}}


def pulse_stats() -> dict[str, Any]:
    """Beats so far, tick rate and latency over the window."""
    pulse = _state.get("pulse")
    return pulse.metrics() if pulse else {}
