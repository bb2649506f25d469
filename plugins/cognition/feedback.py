"""feedback: plan outcomes, error classes, lessons, the capability profile and durable rules, recalled for the soul's goal (digest §4.5 (8))."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from colony.core import Envelope, Manifest, Option, Outcome, PluginContext, Registrar, Step, Tick

from . import system as cog
from .rules import feedback as rules
from .rules.feedback import Capability, DurableRule, FailureChain, PlanOutcome
from .rules.genesis import extract_keywords, is_substantive

PLUGIN = Manifest(
    name="feedback",
    version="1.0.0",
    description="Learns from finished plans and failed steps: lessons, error classes, capabilities and durable rules.",
    config={
        "max_outcomes": Option(100, "Plan outcomes kept (newest first); lessons come from them."),
        "recall_lessons": Option(5, "Lessons recalled for the soul's goal each tick."),
        "failure_window": Option(50, "Recent steps the failure rate covers."),
    },
)

CONSULTED = 20  # outcomes weighed for a goal, newest first (the seed consulted the last 20)
EXPORT_LESSONS = 20
MAX_PEER_LESSONS = 50
MAX_PEERS = 50
MAX_LESSON = 600
MAX_OPEN = 20  # plans followed at once (the soul works on one; the rest were abandoned unseen)
MAX_GOALS = 50  # goal texts remembered for the plans that name their goal by id
PENDING = "pending"
GOAL_ENDED = {"done": "completed", "failed": "failed", "abandoned": "abandoned"}
PLAN_COUNTS = ("completed", "completed_trivial", "failed", "abandoned")
SOUL_EVENTS = ("soul.goal", "soul.plan", "soul.step")  # how the soul reports its goals, plans and steps

_state: dict[str, Any] = {}


@dataclass
class Tracked:
    """A plan of the soul's being followed through its events: each step's action and status, and why it failed."""

    plan_id: str
    goal_id: str
    goal: str
    actions: list[str]
    statuses: list[str]
    replans: int = 0
    error: str | None = None

    @property
    def done(self) -> int:
        """Steps done before the first one that is not."""
        return next((i for i, status in enumerate(self.statuses) if status != "ok"), len(self.statuses))


@dataclass
class FeedbackState:
    """Everything feedback stores."""

    outcomes: list[PlanOutcome] = field(default_factory=list)  # newest first
    chains: list[FailureChain] = field(default_factory=list)
    rules: list[DurableRule] = field(default_factory=list)
    capabilities: dict[str, Capability] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    recent: list[bool] = field(default_factory=list)  # the latest steps' success, newest last
    plans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLAN_COUNTS, 0))
    open: dict[str, Tracked] = field(default_factory=dict)  # plan id -> the plan as its events told it
    goals: dict[str, str] = field(default_factory=dict)  # goal id -> text
    cycle: int = 0
    peer_lessons: list[str] = field(default_factory=list)  # newest first
    peers: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # peer -> capability -> [attempts, successes]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the store."""
        return {
            # vars(), not to_dict(): asdict() deep-copies, 20x slower, and the store packs the value at once anyway.
            "outcomes": [dict(vars(o)) for o in self.outcomes],
            "chains": [dict(vars(c)) for c in self.chains],
            "rules": [dict(vars(r)) for r in self.rules],
            "capabilities": {name: [c.attempts, c.successes] for name, c in self.capabilities.items()},
            "errors": dict(self.errors),
            "recent": list(self.recent),
            "plans": dict(self.plans),
            "open": {plan_id: vars(plan).copy() for plan_id, plan in self.open.items()},
            "goals": dict(self.goals),
            "cycle": self.cycle,
            "peer_lessons": list(self.peer_lessons),
            "peers": {peer: {k: list(v) for k, v in caps.items()} for peer, caps in self.peers.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackState:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            return cls(
                outcomes=[PlanOutcome.from_dict(dict(o)) for o in data["outcomes"]],
                chains=[FailureChain.from_dict(dict(c)) for c in data["chains"]],
                rules=[DurableRule.from_dict(dict(r)) for r in data["rules"]],
                capabilities={str(k): _capability(v) for k, v in data["capabilities"].items()},
                errors={str(k): int(v) for k, v in data["errors"].items()},
                recent=[bool(x) for x in data["recent"]],
                plans={name: int(data["plans"].get(name, 0)) for name in PLAN_COUNTS},
                open={str(k): _tracked(v) for k, v in data["open"].items()},
                goals={str(k): str(v) for k, v in data["goals"].items()},
                cycle=int(data["cycle"]),
                peer_lessons=[str(x) for x in data["peer_lessons"]],
                peers={str(p): {str(k): [int(a), int(s)] for k, (a, s) in caps.items()} for p, caps in data["peers"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed feedback state: {exc!r}") from exc


def _tracked(data: Mapping[str, Any]) -> Tracked:
    """A stored followed plan; malformed data raises."""
    error = data["error"]
    actions, statuses = [str(a) for a in data["actions"]], [str(s) for s in data["statuses"]]
    if len(actions) != len(statuses):
        raise ValueError("a tracked plan has one status per step")
    return Tracked(str(data["plan_id"]), str(data["goal_id"]), str(data["goal"]), actions, statuses, int(data["replans"]),
                   None if error is None else str(error))


def _capability(value: Any) -> Capability:
    """[attempts, successes] as a Capability; anything else (a peer's too) raises ValueError."""
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(type(x) is int for x in value):
        raise ValueError(f"capability counts are [attempts, successes]: {value!r}")
    attempts, successes = value
    if not 0 <= successes <= attempts:
        raise ValueError(f"capability counts out of order: {value!r}")
    return Capability(attempts, successes)


def step_file(params: Any) -> str | None:
    """The file a step works on, if its parameters name one."""
    if not isinstance(params, dict):
        return None
    found = params.get("path", params.get("file_path"))
    return found if isinstance(found, str) else None


class Feedback:
    """Outcomes, chains, rules and capabilities, and the lessons recalled for the current goal."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.system = cog.System.load(ctx, FeedbackState.from_dict, FeedbackState)
        self.max_outcomes = max(1, int(ctx.config["max_outcomes"]))
        self.recall_lessons = max(1, int(ctx.config["recall_lessons"]))
        self.window = max(1, int(ctx.config["failure_window"]))
        self.finished_now: list[dict[str, Any]] = []  # outcomes of the last reflect, for the next observation
        self.events = ctx.subscribe(*SOUL_EVENTS)
        self._recalled: tuple[Any, dict[str, list[str]]] | None = None
        self.observed = self.observe()

    @property
    def state(self) -> FeedbackState:
        """The live feedback state."""
        return self.system.state

    def observe(self) -> dict[str, Any]:
        """The contract's observation, the plan counts, and the plans that finished last tick."""
        state = self.state
        recent = state.recent[-self.window:]
        return cog.rounded({
            "lessons": len(state.outcomes),
            "rules": len(state.rules),
            "failure_rate": recent.count(False) / len(recent) if recent else 0.0,
            "plans": dict(state.plans),
            "finished": self.finished_now,
        })

    def recall(self, tick: Tick) -> dict[str, list[str]]:
        """Lessons and durable rules for the soul's goal: the most similar past plans first, then recent failures."""
        goal = cog.goal(tick)
        text = str(goal.get("text", "")) if goal else ""
        plan = goal.get("plan") if goal else None
        steps = plan.get("steps") if isinstance(plan, dict) else None
        state = self.state
        key = (text, repr(steps), len(state.outcomes), state.outcomes[0].plan_id if state.outcomes else "", len(state.rules),
               len(state.peer_lessons))
        if self._recalled is None or self._recalled[0] != key:
            self._recalled = (key, {"lessons": self.lessons(text), "rules": self.rules_for(text, steps)})
        return self._recalled[1]

    def lessons(self, goal: str) -> list[str]:
        """Lessons for `goal` (the newest without one), at most `recall_lessons`."""
        state = self.state
        if not goal:
            return [o.lesson for o in state.outcomes[: self.recall_lessons]]
        experience = rules.consult_experience(state.outcomes[:CONSULTED], goal)
        words = set(extract_keywords(goal))
        from_peers = [lesson for lesson in state.peer_lessons if words & set(extract_keywords(lesson))]
        found = dict.fromkeys([*experience.relevant_lessons, *experience.failure_lessons, *from_peers])
        return list(found)[: self.recall_lessons]

    def rules_for(self, goal: str, steps: Any) -> list[str]:
        """The durable rules the goal or its planned steps would break, as text."""
        state = self.state
        planned = [(str(s.get("action", "")), step_file(s.get("params"))) for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
        if planned:
            hits = rules.blocking_rules(state.rules, goal, planned)
        else:  # no plan yet: every step and file rule applies to whatever plan comes
            hits = [r for r in state.rules if r.check_type != "goal_pattern_blocked"] + rules.blocking_rules(state.rules, goal, [])
        return [f"{r.check_type} {r.pattern}: {r.reason}" for r in hits]

    async def reflect(self, tick: Tick) -> bool:
        """Learn from the tick's steps and from the soul's reports on its plans; True when anything changed."""
        state = self.state
        state.cycle += 1
        goal = cog.goal(tick)
        text = str(goal.get("text", "")) if goal else ""
        if goal and isinstance(goal.get("id"), str):
            self.note_goal(goal["id"], text)
        learned = cog.learning_steps(tick)
        for step in learned:
            self.learn_step(step, text, tick.started)
        self.finished_now = [self.finish(plan, status, tick.started) for plan, status in self.follow(await self.drain())]
        before = len(state.rules)
        state.rules = rules.expire_rules(state.rules, state.cycle)
        return bool(learned or self.finished_now or len(state.rules) != before)

    async def drain(self) -> list[Envelope]:
        """The soul's events published since the last drain, without waiting for more."""
        found: list[Envelope] = []
        with trio.CancelScope() as scope:
            scope.cancel()  # receive() hands over buffered events at once; with none left, its wait is cancelled
            try:
                while True:
                    found.append(await self.events.receive())
            except trio.EndOfChannel:
                pass
        return found

    def note_goal(self, goal_id: str, text: str) -> None:
        """Remember a goal's text for its plans' lessons."""
        goals = self.state.goals
        goals[goal_id] = text[:500]
        if len(goals) > MAX_GOALS:
            del goals[next(iter(goals))]

    def learn_step(self, step: Step, goal: str, now: float) -> None:
        """One step that ran: capability, failure rate, failure chain and error class (never from a rate limit)."""
        state = self.state
        ok = step.status == "ok"
        error = None if ok else (cog.failure_text(step) or f"{step.action} failed")
        if error is not None and rules.is_rate_limit(error):
            return
        capability = rules.ACTION_CAPABILITIES.get(step.action)
        if capability is not None:
            rules.record_capability(state.capabilities, capability, ok, error)
        state.recent = [*state.recent, ok][-self.window:]
        if ok:
            rules.resolve_chains(state.chains, step.action, step_file(step.params))
            return
        assert error is not None
        state.chains = rules.record_failure_chain(state.chains, goal, step.action, step_file(step.params), error, now)
        category = rules.classify_error(error)
        state.errors[category] = state.errors.get(category, 0) + 1

    def follow(self, events: list[Envelope]) -> list[tuple[Tracked, str]]:
        """Apply the soul's goal, plan and step events to the plans followed; return the plans that ended, with how."""
        ended: list[tuple[Tracked, str]] = []
        for event in events:
            data = event.data
            if event.topic == "soul.goal" and isinstance(data.get("id"), str):
                ended += self.goal_event(data["id"], data)
            elif event.topic == "soul.plan" and isinstance(data.get("plan"), str):
                ended += self.plan_event(data["plan"], data)
            elif event.topic == "soul.step" and isinstance(data.get("plan"), str):
                self.step_event(data["plan"], data)
        return ended

    def goal_event(self, goal_id: str, data: dict[str, Any]) -> list[tuple[Tracked, str]]:
        """A goal was set (remember its text) or ended (its open plans end with it)."""
        state, status = self.state, data.get("status")
        if status == "active" and isinstance(data.get("text"), str):
            self.note_goal(goal_id, data["text"])
        if status not in GOAL_ENDED:
            return []
        ended = [plan for plan in state.open.values() if plan.goal_id == goal_id]
        for plan in ended:
            del state.open[plan.plan_id]
            plan.error = plan.error or (str(data.get("reason"))[: rules.MAX_ERROR_MESSAGE] if status != "done" else None)
        return [(plan, GOAL_ENDED[str(status)]) for plan in ended]

    def plan_event(self, plan_id: str, data: dict[str, Any]) -> list[tuple[Tracked, str]]:
        """A plan was made, replanned (its pending steps replaced) or failed."""
        state, event = self.state, data.get("event")
        steps = [a for a in str(data.get("steps", "")).split(", ") if a]
        plan = state.open.get(plan_id)
        if event == "new":
            goal_id = str(data.get("goal", ""))
            state.open[plan_id] = Tracked(plan_id, goal_id, state.goals.get(goal_id, ""), steps, [PENDING] * len(steps))
            if len(state.open) > MAX_OPEN:
                del state.open[next(iter(state.open))]
        elif event == "replanned" and plan is not None:
            kept = [i for i, status in enumerate(plan.statuses) if status != PENDING]
            plan.actions = [plan.actions[i] for i in kept] + steps
            plan.statuses = [plan.statuses[i] for i in kept] + [PENDING] * len(steps)
            plan.replans += 1
        elif event == "failed":
            if plan is None:  # it never ran (an unusable LLM answer, say): still an outcome, with its lesson
                goal_id = str(data.get("goal", ""))
                plan = Tracked(plan_id, goal_id, state.goals.get(goal_id, ""), [], [])
            else:
                del state.open[plan_id]
            plan.error = plan.error or str(data.get("reason", "the plan failed"))[: rules.MAX_ERROR_MESSAGE]
            return [(plan, "failed")]
        return []

    def step_event(self, plan_id: str, data: dict[str, Any]) -> None:
        """A step of a plan ran: its status, and its error when it did not succeed."""
        plan, index = self.state.open.get(plan_id), data.get("index")
        if plan is None or not isinstance(index, int) or not 0 <= index < len(plan.statuses):
            return
        status = str(data.get("status", PENDING))
        plan.statuses[index] = status
        if status not in ("ok", PENDING):
            plan.error = str(data.get("error") or f"{plan.actions[index]} {status}")[: rules.MAX_ERROR_MESSAGE]

    def finish(self, plan: Tracked, status: str, now: float) -> dict[str, Any]:
        """A finished plan becomes an outcome with its lesson, may yield durable rules, and is announced."""
        state = self.state
        outcome = rules.make_outcome(plan.plan_id, plan.goal_id, plan.goal, status, plan.actions, plan.done, plan.replans,
                                     is_substantive(plan.actions), plan.error, now)
        state.outcomes = [outcome, *state.outcomes][: self.max_outcomes]
        state.plans[outcome.status] = state.plans.get(outcome.status, 0) + 1
        if outcome.status == "failed" and not rules.is_rate_limit(outcome.error_message or ""):
            state.rules = rules.merge_durable_rules(state.rules, rules.extract_durable_rules(outcome, state.chains, now, state.cycle))
        summary = {"plan_id": outcome.plan_id, "goal": outcome.goal_description[:200], "status": outcome.status,
                   "steps": outcome.steps_succeeded + outcome.steps_failed, "actions": plan.actions, "lesson": outcome.lesson}
        self.ctx.publish("feedback.outcome", summary)
        return summary

    def merge(self, peer: str, data: Any, rate: float) -> bool:
        """Take a peer's lessons (marked as theirs) and remember its capability profile."""
        return self.system.merge(peer, data, rate, lambda ours, d, r: _merge(ours, peer[:64], d, r))

    def export(self) -> dict[str, Any]:
        """Recent lessons and the capability profile (what the seed served as /soul/lessons)."""
        state = self.state
        return {"lessons": [o.lesson for o in state.outcomes[:EXPORT_LESSONS]],
                "capabilities": {name: [c.attempts, c.successes] for name, c in state.capabilities.items()}}


def _merge(ours: FeedbackState, peer: str, data: Any, rate: float) -> FeedbackState:
    """A peer's export into (a copy of) our state: its profile noted, its lessons taken when `rate` > 0."""
    if not isinstance(data, dict) or not isinstance(data.get("lessons"), list) or not isinstance(data.get("capabilities"), dict):
        raise ValueError("a feedback export is an object with 'lessons' and 'capabilities'")
    lessons = data["lessons"][:EXPORT_LESSONS]
    if not all(isinstance(lesson, str) and len(lesson) <= MAX_LESSON for lesson in lessons):
        raise ValueError(f"lessons must be strings of at most {MAX_LESSON} characters")
    profile = {str(name): _capability(value) for name, value in data["capabilities"].items() if name in rules.CAPABILITIES}
    ours.peers[peer] = {name: [c.attempts, c.successes] for name, c in profile.items()}
    ours.peers = dict(list(ours.peers.items())[-MAX_PEERS:])
    if rate > 0:
        marked = [f"[from peer {peer}] {lesson}" for lesson in lessons if not lesson.startswith("[from peer ")]
        ours.peer_lessons = list(dict.fromkeys([*marked, *ours.peer_lessons]))[:MAX_PEER_LESSONS]
    return ours


def _running() -> Feedback | None:
    """The running instance, if the plugin runs."""
    return _state.get("feedback")


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("feedback.lessons", feedback_lessons)
    registrar.panel("feedback", feedback_panel, title="Feedback")


async def colony_start(ctx: PluginContext) -> None:
    feedback = Feedback(ctx)
    _state["feedback"] = feedback
    _state["system"] = feedback.system


async def colony_stop(ctx: PluginContext) -> None:
    await cog.stop(_state)


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    feedback = _running()
    return feedback.observed if feedback else None


def colony_recall(tick: Tick) -> dict[str, list[str]] | None:
    feedback = _running()
    return feedback.recall(tick) if feedback else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    feedback = _running()
    if feedback is None:
        return
    changed = await feedback.reflect(tick)
    feedback.observed = feedback.observe()
    if changed:
        await feedback.system.save()
    else:
        feedback.system.dirty = True  # the cycle counter moved: saved at the next change or at stop


def colony_export_state(peer: str) -> dict[str, Any] | None:
    feedback = _running()
    return feedback.export() if feedback else None


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    feedback = _running()
    if feedback is not None:
        feedback.merge(str(peer), state, rate)


def colony_metrics() -> dict[str, float]:
    feedback = _running()
    if feedback is None:
        return {}
    seen = feedback.observed
    return {"lessons": seen["lessons"], "rules": seen["rules"], "failure_rate": seen["failure_rate"],
            **{f"plans.{name}": n for name, n in seen["plans"].items()}}


def feedback_panel() -> dict[str, Any]:
    """Failure rate, plan counts, the error classes seen, and the latest lessons."""
    feedback = _running()
    if feedback is None:
        return cog.NOT_RUNNING
    state, seen = feedback.state, feedback.observed
    rows = [[name, cap.attempts, cap.successes, cap.success_rate] for name, cap in sorted(state.capabilities.items())]
    gauges = {"failure rate": seen["failure_rate"], "lessons": seen["lessons"], "rules": seen["rules"],
              **{name: n for name, n in seen["plans"].items()}}
    errors = ", ".join(f"{name} {n}" for name, n in sorted(state.errors.items(), key=lambda kv: -kv[1])) or "none"
    text = "\n".join([f"errors: {errors}", *(o.lesson for o in state.outcomes[:5])])
    return cog.panel(gauges, table=(["capability", "attempts", "successes", "rate"], rows), text=text)


def feedback_lessons(limit: int = 10) -> dict[str, Any]:
    """The newest plan outcomes with their lessons, the durable rules, the capability profile and the error counts."""
    feedback = _running()
    if feedback is None:
        return {}
    state = feedback.state
    return cog.rounded({
        "outcomes": [o.to_dict() for o in state.outcomes[: max(0, int(limit))]],
        "rules": [r.to_dict() for r in state.rules],
        "capabilities": {name: {"attempts": c.attempts, "successes": c.successes, "rate": c.success_rate}
                         for name, c in state.capabilities.items()},
        "errors": dict(state.errors),
        "peer_lessons": state.peer_lessons[: max(0, int(limit))],
    })
