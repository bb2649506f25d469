"""brain: the models plugin's brain network as a cognitive system: it votes on each step, gates risky ones once warm, and learns from outcomes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, Step, Tick
from colony.plugins.cognition.rules.brain import (
    BrainRecord,
    Verdict,
    brain_vote,
    encode_step,
    gate,
    record_model,
    record_step,
    step_context,
    step_kind,
)
from colony.plugins.cognition.rules.feedback import ACTION_CAPABILITIES, error_index
from colony.plugins.cognition.rules.numbers import number
from colony.plugins.cognition.system import NOT_RUNNING, System, goal, lessons, observation, panel, stop, vote_dict
from colony.plugins.models.features import CAPABILITIES
from colony.plugins.models.service import ServiceError

PLUGIN = Manifest(
    name="brain",
    version="1.0.0",
    description="Predicts each step's success with the models plugin's brain network, votes in synthesis, "
    "gates risky steps once warm, and trains the network on outcomes.",
    requires=("models",),
    config={
        "warm_steps": Option(5000, "Training steps the network needs before its gate may veto a step (digest §4.6)."),
        "warm_loss": Option(12.0, "Running loss the network must be under before its gate may veto a step."),
        "learn": Option(True, "Add every executed step (ok or failed) to the network's training examples."),
        "example_batch": Option(64, "Examples handed to the models plugin together (at stop too): one check and write per batch, not per tick."),
    },
)

# "system": System[BrainRecord]; "features": {id(step): features} for this tick; "examples": not yet handed to models
_state: dict[str, Any] = {}


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("brain.state", brain_state)
    registrar.panel("brain", brain_panel, title="Brain")


async def colony_start(ctx: PluginContext) -> None:
    _state.update(system=System.load(ctx, BrainRecord.from_dict, BrainRecord), features={}, examples=[])


async def colony_stop(ctx: PluginContext) -> None:
    system: System[BrainRecord] | None = _state.get("system")
    if system is not None and _state["examples"]:
        await hand_over(system, _state["examples"])
        await system.save()
    await stop(_state)


async def colony_health(ctx: PluginContext) -> bool | str:
    return True if "system" in _state else "not running"


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    system: System[BrainRecord] | None = _state.get("system")
    return None if system is None else summary(system)


async def colony_appraise(tick: Tick, step: Step) -> Any:
    system: System[BrainRecord] | None = _state.get("system")
    if system is None:
        return None
    features = encode_step(step_kind(step.action), context(system.state, tick, step))
    _state["features"][id(step)] = features
    models = service(system)
    if models is None:
        return None
    try:
        prediction, by = await models.answer("brain", {"features": features})
        vote = brain_vote(prediction)
        config = system.ctx.config
        decision = gate(system.state.training, step.action, prediction, min_steps=config["warm_steps"], max_loss=config["warm_loss"])
    except (ServiceError, ValueError) as exc:  # no network, or an override answered nonsense
        system.ctx.log.warning("no brain prediction for %s: %s", step.action, exc)
        return None
    system.state = replace(system.state, predictions=system.state.predictions + 1)
    if decision.verdict is Verdict.BLOCK:
        system.ctx.log.info("brain vetoes %s: %s", step.action, decision.reason)
        return False
    return {**vote_dict(vote), "success": round(float(prediction["success"]), 4), "by": by, "gate": str(decision.verdict),
            **({"warning": decision.reason} if decision.reason else {})}


async def colony_reflect(tick: Tick, outcome: Any) -> None:
    system: System[BrainRecord] | None = _state.get("system")
    if system is None:
        return
    pending: dict[int, list[float]] = _state["features"]
    examples: list[dict[str, Any]] = _state["examples"]
    for step, error in lessons(tick):
        succeeded = error is None
        features = pending.get(id(step)) or encode_step(step_kind(step.action), context(system.state, tick, step))
        if system.ctx.config["learn"]:
            examples.append({"features": features, "success": int(succeeded), "error": None if error is None else error_index(error),
                             "capabilities": capabilities(step.action, succeeded)})
        system.state = record_step(system.state, step.action, succeeded)
    pending.clear()
    if len(examples) >= system.ctx.config["example_batch"]:
        await hand_over(system, examples)
    models = service(system)
    network = models.describe("brain") if models is not None and "brain" in models.slots else {"steps": 0, "loss": None}
    system.state = record_model(system.state, int(network["steps"]), network["loss"])
    await system.save()


async def hand_over(system: System[BrainRecord], examples: list[dict[str, Any]]) -> None:
    """Give the collected examples to the models plugin's brain pool, which trains in its own cycles."""
    models = service(system)
    try:
        if models is not None:
            await models.add_examples("brain", examples)
            system.state = replace(system.state, examples=system.state.examples + len(examples))
    except ServiceError as exc:
        system.ctx.log.warning("brain examples refused: %s", exc)
    examples.clear()


