"""cortex: the symbolic world model as a cognitive system: it predicts each step's reward, votes, learns from outcomes and dreams."""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, Step, Tick
from colony.plugins.cognition.rules.cortex import Cortex, dream, export, merge, predict_action, prediction_accuracy, record
from colony.plugins.cognition.rules.synthesis import cortex_vote
from colony.plugins.cognition.system import (
    NOT_RUNNING,
    System,
    due,
    lessons,
    observation,
    panel,
    rng,
    rounded,
    stop,
    vote_dict,
)

PLUGIN = Manifest(
    name="cortex",
    version="1.0.0",
    description="A symbolic world model: predicts each step's reward, votes in synthesis, learns from outcomes, "
    "dreams when its oscillator fires, and shares its models with peers.",
    config={
        "success_reward": Option(1.0, "Reward of a step that succeeded (the seed's +1.0)."),
        "failure_reward": Option(-0.5, "Reward of a step that failed (the seed's −0.5)."),
        "dream_every": Option(10, "Without colony_state's oscillators, dream every this many ticks (0: never)."),
        "recall_edges": Option(20, "Strongest causal edges handed to the tick's memories (synthesis imagines plans from them)."),
    },
)
DREAM_OPS = ("cortex_dreaming", "memory_consolidation")

_state: dict[str, Any] = {}  # "system": System[Cortex]; "now": the last tick's time, for merges


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("cortex.state", cortex_state)
    registrar.panel("cortex", cortex_panel, title="Cortex")


async def colony_start(ctx: PluginContext) -> None:
    _state["system"] = System.load(ctx, Cortex.from_dict, Cortex)


async def colony_stop(ctx: PluginContext) -> None:
    await stop(_state)


async def colony_health(ctx: PluginContext) -> bool | str:
    return True if "system" in _state else "not running"


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    system: System[Cortex] | None = _state.get("system")
    return None if system is None else summary(system.state)


def colony_recall(tick: Tick) -> dict[str, Any] | None:
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return None
    cortex = system.state
    edges = sorted(cortex.edges.values(), key=lambda e: e.weight, reverse=True)[: system.ctx.config["recall_edges"]]
    return rounded({
        "predictions": {action: predict_action(cortex, action, []) for action in sorted(cortex.action_models)},
        "edges": [{"from": e.from_action, "to": e.to_action, "weight": e.weight, "avg_reward": e.avg_reward} for e in edges],
        "curiosity": dict(cortex.curiosity),
    })


def colony_appraise(tick: Tick, step: Step) -> dict[str, Any] | None:
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return None
    model = system.state.action_models.get(step.action)
    samples = model.sample_count if model is not None else 0
    vote = cortex_vote(predict_action(system.state, step.action, tags(tick, step)), samples)
    return vote_dict(vote) if samples else {**vote_dict(vote), "reason": "never seen this action"}


async def colony_reflect(tick: Tick, outcome: Any) -> None:
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return
    config, now = system.ctx.config, tick.started
    _state["now"] = now
    steps = lessons(tick)
    for step, error in steps:
        reward = config["success_reward"] if error is None else config["failure_reward"]
        record(system.state, step.action, tags(tick, step), error is None, reward, now, error)
    if due(tick, DREAM_OPS, config["dream_every"]):
        found = dream(system.state, now, rng("cortex", tick))
        system.ctx.log.debug("dreamt %d insights", len(found))
    elif not steps and not system.dirty:
        return  # nothing learned or merged: nothing to save
    await system.save()


def tags(tick: Tick, step: Step) -> list[str]:
    """The context a step runs in: the file kind it touches and the free-energy regime."""
    found = []
    path = step.params.get("path") or step.params.get("file_path")
    if isinstance(path, str) and PurePosixPath(path).suffix:
        found.append(f"ext:{PurePosixPath(path).suffix[:16]}")
    regime = observation(tick, "free_energy").get("regime")
    if isinstance(regime, str):
        found.append(f"regime:{regime[:16]}")
    return found


def colony_export_state(peer: str) -> dict[str, Any] | None:
    system: System[Cortex] | None = _state.get("system")
    return None if system is None else export(system.state, system.ctx.node_id)


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return
    now = _state.get("now") or time.time()
    system.merge(peer, state, rate, lambda ours, theirs, r: merge(ours, _mapping(theirs), r, now))


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"a cortex snapshot is an object, not {type(value).__name__}")
    return value


def summary(cortex: Cortex) -> dict[str, Any]:
    """The cortex's observation: honest accuracy, curiosity, emotion, experiences."""
    emotion = cortex.emotion
    return rounded({
        "accuracy": prediction_accuracy(cortex),
        "curiosity": cortex.global_curiosity,
        "valence": emotion.valence,
        "arousal": emotion.arousal,
        "drive": emotion.drive,
        "experiences": len(cortex.experiences),
        "predictions": cortex.total_predictions,
        "actions": len(cortex.action_models),
        "edges": len(cortex.edges),
        "insights": len(cortex.insights),
        "dreams": cortex.dream_cycles,
    })


def colony_metrics() -> dict[str, float]:
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return {}
    return {k: v for k, v in summary(system.state).items() if isinstance(v, int | float)}


def cortex_state() -> dict[str, Any]:
    """The cortex's observation, its action models and its latest insights."""
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return {}
    cortex = system.state
    models = {a: {"success_rate": m.success_rate, "avg_reward": m.avg_reward, "samples": m.sample_count}
              for a, m in sorted(cortex.action_models.items())}
    return rounded({**summary(cortex), "models": models, "recent_insights": [i.pattern for i in cortex.insights[-10:]]})


def cortex_panel() -> dict[str, Any]:
    """The cortex panel: accuracy, curiosity and emotion as gauges, each action's model as a table."""
    system: System[Cortex] | None = _state.get("system")
    if system is None:
        return NOT_RUNNING
    cortex = system.state
    rows = [[a, m.sample_count, m.success_rate, m.avg_reward, cortex.curiosity.get(a, 0.5)] for a, m in sorted(cortex.action_models.items())]
    return panel(summary(cortex), table=(["action", "samples", "success", "reward", "curiosity"], rows),
                 text="\n".join(i.pattern for i in cortex.insights[-3:]))
