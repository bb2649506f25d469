"""genesis: a gene pool of plan templates learned from successful plans, evolved by crossover, mutation and selection."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, Step, Tick
from colony.plugins.cognition.rules.genesis import (
    GenePool,
    PlanTemplate,
    enforce_diversity,
    evolve,
    export,
    is_substantive,
    merge,
    record_failure,
    record_success,
    record_template_success,
    suggest_templates,
)
from colony.plugins.cognition.rules.synthesis import genesis_vote
from colony.plugins.cognition.system import NOT_RUNNING, System, due, goal, learning_steps, panel, rng, rounded, stop, vote_dict

PLUGIN = Manifest(
    name="genesis",
    version="1.0.0",
    description="Learns plan templates from successful plans, evolves them, proposes the best match for a goal, "
    "votes in synthesis, and shares them with peers.",
    config={
        "evolve_every": Option(20, "Without colony_state's oscillators, evolve every this many ticks (0: never)."),
        "propose_min_match": Option(0.35, "Match score (0.7·keyword Jaccard + 0.3·fitness) a template needs to be proposed for a goal."),
    },
)
MAX_PARAMS_CHARS = 2000  # larger step parameters are not remembered for proposals
MAX_PROPOSED = 50
EVOLVE_OPS = ("genesis_evolution",)

_state: dict[str, Any] = {}  # "system": System[Genesis]; "best": (tick number, best template and score) cache


@dataclass
class Episode:
    """A plan being executed: its steps, how many ran ok, and the template it came from."""

    plan: str
    goal: str
    steps: list[str]
    done: int = 0
    template: int | None = None


@dataclass
class Genesis:
    """The gene pool, the last parameters that worked per action, the plan in progress, our proposals by goal."""

    pool: GenePool = field(default_factory=GenePool)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    episode: Episode | None = None
    proposed: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        episode = None if self.episode is None else vars(self.episode)
        return {"pool": self.pool.to_dict(), "params": self.params, "episode": episode, "proposed": self.proposed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genesis:
        episode = data.get("episode")
        return cls(
            GenePool.from_dict(data["pool"]),
            {str(a): dict(p) for a, p in data.get("params", {}).items()},
            None if episode is None else Episode(str(episode["plan"]), str(episode["goal"]), [str(s) for s in episode["steps"]],
                                                 int(episode["done"]), None if episode["template"] is None else int(episode["template"])),
            {str(g): int(t) for g, t in data.get("proposed", {}).items()},
        )


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("genesis.state", genesis_state)
    registrar.panel("genesis", genesis_panel, title="Genesis")


async def colony_start(ctx: PluginContext) -> None:
    _state["system"] = System.load(ctx, Genesis.from_dict, Genesis)


async def colony_stop(ctx: PluginContext) -> None:
    await stop(_state)


async def colony_health(ctx: PluginContext) -> bool | str:
    return True if "system" in _state else "not running"


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    system: System[Genesis] | None = _state.get("system")
    return None if system is None else summary(system.state.pool)


def colony_recall(tick: Tick) -> dict[str, Any] | None:
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return None
    pool, text = system.state.pool, goal_text(tick)
    if text:
        ranked = suggest_templates(pool, text)
    else:
        ranked = [(t, 0.0) for t in sorted(pool.templates, key=lambda t: t.fitness, reverse=True)[:3]]
    return rounded({"templates": [{"id": t.id, "steps": list(t.step_types), "fitness": t.fitness, "match": score} for t, score in ranked]})


def colony_appraise(tick: Tick, step: Step) -> dict[str, Any] | None:
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return None
    best = best_template(system, tick)
    if best is None:
        return vote_dict(genesis_vote(step.action, None, 0.0, 0.0))
    template, score = best
    return {**vote_dict(genesis_vote(step.action, template.step_types, template.fitness, score)), "template": template.id}


def colony_propose(tick: Tick, goal: dict[str, Any]) -> dict[str, Any] | None:
    system: System[Genesis] | None = _state.get("system")
    text = goal.get("text") if isinstance(goal, dict) else None
    if system is None or not isinstance(text, str):
        return None
    state = system.state
    found = suggest_templates(state.pool, text, top_n=1)
    if not found or found[0][1] < system.ctx.config["propose_min_match"] or not found[0][0].substantive:
        return None
    template, score = found[0]
    if isinstance(goal.get("id"), str):
        state.proposed = dict(list({**state.proposed, goal["id"]: template.id}.items())[-MAX_PROPOSED:])
        system.dirty = True
    steps = [{"action": action, "params": state.params.get(action, {})} for action in template.step_types]
    why = f"genesis template #{template.id} ({template.successes}/{template.uses} successes): {template.goal_summary[:60]}"
    return {"steps": steps, "confidence": round(min(score, 1.0), 4), "template": template.id, "why": why}


async def colony_reflect(tick: Tick, outcome: Any) -> None:
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return
    now, state = tick.started, system.state
    steps = learning_steps(tick)
    for step in steps:
        remember_params(state, step)
    learned = follow_plan(system, tick, steps, now)
    if due(tick, EVOLVE_OPS, system.ctx.config["evolve_every"]):
        evolve(state.pool, now, rng("genesis", tick))
        enforce_diversity(state.pool)
        learned = True
    if steps or learned or system.dirty:
        await system.save()


def follow_plan(system: System[Genesis], tick: Tick, steps: list[Step], now: float) -> bool:
    """Advance the plan in progress with this tick's outcomes; a finished plan becomes (or boosts) a template."""
    state, current = system.state, goal(tick)
    plan = current.get("plan") if current else None
    if not (isinstance(plan, dict) and isinstance(plan.get("id"), str) and isinstance(plan.get("steps"), list)):
        # No soul plan: the tick's own steps, all ok, are a successful plan for its planner.
        if steps and len(steps) == len(tick.steps) and all(s.status == "ok" for s in steps):
            finish(system, Episode(f"tick:{tick.number}", tick.planner, [s.action for s in steps]), now)
            return True
        return False
    assert current is not None
    episode = state.episode
    if episode is None or episode.plan != plan["id"]:
        actions = [str(s.get("action")) for s in plan["steps"] if isinstance(s, dict)]
        episode = Episode(plan["id"], str(current.get("text", "")), actions, template=state.proposed.get(str(current.get("id"))))
    state.episode = episode
    if any(s.status == "failed" for s in steps):
        if episode.template is not None:
            record_failure(state.pool, episode.template, now)
        state.episode = None
        return True
    episode.done += len(steps)
    if episode.steps and episode.done >= len(episode.steps):
        finish(system, episode, now)
        state.episode = None
    return bool(steps)


