"""soul: drives the heartbeat: goals, plans of typed tool steps, the inference tier, circuit breakers, and the operator's chat."""

from __future__ import annotations

import os
from typing import Any

import trio

from colony.core import ConfigError, Manifest, Option, Outcome, PluginContext, Registrar, RPCError, Step, Tick, hookimpl
from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED

from . import chat
from .gate import TIERS
from .llm import DEFAULT_MODELS, LLM
from .loop import Soul, public

PLUGIN = Manifest(
    name="soul",
    version="1.0.0",
    description="Drives the heartbeat: goals, plans of typed tool steps, inference tiers, circuit breakers, and the operator's chat.",
    config={
        "api_key": Option("", "Gemini API key; empty reads GEMINI_API_KEY. Without either the soul thinks at T0, without an LLM.", secret=True),
        "gemini_base_url": Option("", "Base URL of the Gemini REST API; empty is Google's (tests point it at FakeGemini)."),
        "model_t1": Option(DEFAULT_MODELS["T1"], "The fast model answering at tier T1."),
        "model_t2": Option(DEFAULT_MODELS["T2"], "The thinking model answering at tier T2."),
        "max_tier": Option("T2", "Highest tier the soul may use: T0 never calls the LLM, T1 never the thinking model."),
        "llm_timeout": Option(20.0, "Seconds one Gemini request may take."),
        "think_timeout": Option(25.0, "Seconds the LLM work of one tick may take; keep it under heartbeat.tick_timeout."),
        "chat_timeout": Option(50.0, "Seconds the LLM may take to answer one soul.chat message."),
        "plan_calls": Option(10, "Tool calls the LLM may make while planning (the seed's Observe budget)."),
        "chat_calls": Option(15, "Tool calls the LLM may make while answering a chat message (the seed's Chat budget)."),
        "reserve_tokens": Option(8000, "Think at T0 when fewer LLM tokens than this are left today or this tick; T2 needs four times as many."),
        "reserve_micro_usd": Option(1000, "Think at T0 when less LLM money than this (millionths of a dollar) is left; T2 needs four times as much."),
        "hard_regimes": Option(["anomaly", "explore"], "Free-energy regimes in which the soul thinks at T2 when budget allows."),
        "think_every": Option(1, "Ticks from one thought to the next while steps run without the LLM."),
        "think_every_llm": Option(4, "Ticks from a thought that called the LLM to the next (the seed sleeps 120 s after an LLM step, 15 s after others)."),
        "think_every_idle": Option(10, "Ticks from a thought that found nothing to do to the next."),
        "steps_per_tick": Option(10, "Most plan steps handed to the heartbeat in one tick (the seed batches up to 10)."),
        "tool_timeout": Option(20.0, "Seconds one tool call may take before it fails."),
        "breaker_failures": Option(5, "Failed cycles in a row that open the circuit breaker and fail the active plan (the seed: 5)."),
        "breaker_cooldown": Option(30.0, "Seconds the open breaker rests the soul (the seed waits 30 s)."),
        "stagnation": Option(50, "Thinking cycles without a finished goal after which every goal is abandoned (the seed: 50)."),
        "replan_limit": Option(3, "Replans a plan gets before it fails (the seed: 3)."),
        "goal_retries": Option(2, "Failed plans after which a goal fails (the seed: 2)."),
        "approve_plans": Option(False, "New plans wait for soul.approve or soul.reject before they run."),
        "approval_timeout": Option(1800.0, "Seconds after which a waiting plan is approved anyway (the seed: 30 min); 0 waits forever."),
        "autonomous": Option(True, "Set goals itself when it has none: from the LLM at T1+, from the built-in agenda at T0."),
        "agenda_every": Option(600.0, "Seconds before the same agenda goal may be set again."),
        "health_url": Option("http://127.0.0.1:4023/health", "URL the agenda's 'keep an endpoint healthy' goal calls; empty drops that goal."),
        "propose_confidence": Option(0.6, "At T1+, a colony_propose plan at least this confident is used instead of asking the LLM."),
        "max_goals": Option(20, "Most active goals; soul.nudge refuses more."),
        "keep_goals": Option(200, "Finished goals kept for soul.goals(all=true)."),
    },
)

MAX_NUDGE = 2000  # characters of a nudge
MAX_MESSAGE = 8000  # characters of a chat message
POSITIVE = (
    "plan_calls", "chat_calls", "think_every", "think_every_llm", "think_every_idle", "steps_per_tick",
    "breaker_failures", "goal_retries", "max_goals", "keep_goals", "stagnation",
)  # options that must be at least 1

_state: dict[str, Soul] = {}  # the running soul, set by colony_start


