"""The soul's side of the heartbeat: gate, goals, plans, steps and what it learns from them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from colony.core import Step, Tick

from . import agenda, prompts, toolbox
from .gate import Breaker, choose_tier
from .goals import Goals, similarity
from .llm import LLM, Reply, ToolSpec
from .plans import MAX_REPLAN_STEPS, MAX_STEPS, PlanError, Tools, best_proposal, describe, pending, replace_rest, steps_from, written

if TYPE_CHECKING:
    from colony.core import PluginContext

STATE = "state"
LESSONS = 50  # lessons kept
SELF_GOALS = 3  # the seed keeps at most 3 goals it set itself
ACTIVE_SIMILAR = 0.4  # and drops a new goal this similar to an active one
ENDED_SIMILAR = 0.5  # or to one that was abandoned or failed
COUNTERS = ("plans", "replans", "steps_ok", "steps_failed", "goals_done", "goals_failed", "llm_calls", "rate_limited", "cycles")


@dataclass
class Batch:
    """The plan steps handed to the heartbeat in one tick, by index into the plan."""

    tick: int
    goal: str
    plan: str
    indices: list[int]
    skipped: set[int] = field(default_factory=set)


def public(goal: dict[str, Any]) -> dict[str, Any]:
    """A copy of `goal` to hand out, step results left out of its plan (they can be long)."""
    shown = dict(goal)
    if goal["plan"] is not None:
        shown["plan"] = dict(goal["plan"], steps=[dict(step, result=None) for step in goal["plan"]["steps"]])
    return shown


class Soul:
    """The running soul: goals and plans in the store, the breaker, pacing, and the LLM when there is a key."""

    def __init__(self, ctx: PluginContext, llm: LLM | None) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.llm = llm
        self.goals = Goals(ctx.store, ctx.config["keep_goals"])
        state = mapping(ctx.store.get(STATE))
        self.breaker = Breaker(ctx.config["breaker_failures"], ctx.config["breaker_cooldown"])
        self.breaker.restore(state.get("breaker"))
        lessons = state.get("lessons")
        self.lessons: list[str] = [x for x in lessons if isinstance(x, str)][-LESSONS:] if isinstance(lessons, list) else []
        self.agenda: dict[str, float] = {k: v for k, v in mapping(state.get("agenda")).items() if isinstance(v, (int, float))}
        counts = mapping(state.get("counters"))
        self.counters = {k: counts[k] if isinstance(counts.get(k), int) else 0 for k in COUNTERS}
        self.tier, self.reason = self.choose("")
        self.decision: tuple[int, dict[str, Any] | bool] = (-1, False)
        self.next_think = 0
        self.running: Batch | None = None
        self.feedback: list[str] = []
        self.used_llm = False
        self.idle = False
        self.dirty = False

    # -- the clock, events, lessons --------------------------------------------------

    def now(self) -> float:
        """The node's clock (the fake one in tests)."""
        return self.ctx.budgets.clock()

    def publish(self, topic: str, **data: Any) -> None:
        """A `soul.*` event."""
        self.ctx.publish(f"soul.{topic}", data)

    def learn(self, lesson: str) -> None:
        """Keep a lesson (the seed's SUCCESS/FAILURE lines) for prompts, chat and the operator."""
        self.lessons = [*self.lessons, lesson[:500]][-LESSONS:]
        self.dirty = True
        self.publish("lesson", text=lesson[:500])

    def recent_lessons(self, limit: int = 10) -> list[str]:
        """The feedback plugin's lessons and the soul's own, newest last, without repeats."""
        return list(dict.fromkeys([*self.feedback, *self.lessons]))[-limit:]

    def count(self, name: str, by: int = 1) -> None:
        """Add to one of the counters `colony_metrics` shows."""
        self.counters[name] += by
        self.dirty = True

    # -- observe and gate -----------------------------------------------------------

    def observe(self, tick: Tick) -> dict[str, Any]:
        """The contract's `soul` observation."""
        goal = self.goals.top()
        return {"goal": public(goal) if goal else None, "tier": self.tier, "llm": self.llm is not None}

    def decide(self, tick: Tick) -> dict[str, Any] | bool:
        """Whether to think this tick, and at which tier; the decision is kept for the plan stage."""
        memories = tick.memories.get("feedback")
        if isinstance(memories, dict) and isinstance(memories.get("lessons"), list):
            self.feedback = [str(x)[:500] for x in memories["lessons"][-10:]]
        decision = self._decide(tick)
        self.decision = (tick.number, decision)
        return decision

    def _decide(self, tick: Tick) -> dict[str, Any] | bool:
        """Rest while the breaker is open or pacing says so; else run the other breakers and pick the tier."""
        now = tick.started
        if self.breaker.until and not self.breaker.is_open(now):
            self.breaker.close()
            self.dirty = True
            self.publish("breaker", open=False, reason="cooled down")
        if self.breaker.is_open(now) or tick.number < self.next_think:
            return False
        self.approve_overdue(now)
        if self.goals.top() is not None:
            self.counters["cycles"] += 1  # saved with the next change: not worth a write of its own
            if self.counters["cycles"] > self.config["stagnation"]:
                self.stagnated()
        self.tier, self.reason = self.choose(self.hardship(tick))
        return {"tier": self.tier, "reason": self.reason}

    def choose(self, hard: str) -> tuple[str, str]:
        """The tier to think at, from how hard the situation is (`hard` says why, or "") and the LLM budget left."""
        budgets = self.ctx.budgets
        return choose_tier(
            llm=self.llm is not None,
            ceiling=self.config["max_tier"],
            tokens_left=budgets.remaining("tokens"),
            micro_usd_left=budgets.remaining("llm_micro_usd"),
            reserve_tokens=self.config["reserve_tokens"],
            reserve_micro_usd=self.config["reserve_micro_usd"],
            hard=hard,
        )

    def hardship(self, tick: Tick) -> str:
        """Why this tick is hard enough for T2, or ""."""
        goal = self.goals.top()
        plan = goal["plan"] if goal else None
        if plan is not None and plan.get("failure") and plan["status"] == "active":
            return "replanning after a failure"
        if goal is not None and goal["retries"]:
            return "retrying a goal whose plan failed"
        if self.breaker.failures >= 2:
            return f"{self.breaker.failures} failed cycles in a row"
        energy = tick.observations.get("free_energy")
        regime = energy.get("regime") if isinstance(energy, dict) else None
        if regime in self.config["hard_regimes"]:
            return f"free-energy regime {regime}"
        return ""

    def stagnated(self) -> None:
        """The seed's stagnation breaker: too many cycles without finishing a goal abandons them all."""
        why = f"no goal finished in {self.config['stagnation']} thinking cycles"
        for goal in self.goals.active():
            self.finish(goal, "abandoned", why)
        self.counters["cycles"] = 0
        self.publish("breaker", open=False, reason=why)

    def approve_overdue(self, now: float) -> None:
        """Approve plans that waited past `approval_timeout` (the seed's 30 minutes), or every waiting one once approval is off."""
        limit, asking = self.config["approval_timeout"], self.config["approve_plans"]
        for goal in self.goals.active():
            plan = goal["plan"]
            if plan is None or plan["status"] != "active" or plan["approved"]:
                continue
            if not asking or (limit > 0 and now - plan.get("asked", now) >= limit):
                plan["approved"] = True
                self.goals.touch(goal)
                self.publish("plan", goal=goal["id"], plan=plan["id"], event="approved", by="timeout" if asking else "config")

    # -- plan --------------------------------------------------------------------------

    async def plan(self, tick: Tick) -> list[dict[str, Any]] | None:
        """The next steps of the top goal's plan, making goals and plans first when needed."""
        self.used_llm = self.idle = False
        decision = self.decision[1] if self.decision[0] == tick.number else self.decide(tick)
        if decision is False:
            return None
        assert isinstance(decision, dict)
        tier = decision["tier"]
        goal = self.goals.top() or await self.set_goals(tick, tier)
        if goal is None:
            self.idle = True
            return None
        plan = goal["plan"]
        if plan is None or plan["status"] != "active":
            plan = await self.new_plan(tick, goal, tier)
        elif plan.get("failure") and not await self.replan(tick, goal, plan, tier):
            return None
        if plan is None or plan["status"] != "active" or not plan["approved"]:
            return None
        indices = pending(plan)[: self.config["steps_per_tick"]]
        if not indices:
            return None
        self.running = Batch(tick.number, goal["id"], plan["id"], indices)
        # the systems read the goal the steps serve from the tick; observe ran before it was chosen
        tick.observations[self.ctx.name] = self.observe(tick)
        return [{"action": plan["steps"][i]["action"], "params": copy.deepcopy(plan["steps"][i]["params"])} for i in indices]

    async def set_goals(self, tick: Tick, tier: str) -> dict[str, Any] | None:
        """New goals when there are none: from the LLM at T1+, else (or when it has none) from the agenda."""
        if not self.config["autonomous"]:
            return None
        if tier != "T0":
            prompt = prompts.goal_setting(self.goals.active(), self.context(tick), [item.text for item in agenda.AGENDA])
            reply = await self.ask(tier, prompt, json_reply=True)
            if reply is None:
                return None
            if reply.ok:
                for text, priority in goal_texts(reply.data)[:2]:
                    self.add_own_goal(text, priority, "llm", tick.started)
        if self.goals.top() is None:
            tools = toolbox.schemas(self.ctx)
            item = agenda.next_item(self.agenda, tick.started, self.config["agenda_every"], tick.number, self.config["health_url"], tools)
            if item is not None:
                self.agenda[item.key] = tick.started
                self.add_own_goal(item.text, 1, "autonomy", tick.started)
        return self.goals.top()

    def add_own_goal(self, text: str, priority: int, source: str, now: float) -> dict[str, Any] | None:
        """Add a goal the soul set itself, unless it has enough or the goal repeats one (the seed's rules)."""
        active = self.goals.active()
        if sum(g["source"] in ("llm", "autonomy") for g in active) >= SELF_GOALS:
            return None
        if any(similarity(text, g["text"]) > ACTIVE_SIMILAR for g in active):
            return None
        if any(g["status"] in ("abandoned", "failed") and similarity(text, g["text"]) >= ENDED_SIMILAR for g in self.goals.finished()[:50]):
            return None
        goal = self.goals.add(text, priority, source, now)
        self.publish("goal", id=goal["id"], text=goal["text"], status="active", source=source, reason="")
        return goal

    async def new_plan(self, tick: Tick, goal: dict[str, Any], tier: str) -> dict[str, Any] | None:
        """A plan for `goal`: the nudge's own JSON steps, a proposal, the agenda's template, or the LLM's."""
        tools = toolbox.schemas(self.ctx)
        spelled = written(goal["text"]) if goal["source"] == "nudge" else None
        if spelled is not None:
            try:
                return self.adopt(tick, goal, "nudge", steps_from(spelled, tools), "the operator's steps")
            except PlanError as exc:
                self.fail_plan(goal, self.adopt(tick, goal, "nudge", [], ""), f"the nudge's steps are unusable: {exc}", tick.started)
                return None
        proposals = await self.proposals(tick, goal)
        if tier == "T0" or goal["source"] != "nudge":  # the LLM reads a nudge first when there is one
            found = best_proposal(proposals, tools, 0.0 if tier == "T0" else self.config["propose_confidence"])
            if found is not None:
                plugin, proposal, steps = found
                return self.adopt(tick, goal, "autonomy", steps, f"{plugin}: {str(proposal.get('why', ''))[:200]}")
            steps = self.template(tick, goal, tools)
            if steps:
                return self.adopt(tick, goal, "autonomy", steps, "the agenda's template")
        if tier == "T0":
            self.waiting(goal, "no planner offered steps at T0")
            return None
        prompt = prompts.planning(goal, toolbox.declarations(self.ctx), self.context(tick), self.hints(proposals))
        try:
            answer = await self.llm_plan(tier, prompt, tools, MAX_STEPS)
        except PlanError as exc:
            plan = self.adopt(tick, goal, "llm", [], "")
            self.breaker_failure(goal, tick.started, str(exc))
            if plan["status"] == "active":
                self.fail_plan(goal, plan, f"the LLM's plan was unusable: {exc}", tick.started)
            return None
        return None if answer is None else self.adopt(tick, goal, "llm", *answer)

    def template(self, tick: Tick, goal: dict[str, Any], tools: Tools) -> list[dict[str, Any]] | None:
        """The agenda's steps for `goal`, when it is an agenda goal whose tools are here."""
        item = agenda.BY_TEXT.get(goal["text"])
        return agenda.template(item, tick.number, self.config["health_url"], tools) if item else None

    async def llm_plan(self, tier: str, prompt: str, tools: Tools, limit: int) -> tuple[list[dict[str, Any]], str] | None:
        """The LLM's steps and why; None when rate limited or out of budget; PlanError when its answer is unusable."""
        reply = await self.ask(tier, prompt, json_reply=True, tools=True)
        if reply is None:
            return None
        if not reply.ok:
            raise PlanError(f"the LLM failed: {reply.error}")
        why = reply.data.get("why", "") if isinstance(reply.data, dict) else ""
        return steps_from(reply.data, tools, limit), str(why)[:200]

    def waiting(self, goal: dict[str, Any], why: str) -> None:
        """Note on the goal why it has no plan yet."""
        if goal["reason"] != why:
            goal["reason"] = why
            self.goals.touch(goal)

    async def proposals(self, tick: Tick, goal: dict[str, Any]) -> list[tuple[str, Any]]:
        """Every plugin's `colony_propose` answer for `goal`."""
        return await self.ctx.hooks.collect("colony_propose", tick=tick, goal=copy.deepcopy(public(goal)))

    def hints(self, proposals: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Proposals as rows for the planning prompt."""
        rows = []
        for plugin, proposal in proposals[:3]:
            if isinstance(proposal, dict) and isinstance(proposal.get("steps"), list):
                actions = [s.get("action") for s in proposal["steps"] if isinstance(s, dict)]
                rows.append({"from": plugin, "steps": actions, "confidence": proposal.get("confidence"), "why": proposal.get("why")})
        return rows

    def adopt(self, tick: Tick, goal: dict[str, Any], source: str, steps: list[dict[str, Any]], why: str) -> dict[str, Any]:
        """Make `steps` the goal's new plan; it waits for approval when `approve_plans` is on."""
        plan = {
            "id": self.goals.next_id("plan"),
            "goal": goal["id"],
            "source": source,
            "steps": steps,
            "replans": 0,
            "approved": not self.config["approve_plans"],
            "status": "active",
            "created": tick.started,
            "asked": tick.started,
            "why": why,
            "failure": None,
        }
        goal["plan"], goal["reason"] = plan, ""
        self.goals.touch(goal)
        self.count("plans")
        if steps:
            self.publish("plan", goal=goal["id"], plan=plan["id"], event="new", source=source, steps=describe(steps), approved=plan["approved"])
        return plan

    async def replan(self, tick: Tick, goal: dict[str, Any], plan: dict[str, Any], tier: str) -> bool:
        """Replace the failed plan's remaining steps; False when no replacement came (or the LLM is rate limited)."""
        tools = toolbox.schemas(self.ctx)
        steps: list[dict[str, Any]] | None = None
        problem = "no planner offered new steps"
        if tier == "T0":
            found = best_proposal(await self.proposals(tick, goal), tools, 0.0)
            steps = found[2] if found else self.template(tick, goal, tools)
        else:
            prompt = prompts.replanning(goal, plan, toolbox.declarations(self.ctx), self.context(tick))
            try:
                answer = await self.llm_plan(tier, prompt, tools, MAX_REPLAN_STEPS)
            except PlanError as exc:
                answer, problem = ([], ""), f"the LLM's replan was unusable: {exc}"
            if answer is None:
                return False
            steps = answer[0]
        plan["replans"] += 1
        self.count("replans")
        self.goals.touch(goal)
        if not steps:
            self.learn(f"FAILURE: {goal['text']}: replan {plan['replans']} failed: {problem}.")
            self.breaker_failure(goal, tick.started, problem)
            if plan["status"] == "active" and plan["replans"] >= self.config["replan_limit"]:
                self.fail_plan(goal, plan, f"{problem} after {plan['replans']} replans", tick.started)
            return False
        replace_rest(plan, steps)
        plan["failure"] = None
        if self.config["approve_plans"]:
            plan["approved"], plan["asked"] = False, tick.started
        self.publish("plan", goal=goal["id"], plan=plan["id"], event="replanned", steps=describe(steps), approved=plan["approved"])
        return plan["approved"]

    def context(self, tick: Tick) -> str:
        """The situation block of a prompt."""
        return prompts.situation(tick.observations, self.recent_lessons(5))

    async def ask(
        self, tier: str, prompt: str, *, json_reply: bool = False, tools: bool = False, max_calls: int = 0, timeout: float = 0.0
    ) -> Reply | None:
        """One LLM exchange (planning's tool-call budget and time box unless given); None when rate limited or out of budget.

        Nothing may learn from a 429: the caller makes no plan and no lesson of it.
        """
        assert self.llm is not None
        self.used_llm = True
        self.count("llm_calls")
        specs = self.tool_specs() if tools else []
        timeout = timeout or self.config["think_timeout"]
        reply = Reply(tier=tier, error=f"no answer within {timeout:g}s")
        with trio.move_on_after(timeout):
            reply = await self.llm.ask(
                tier,
                prompts.SYSTEM,
                prompt,
                tools=specs,
                call_tool=self.call_tool if specs else None,
                max_calls=max_calls or self.config["plan_calls"],
                budgets=self.ctx.budgets,
                json_reply=json_reply,
            )
        if reply.rate_limited:
            self.count("rate_limited")
            self.publish("rate_limited", tier=tier, retry_after=reply.retry_after)
            return None
        if reply.budget_exceeded:
            self.ctx.log.info("no LLM answer: %s", reply.error)
            return None
        return reply

    def tool_specs(self) -> list[ToolSpec]:
        """The registered tools as the LLM client's ToolSpecs."""
        return [ToolSpec(d["name"], d["description"], d["parameters"]) for d in toolbox.declarations(self.ctx)]

    async def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        """Run a tool the LLM called, through the kernel's budget and repeat guard (which raise BudgetError)."""
        reg = toolbox.registered(self.ctx).get(name)
        if reg is None:
            return {"error": f"unknown tool {name!r}"}
        self.ctx.budgets.admit(name, args)
        result = await toolbox.run(reg, args, self.config["tool_timeout"])
        return result["output"] if result["ok"] else {"error": result["error"]}

    # -- act and verify --------------------------------------------------------------

    async def act(self, tick: Tick, step: Step) -> dict[str, Any] | None:
        """Run the registered tool the step names; steps after a failure in this tick are left for later."""
        reg = toolbox.registered(self.ctx).get(step.action)
        if reg is None:
            return None
        batch = self.running
        if batch is not None and batch.tick == tick.number:
            position = next((i for i, s in enumerate(tick.steps) if s is step), None)
            if position is not None and position < len(batch.indices) and any(s.status != "ok" for s in tick.steps[:position]):
                batch.skipped.add(batch.indices[position])
                return None
        return await toolbox.run(reg, step.params, self.config["tool_timeout"])

    # -- reflect -----------------------------------------------------------------------

    async def reflect(self, tick: Tick) -> None:
        """Settle the steps this tick ran, pace the next thought, and save."""
        batch, self.running = self.running, None
        if batch is not None and batch.tick == tick.number and tick.planner == self.ctx.name:
            self.settle(tick, batch)
        if self.decision[0] == tick.number and self.decision[1] is not False:
            every = "think_every_llm" if self.used_llm else "think_every_idle" if self.idle else "think_every"
            self.next_think = tick.number + self.config[every]
        await self.save(wait=False)  # committed with the tick's record, in one fsync

    def settle(self, tick: Tick, batch: Batch) -> None:
        """Record each step's outcome in its plan; then finish the goal, mark the plan for a replan, or fail it."""
        goal = self.goals.get(batch.goal)
        plan = goal["plan"] if goal else None
        if goal is None or plan is None or plan["id"] != batch.plan or goal["status"] != "active" or plan["status"] != "active":
            return  # abandoned or rejected while its steps ran
        failure: dict[str, Any] | None = None
        for step, index in zip(tick.steps, batch.indices, strict=False):
            record = plan["steps"][index]
            status, error = outcome_of(step, index in batch.skipped)
            record["status"] = status
            if status != "pending":
                record["result"] = toolbox.kept(step.results.get(self.ctx.name) or step.results)
                self.publish("step", goal=goal["id"], plan=plan["id"], index=index, action=step.action, status=status, error=error)
            if status == "ok":
                self.count("steps_ok")
            elif status != "pending":
                self.count("steps_failed")
                failure = failure or {"index": index, "action": step.action, "status": status, "error": error}
        self.goals.touch(goal)
        now = tick.started
        if failure is not None:
            why = f"{failure['action']} {failure['status']}: {failure['error']}"
            self.learn(f"FAILURE: {goal['text']}: {why}. Avoid this approach.")
            plan["failure"] = failure
            if failure["status"] != "vetoed":
                self.breaker_failure(goal, now, why)
            if plan["status"] == "active" and plan["replans"] >= self.config["replan_limit"]:
                self.fail_plan(goal, plan, f"{why} after {plan['replans']} replans", now)
            return
        self.breaker.success()
        if not pending(plan):
            plan["status"] = "done"
            done = [s for s in plan["steps"] if s["status"] == "ok"]
            self.learn(f"SUCCESS: {goal['text']}: {describe(done)}. Approach worked.")
            self.counters["cycles"] = 0
            self.finish(goal, "done", f"plan {plan['id']} finished")

    def breaker_failure(self, goal: dict[str, Any], now: float, why: str) -> None:
        """Count a failed cycle; when the breaker opens, the active plan fails (as the seed's supervisor does)."""
        self.dirty = True
        if not self.breaker.failure(now, why):
            return
        self.publish("breaker", open=True, reason=self.breaker.reason, until=self.breaker.until)
        plan = goal["plan"]
        if goal["status"] == "active" and plan is not None and plan["status"] == "active":
            self.fail_plan(goal, plan, f"the circuit breaker opened: {why}", now)

    def fail_plan(self, goal: dict[str, Any], plan: dict[str, Any], why: str, now: float) -> None:
        """End the plan as failed with a lesson; the goal fails once `goal_retries` plans have."""
        plan["status"] = "failed"
        plan["failure"] = plan.get("failure") or {"index": None, "action": None, "status": "failed", "error": why}
        goal["retries"] += 1
        self.goals.touch(goal)
        self.learn(f"FAILURE: {goal['text']}: plan {plan['id']} failed: {why}. Avoid this approach.")
        self.publish("plan", goal=goal["id"], plan=plan["id"], event="failed", reason=why[:300])
        if goal["retries"] >= self.config["goal_retries"]:
            self.finish(goal, "failed", f"{goal['retries']} plans failed, the last: {why}")

    def finish(self, goal: dict[str, Any], status: str, reason: str) -> None:
        """End a goal and say so."""
        self.goals.finish(goal, status, reason[:500])
        if status in ("done", "failed"):
            self.count(f"goals_{status}")
        self.publish("goal", id=goal["id"], text=goal["text"], status=status, source=goal["source"], reason=reason[:500])

    async def save(self, *, wait: bool = True) -> None:
        """Write changed goals and the soul's state in one transaction; `wait=False` queues it behind the tick's record."""
        if not (self.goals.dirty or self.goals.removed or self.dirty):
            return
        txn = self.ctx.store.transaction()
        self.goals.write(txn)
        if self.dirty:
            txn.put(STATE, {"breaker": self.breaker.to_dict(), "lessons": self.lessons, "agenda": self.agenda, "counters": self.counters})
        self.dirty = False
        if wait:
            await txn.commit()
        else:
            txn.queue(self.saved)

    def saved(self, error: BaseException | None) -> None:
        """The store's word on a queued save (called on its writer thread)."""
        if error is not None:
            self.ctx.log.error("saving the soul's goals failed: %s", error)


def mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a dict (stored state may be anything), else an empty one."""
    return value if isinstance(value, dict) else {}


def outcome_of(step: Step, skipped: bool) -> tuple[str, str]:
    """A heartbeat step's status as a plan step's, and its error: budget refusals and skipped steps stay pending."""
    if step.status == "ok":
        return "ok", ""
    if step.status == "refused":
        kernel = step.results.get("kernel", {})
        return ("pending", "") if kernel.get("refused") == "budget" else ("refused", str(kernel.get("error", "refused")))
    if step.status == "vetoed":
        return "vetoed", "vetoed by " + ", ".join(sorted(p for p, v in step.appraisals.items() if v is False))
    if step.status == "unhandled":
        return ("pending", "") if skipped else ("failed", "no plugin carried out the step")
    if step.status == "failed":
        errors = [str(r["error"]) for r in step.results.values() if isinstance(r, dict) and r.get("error")]
        return "failed", "; ".join(errors)[:500] or "a check failed: " + ", ".join(sorted(p for p, v in step.verdicts.items() if v is False))
    return "pending", ""


def goal_texts(data: Any) -> list[tuple[str, int]]:
    """(text, priority) of the goals in an LLM's answer: `{"goals": [...]}` or the seed's `[{"op": "create_goal", ...}]`."""
    items = data.get("goals") if isinstance(data, dict) else data
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = item.get("text", item.get("description"))
        priority = item.get("priority", 2)
        if isinstance(text, str) and text.strip():
            level = priority if isinstance(priority, int) and not isinstance(priority, bool) else 2
            found.append((text.strip()[:500], min(max(level, 1), 5)))
    return found