def finish(system: System[Genesis], episode: Episode, now: float) -> None:
    """A plan succeeded: credit the template it came from, or learn it as a template."""
    pool = system.state.pool
    source = next((t for t in pool.templates if t.id == episode.template), None)
    if source is not None and source.step_types == episode.steps:
        record_template_success(pool, source.id, now)
    else:
        record_success(pool, episode.goal, episode.steps, system.ctx.node_id, is_substantive(episode.steps), now)


def remember_params(state: Genesis, step: Step) -> None:
    """Keep the parameters of a step that worked, so proposals of its action can reuse them."""
    if step.status == "ok" and len(json.dumps(step.params, default=str)) <= MAX_PARAMS_CHARS:
        state.params[step.action] = json.loads(json.dumps(step.params, default=str))


def goal_text(tick: Tick) -> str:
    """The soul's goal text this tick, or the planner's name."""
    text = (goal(tick) or {}).get("text")
    return text if isinstance(text, str) else tick.planner


def best_template(system: System[Genesis], tick: Tick) -> tuple[PlanTemplate, float] | None:
    """The template that best matches this tick's goal (worked out once per tick)."""
    cached = _state.get("best")
    if cached is None or cached[0] != tick.number:
        found = suggest_templates(system.state.pool, goal_text(tick), top_n=1)
        cached = _state["best"] = (tick.number, found[0] if found else None)
    best: tuple[PlanTemplate, float] | None = cached[1]
    return best


def colony_export_state(peer: str) -> dict[str, Any] | None:
    system: System[Genesis] | None = _state.get("system")
    return None if system is None else export(system.state.pool, system.ctx.node_id)


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return
    if not isinstance(state, dict):
        system.ctx.log.warning("merge from %s ignored: a gene pool snapshot is an object", peer)
        return
    system.merge(peer, state, rate, merge_pool)


def merge_pool(ours: Genesis, theirs: dict[str, Any], rate: float) -> None:
    """Import a peer's templates into our pool (in place)."""
    merge(ours.pool, theirs, rate)


def summary(pool: GenePool) -> dict[str, Any]:
    """The gene pool's observation: size, mean fitness, generation and how it evolved."""
    fitness = [t.fitness for t in pool.templates]
    return rounded({
        "templates": len(pool.templates),
        "mean_fitness": sum(fitness) / len(fitness) if fitness else 0.0,
        "generation": pool.generation,
        "created": pool.total_created,
        "crossovers": pool.total_crossovers,
        "mutations": pool.total_mutations,
    })


def colony_metrics() -> dict[str, float]:
    system: System[Genesis] | None = _state.get("system")
    return {} if system is None else summary(system.state.pool)


def genesis_state() -> dict[str, Any]:
    """The gene pool's observation and its fittest templates."""
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return {}
    top = sorted(system.state.pool.templates, key=lambda t: t.fitness, reverse=True)[:20]
    return rounded({**summary(system.state.pool), "top": [
        {"id": t.id, "steps": t.step_types, "fitness": t.fitness, "uses": t.uses, "successes": t.successes,
         "generation": t.generation, "goal": t.goal_summary} for t in top]})


def genesis_panel() -> dict[str, Any]:
    """The genesis panel: pool gauges and the fittest templates."""
    system: System[Genesis] | None = _state.get("system")
    if system is None:
        return NOT_RUNNING
    top = sorted(system.state.pool.templates, key=lambda t: t.fitness, reverse=True)[:10]
    rows = [[t.id, " → ".join(t.step_types), t.fitness, f"{t.successes}/{t.uses}", t.generation] for t in top]
    return panel(summary(system.state.pool), table=(["id", "steps", "fitness", "successes", "generation"], rows))