def check_config(config: dict[str, Any]) -> None:
    """Refuse settings the soul cannot run with."""
    if config["max_tier"] not in TIERS:
        raise ConfigError(f"plugin.soul.max_tier must be one of {', '.join(TIERS)}, not {config['max_tier']!r}")
    for key in POSITIVE:
        if config[key] < 1:
            raise ConfigError(f"plugin.soul.{key} must be at least 1")
    if config["replan_limit"] < 0:
        raise ConfigError("plugin.soul.replan_limit must not be negative")
    if not all(isinstance(regime, str) for regime in config["hard_regimes"]):
        raise ConfigError("plugin.soul.hard_regimes lists regime names")


async def make_llm(ctx: PluginContext) -> LLM | None:
    """The Gemini client when there is a key, else None (the soul thinks at T0)."""
    key = str(ctx.config["api_key"]).strip() or os.environ.get("GEMINI_API_KEY", "").strip()
    if not key:
        return None
    models = {"T1": ctx.config["model_t1"], "T2": ctx.config["model_t2"]}
    base_url, timeout = ctx.config["gemini_base_url"] or None, ctx.config["llm_timeout"]
    try:  # in a worker: google.genai's first import is slow, and its client loads the CA certificates
        return await trio.to_thread.run_sync(lambda: LLM(key, models, base_url=base_url, timeout=timeout))
    except Exception as exc:
        ctx.log.warning("no LLM, thinking at T0: %s: %s", type(exc).__name__, str(exc).replace(key, "***"))
        return None


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("soul.status", soul_status)
    registrar.rpc("soul.chat", soul_chat, destructive=True)
    registrar.rpc("soul.nudge", soul_nudge, destructive=True)
    registrar.rpc("soul.goals", soul_goals)
    registrar.rpc("soul.abandon", soul_abandon, destructive=True)
    registrar.rpc("soul.plans", soul_plans)
    registrar.rpc("soul.approve", soul_approve, destructive=True)
    registrar.rpc("soul.reject", soul_reject, destructive=True)
    registrar.panel("soul", soul_panel, title="Soul")


async def colony_start(ctx: PluginContext) -> None:
    check_config(ctx.config)
    _state["soul"] = Soul(ctx, await make_llm(ctx))


async def colony_stop(ctx: PluginContext) -> None:
    soul = _state.pop("soul", None)
    if soul is not None:
        await soul.save()
        if soul.llm is not None:
            soul.llm.close()


async def colony_health(ctx: PluginContext) -> bool:
    return "soul" in _state


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    soul = _state.get("soul")
    return soul.observe(tick) if soul else None


@hookimpl(tryfirst=True)
def colony_gate(tick: Tick) -> dict[str, Any] | bool | None:
    soul = _state.get("soul")
    return soul.decide(tick) if soul else None


@hookimpl(tryfirst=True)
async def colony_plan(tick: Tick) -> list[dict[str, Any]] | None:
    soul = _state.get("soul")
    return await soul.plan(tick) if soul else None


async def colony_act(tick: Tick, step: Step) -> dict[str, Any] | None:
    soul = _state.get("soul")
    return await soul.act(tick, step) if soul else None


def colony_verify(tick: Tick, step: Step, result: dict[str, Any]) -> bool | None:
    mine = result.get(PLUGIN.name)
    return False if isinstance(mine, dict) and mine.get("ok") is False else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    soul = _state.get("soul")
    if soul is not None:
        await soul.reflect(tick)


def colony_metrics() -> dict[str, float]:
    soul = _state.get("soul")
    if soul is None:
        return {}
    return {
        **{name: value for name, value in soul.counters.items() if name != "cycles"},
        "goals_active": len(soul.goals.active()),
        "tier": TIERS.index(soul.tier),
        "breaker_open": int(soul.breaker.is_open(soul.now())),
    }


# -- RPC ------------------------------------------------------------------------------


def _soul() -> Soul:
    soul = _state.get("soul")
    if soul is None:
        raise RPCError(OPERATION_FAILED, "the soul plugin is not running")
    return soul


def _text(value: str, name: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name!r} is empty")
    if len(text) > limit:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name!r} is longer than {limit} characters")
    return text


def _goal(soul: Soul, goal_id: str) -> dict[str, Any]:
    goal = soul.goals.get(goal_id)
    if goal is None:
        raise RPCError(INVALID_PARAMS, f"no goal {goal_id[:40]!r}")
    return goal


