"""synthesis: metacognition over every system's vote on a step, with trust that adapts to who calls outcomes right."""

from __future__ import annotations

from collections import deque
from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, Step, Tick, hookimpl
from colony.plugins.cognition.rules.numbers import clamp
from colony.plugins.cognition.rules.synthesis import SynthesisState, adapt_to_brier, assess, imagine, record_outcome
from colony.plugins.cognition.system import NOT_RUNNING, System, learning_steps, numbers, observation, panel, rounded, stop, votes

PLUGIN = Manifest(
    name="synthesis",
    version="1.0.0",
    description="Combines every cognitive system's vote on a step with adaptive trust, vetoes on a strongly "
    "negative consensus, and imagines LLM-free plans.",
    config={
        "veto_below": Option(-0.5, "Veto a step when the trust-weighted consensus is below this ..."),
        "veto_voters": Option(2, "... and at least this many confident votes (confidence > 0.1) make it."),
    },
)
RECENT = 48  # coherence values kept for the panel's series

_state: dict[str, Any] = {}  # "system": System[SynthesisState]; "coherence": deque; "imagined": [plan dicts]; "mode"


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("synthesis.state", synthesis_state)
    registrar.panel("synthesis", synthesis_panel, title="Synthesis")


async def colony_start(ctx: PluginContext) -> None:
    _state.update(system=System.load(ctx, SynthesisState.from_dict, SynthesisState), coherence=deque(maxlen=RECENT),
                  imagined=[], mode="exploring")


async def colony_stop(ctx: PluginContext) -> None:
    await stop(_state)


async def colony_health(ctx: PluginContext) -> bool | str:
    return True if "system" in _state else "not running"


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    system: System[SynthesisState] | None = _state.get("system")
    return None if system is None else summary(system.state)


def colony_recall(tick: Tick) -> dict[str, Any] | None:
    if "system" not in _state:
        return None
    return {"imagined": _state["imagined"], "mode": _state["mode"]}


@hookimpl(trylast=True)
def colony_appraise(tick: Tick, step: Step) -> Any:
    system: System[SynthesisState] | None = _state.get("system")
    if system is None:
        return None
    found = [v for name, v in votes(step.appraisals).items() if name != PLUGIN.name]
    if not found:
        return None
    state, config = system.state, system.ctx.config
    seen = assess(state, found)
    _state["coherence"].append(seen.coherence)
    _state["mode"] = str(seen.mode)
    trust = sum(state.weight(v.system) for v in found)
    confidence = sum(v.confidence * state.weight(v.system) for v in found) / trust if trust > 0 else 0.0
    confident = sum(1 for v in found if v.confident)
    if seen.consensus < config["veto_below"] and confident >= config["veto_voters"]:
        system.ctx.log.info("synthesis vetoes %s: consensus %.2f from %d confident votes", step.action, seen.consensus, confident)
        return False
    return rounded({"vote": clamp(seen.consensus, -1.0, 1.0), "confidence": clamp(confidence, 0.0, 1.0),
                    "coherence": seen.coherence, "mode": str(seen.mode), "voters": len(found)})


async def colony_reflect(tick: Tick, outcome: Any) -> None:
    system: System[SynthesisState] | None = _state.get("system")
    if system is None:
        return
    state = system.state
    for step in learning_steps(tick):
        found = [v for name, v in votes(step.appraisals).items() if name != PLUGIN.name]
        if found:
            state = record_outcome(state, found, step.status == "ok")
    brier = observation(tick, "evaluation").get("brier")
    if isinstance(brier, dict):
        state = adapt_to_brier(state, {k: v for k, v in numbers(brier).items() if k in state.weights})
    _state["imagined"] = imagined(tick)
    if state != system.state:
        system.state = state
        await system.save()


def imagined(tick: Tick) -> list[dict[str, Any]]:
    """Plans imagined from this tick's memories: the cortex's causal edges and curiosity, genesis' templates."""
    cortex, genesis = tick.memories.get("cortex"), tick.memories.get("genesis")
    edges = cortex.get("edges", []) if isinstance(cortex, dict) else []
    curiosity = cortex.get("curiosity", {}) if isinstance(cortex, dict) else {}
    templates = genesis.get("templates", []) if isinstance(genesis, dict) else []
    try:
        plans = imagine(edges, [{"step_types": t["steps"], "fitness": t["fitness"]} for t in templates], curiosity)
    except (KeyError, TypeError, ValueError):  # memories another plugin shaped differently: imagine nothing
        return []
    return [rounded(plan.to_dict()) for plan in plans]


def summary(state: SynthesisState) -> dict[str, Any]:
    """Synthesis' observation: trust per system, recent coherence, conflicts and outcomes scored."""
    recent = _state.get("coherence") or [1.0]
    return rounded({
        "weights": dict(state.weights),
        "coherence": sum(recent) / len(recent),
        "conflicts": state.conflict_count,
        "predictions": state.observations,
        "mode": _state.get("mode", "exploring"),
        "imagined": len(_state.get("imagined", [])),
    })


def colony_metrics() -> dict[str, float]:
    system: System[SynthesisState] | None = _state.get("system")
    if system is None:
        return {}
    seen = summary(system.state)
    return {"coherence": seen["coherence"], "conflicts": seen["conflicts"], "predictions": seen["predictions"],
            **{f"weight.{name}": w for name, w in seen["weights"].items()}}


def synthesis_state() -> dict[str, Any]:
    """Synthesis' observation, each system's track record, and the plans it imagined last tick."""
    system: System[SynthesisState] | None = _state.get("system")
    if system is None:
        return {}
    records = {name: {"total": r.total, "correct": r.correct, "recent_accuracy": r.recent_accuracy}
               for name, r in system.state.records.items()}
    return rounded({**summary(system.state), "records": records, "imagined_plans": _state["imagined"]})


def synthesis_panel() -> dict[str, Any]:
    """The synthesis panel: coherence and conflicts, coherence over time, trust per system."""
    system: System[SynthesisState] | None = _state.get("system")
    if system is None:
        return NOT_RUNNING
    state = system.state
    seen = summary(state)
    rows = [[name, w, state.records[name].recent_accuracy if name in state.records else "-"] for name, w in sorted(state.weights.items())]
    return panel({k: v for k, v in seen.items() if k != "weights"}, series={"coherence": list(_state["coherence"])},
                 table=(["system", "weight", "recent accuracy"], rows))
