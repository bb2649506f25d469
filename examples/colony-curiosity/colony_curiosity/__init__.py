"""curiosity: a tenth cognitive system. It favours actions the node has rarely tried, and says so in synthesis."""

from __future__ import annotations

from typing import Any

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Step, Tick

PLUGIN = Manifest(
    name="curiosity",
    version="0.1.0",
    description="Votes for novel actions: an untried one gets +1, fading to 0 as the action is tried.",
    config={"boredom": Option(10, "Tries after which an action is no longer novel at all.")},
)

_state: dict[str, Any] = {}  # "ctx", and "tries": {action: count}, which is also in the store


def colony_register(registrar: Registrar) -> None:
    registrar.panel("curiosity", curiosity_panel, title="Curiosity")


async def colony_start(ctx: PluginContext) -> None:
    _state.update(ctx=ctx, tries=dict(ctx.store.get("tries", {})))  # a restart or a swap carries on


async def colony_stop(ctx: PluginContext) -> None:
    _state.clear()  # every try is already in the store


def novelty(action: str) -> float:
    """1 for an action never tried, falling linearly to 0 after `boredom` tries."""
    return max(0.0, 1.0 - _state["tries"].get(action, 0) / max(1, _state["ctx"].config["boredom"]))


def colony_observe(tick: Tick) -> dict[str, int] | None:
    return {"actions": len(_state["tries"]), "tries": sum(_state["tries"].values())} if _state else None


def colony_appraise(tick: Tick, step: Step) -> dict[str, Any] | None:
    # A dict with a numeric "vote" in [-1, 1] is a vote: synthesis weighs it with everyone else's.
    return {"vote": round(novelty(step.action), 4), "confidence": 0.3, "reason": "novelty"} if _state else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    ran = [step.action for step in tick.steps if step.status in ("ok", "failed")]  # only steps that ran are tries
    if _state and ran:
        for action in ran:
            _state["tries"][action] = _state["tries"].get(action, 0) + 1
        await _state["ctx"].store.put("tries", _state["tries"])  # one write per tick


def curiosity_panel() -> dict[str, Any]:
    """Gauges and the least tried actions, for the TUI."""
    if not _state:
        return {"text": "not running"}
    rows = [[action, n, round(novelty(action), 4)] for action, n in sorted(_state["tries"].items(), key=lambda item: item[1])]
    return {"gauges": colony_observe(Tick(0, 0.0)), "table": {"columns": ["action", "tries", "novelty"], "rows": rows[:20]}}