def _plan(soul: Soul, plan_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    found = soul.goals.plan(plan_id)
    if found is None or found[1]["status"] != "active":
        raise RPCError(INVALID_PARAMS, f"no active plan {plan_id[:40]!r}")
    return found


async def soul_status() -> dict[str, Any]:
    """The tier, the current goal and plan, recent lessons, budgets, the breaker and the last 20 chat messages."""
    soul = _soul()
    goal = soul.goals.top()
    return {
        "tier": soul.tier,
        "reason": soul.reason,
        "llm": soul.llm is not None,
        "goal": public(goal) if goal else None,
        "plan": goal["plan"] if goal else None,
        "lessons": soul.recent_lessons(10),
        "budgets": soul.ctx.budgets.snapshot(),
        "breaker": {"open": soul.breaker.is_open(soul.now()), "reason": soul.breaker.reason},
        "chat": chat.history(soul)[-20:],
    }


async def soul_chat(message: str) -> dict[str, Any]:
    """Talk to the soul: at T0 it answers from its state, at T1 through the LLM, which may call tools."""
    return await chat.answer(_soul(), _text(message, "message", MAX_MESSAGE))


async def soul_nudge(text: str, priority: int = 5) -> dict[str, Any]:
    """Give the soul a goal (`priority` 1-10, higher first); it is worked on before the soul's own goals."""
    soul = _soul()
    text = _text(text, "text", MAX_NUDGE)
    if not 1 <= priority <= 10:
        raise RPCError(INVALID_PARAMS, "invalid params: 'priority' must be from 1 to 10")
    active = soul.goals.active()
    same = next((g for g in active if g["text"] == text), None)
    if same is not None:
        same["priority"] = max(same["priority"], priority)
        soul.goals.touch(same)
        goal = same
    elif len(active) >= soul.config["max_goals"]:
        raise RPCError(OPERATION_FAILED, f"the soul has {len(active)} active goals, the most allowed; abandon one first")
    else:
        goal = soul.goals.add(text, priority, "nudge", soul.now())
        soul.publish("goal", id=goal["id"], text=text, status="active", source="nudge", reason="")
    soul.next_think = 0  # think about it on the next tick
    await soul.save()
    return public(goal)


async def soul_goals(all: bool = False) -> list[dict[str, Any]]:
    """Active goals in work order; with `all`, finished ones follow, newest first."""
    soul = _soul()
    goals = soul.goals.active() + (soul.goals.finished() if all else [])
    return [public(goal) for goal in goals]


async def soul_abandon(goal_id: str) -> dict[str, Any]:
    """Abandon an active goal and its plan."""
    soul = _soul()
    goal = _goal(soul, goal_id)
    if goal["status"] != "active":
        raise RPCError(INVALID_PARAMS, f"goal {goal_id} is already {goal['status']}")
    soul.finish(goal, "abandoned", "abandoned by the operator")
    await soul.save()
    return public(goal)


async def soul_plans() -> list[dict[str, Any]]:
    """The current plan of every active goal; plans awaiting approval have `approved` false."""
    return _soul().goals.plans()


async def soul_approve(plan_id: str) -> dict[str, Any]:
    """Approve a waiting plan so that its steps run."""
    soul = _soul()
    goal, plan = _plan(soul, plan_id)
    if not plan["approved"]:
        plan["approved"] = True
        soul.goals.touch(goal)
        soul.publish("plan", goal=goal["id"], plan=plan_id, event="approved", by="operator")
        soul.next_think = 0
        await soul.save()
    return plan


async def soul_reject(plan_id: str) -> dict[str, Any]:
    """Reject a plan: it ends, and the soul plans the goal again (the goal fails after `goal_retries` failed plans)."""
    soul = _soul()
    goal, plan = _plan(soul, plan_id)
    soul.fail_plan(goal, plan, "rejected by the operator", soul.now())
    plan["status"] = "rejected"
    soul.next_think = 0
    await soul.save()
    return plan


def soul_panel() -> dict[str, Any]:
    """The soul panel: goal and tier as text, the plan's steps as a table, counters and today's LLM use as gauges."""
    soul = _state.get("soul")
    if soul is None:
        return {"text": "not running"}
    goal = soul.goals.top()
    plan = goal["plan"] if goal else None
    kinds = soul.ctx.budgets.snapshot()["kinds"]
    lines = [f"tier {soul.tier}: {soul.reason}", f"goal {goal['id']}: {goal['text']}" if goal else "no goal"]
    if soul.breaker.is_open(soul.now()):
        lines.append(f"breaker open: {soul.breaker.reason}")
    for kind in ("tool_calls", "tokens", "llm_micro_usd"):
        use = kinds[kind]
        lines.append(f"{kind}: {use['day_used']} of {use['day_limit'] or 'unlimited'} today")
    panel: dict[str, Any] = {"text": "\n".join(lines), "gauges": colony_metrics()}
    if plan is not None:
        rows = [[index + 1, step["action"], step["status"]] for index, step in enumerate(plan["steps"])]
        panel["table"] = {"columns": ["#", "action", "status"], "rows": rows}
    return panel