def service(system: System[BrainRecord]) -> Any:
    """The models plugin's service, or None (logged) while it is not running."""
    try:
        return system.ctx.service("models")
    except LookupError as exc:
        system.ctx.log.warning("no models service: %s", exc)
        return None


def context(record: BrainRecord, tick: Tick, step: Step) -> dict[str, float]:
    """The raw feature values this node knows for `step`: its place in the tick's plan, the tick, fitness, replans."""
    index = next((i for i, s in enumerate(tick.steps) if s is step), 0)
    plan = (goal(tick) or {}).get("plan")
    replans = plan.get("replans", 0) if isinstance(plan, dict) else 0
    known = {
        "plan_progress": index / len(tick.steps) if tick.steps else 0.0,
        "steps_remaining": max(len(tick.steps) - index - 1, 0),
        "cycles": tick.number,
        "replans": replans if isinstance(replans, int) and not isinstance(replans, bool) else 0,
        "fitness": number(observation(tick, "colony_state").get("fitness")),
    }
    return step_context(record, step.action, **known)


def capabilities(action: str, succeeded: bool) -> list[float | None]:
    """The network's capability targets for a step: its action's capability, nothing for the others."""
    targets: list[float | None] = [None] * len(CAPABILITIES)
    capability = ACTION_CAPABILITIES.get(action)
    if capability in CAPABILITIES:
        targets[CAPABILITIES.index(capability)] = float(succeeded)
    return targets


def summary(system: System[BrainRecord]) -> dict[str, Any]:
    """The brain's observation: whether the gate is live, examples given, predictions made, training."""
    record, config = system.state, system.ctx.config
    return {
        "warm": record.training.warm(config["warm_steps"], config["warm_loss"]),
        "examples": record.examples,
        "predictions": record.predictions,
        "train_steps": record.training.train_steps,
        "running_loss": None if record.training.running_loss is None else round(record.training.running_loss, 4),
        "success_rate": round(record.success_rate, 4),
    }


def colony_metrics() -> dict[str, float]:
    system: System[BrainRecord] | None = _state.get("system")
    if system is None:
        return {}
    seen = summary(system)
    return {"warm": int(seen["warm"]), "examples": seen["examples"], "predictions": seen["predictions"], "train_steps": seen["train_steps"]}


def brain_state() -> dict[str, Any]:
    """The brain's observation and its per-action success counts."""
    system: System[BrainRecord] | None = _state.get("system")
    if system is None:
        return {}
    return {**summary(system), "outcomes": {a: list(o) for a, o in sorted(system.state.outcomes.items())}}


def brain_panel() -> dict[str, Any]:
    """The brain panel: gate, training and counters as gauges, success per action as a table."""
    system: System[BrainRecord] | None = _state.get("system")
    if system is None:
        return NOT_RUNNING
    seen = summary(system)
    rows = [[action, runs, wins / runs] for action, (wins, runs) in sorted(system.state.outcomes.items())]
    return panel({**seen, "warm": "yes" if seen["warm"] else "no", "running_loss": seen["running_loss"] or "-"},
                 table=(["action", "runs", "success"], rows))
