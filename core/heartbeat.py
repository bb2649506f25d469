"""The heartbeat: paced ticks through observe, recall, gate, plan, appraise, act, verify, reflect."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields, is_dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

import trio

from .budgets import BudgetError
from .events import TickCompleted

if TYPE_CHECKING:
    from .dispatch import Impl
    from .kernel import Kernel

log = logging.getLogger("colony.heartbeat")
NAMESPACE = "_ticks"


@dataclass
class Step:
    """One typed action of a plan, and what happened to it."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"  # pending, vetoed, refused, unhandled, ok, failed
    appraisals: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: Any) -> Step:
        """A Step from a Step or a `{"action": ..., "params": {...}}` mapping."""
        if isinstance(value, Step):
            return value
        if isinstance(value, dict) and isinstance(value.get("action"), str):
            params = value.get("params", {})
            return cls(value["action"], params if isinstance(params, dict) else {"value": params})
        raise TypeError(f"a plan step must be a Step or a dict with an 'action', got {value!r:.80}")


@dataclass
class Outcome:
    """What a tick achieved."""

    rested: bool = False
    steps: int = 0
    ok: int = 0
    failed: int = 0
    vetoed: int = 0
    refused: int = 0
    unhandled: int = 0
    errors: int = 0


@dataclass
class Tick:
    """Everything one tick saw and did; each stage's output feeds the next, and it is persisted."""

    number: int
    started: float
    observations: dict[str, Any] = field(default_factory=dict)
    memories: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    planner: str = ""
    steps: list[Step] = field(default_factory=list)
    outcome: Outcome | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data (values plugins returned that JSON cannot hold become strings)."""
        return json.loads(json.dumps(self, default=_plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _plain(value: Any) -> Any:
    """JSON for what a tick holds: dataclasses as dicts of their fields, anything else unknown as a string.

    Shallow on purpose: `dataclasses.asdict` deep-copies every observation first, which cost a
    full node 2.7 ms a tick.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return str(value)


class Heartbeat:
    """Owns pacing and the pipeline; every stage's work comes from plugins."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        last = kernel.store.last(NAMESPACE)
        self.number = last[1]["number"] if last else 0
        self.ticks = 0
        self.last_ms = 0.0
        self.total_ms = 0.0
        self.last: Tick | None = None
        self._lock = trio.Lock()

    async def run(self) -> None:
        """Tick every `heartbeat.interval` seconds, measured start to start."""
        interval = self.kernel.config["heartbeat.interval"]
        next_at = trio.current_time()
        while True:
            await self.tick()
            next_at = max(next_at + interval, trio.current_time())
            await trio.sleep_until(next_at)

    async def tick(self) -> Tick:
        """Run one tick now (ticks never overlap) and persist its record."""
        async with self._lock:
            self.number += 1
            tick = Tick(self.number, self.kernel.clock())
            self.kernel.budgets.begin_tick(self.number)
            errors_before = self._errors()
            started = perf_counter()
            task = trio.lowlevel.current_task()
            self.kernel.dispatcher.watched.add(task)
            try:
                with trio.move_on_after(self.kernel.config["heartbeat.tick_timeout"]) as scope:
                    await self._pipeline(tick)
            finally:
                self.kernel.dispatcher.watched.discard(task)
            if scope.cancelled_caught:
                self._blame_timeout(tick, self.kernel.dispatcher.interrupted.pop(task, None))
            tick.duration_ms = (perf_counter() - started) * 1000
            outcome = tick.outcome or Outcome()
            outcome.errors = self._errors() - errors_before
            tick.outcome = outcome
            self._persist(tick)
            self.ticks += 1
            self.last, self.last_ms = tick, tick.duration_ms
            self.total_ms += tick.duration_ms
            self.kernel.bus.publish(TickCompleted(tick.number, round(tick.duration_ms, 3), outcome.steps, outcome.errors))
            return tick

    async def _pipeline(self, tick: Tick) -> None:
        hooks = self.kernel.dispatcher
        stage = perf_counter()

        def lap(name: str) -> None:
            nonlocal stage
            now = perf_counter()
            tick.stages_ms[name] = round((now - stage) * 1000, 4)
            stage = now

        tick.observations = dict(await hooks.collect("colony_observe", tick=tick))
        lap("observe")
        tick.memories = dict(await hooks.collect("colony_recall", tick=tick))
        lap("recall")
        gate = await hooks.first("colony_gate", tick=tick)
        tick.gate = {"plugin": gate[0], "decision": gate[1]} if gate else None
        lap("gate")
        outcome = Outcome()
        if gate is not None and gate[1] is False:
            outcome.rested = True
        else:
            planned = await hooks.first("colony_plan", tick=tick)
            lap("plan")
            if planned is not None:
                tick.planner = planned[0]
                tick.steps = self._steps(planned)
            for step in tick.steps:
                await self._run_step(tick, step, outcome)
            lap("act")
        outcome.steps = len(tick.steps)
        tick.outcome = outcome
        await hooks.collect("colony_reflect", tick=tick, outcome=outcome)
        lap("reflect")

    def _steps(self, planned: tuple[str, Any]) -> list[Step]:
        plugin, plan = planned
        try:
            return [Step.coerce(value) for value in plan]
        except TypeError as exc:
            self.kernel.dispatcher.fail(plugin, "colony_plan", exc)
            return []

    async def _run_step(self, tick: Tick, step: Step, outcome: Outcome) -> None:
        hooks = self.kernel.dispatcher
        step.appraisals = {}
        await hooks.collect("colony_appraise", into=step.appraisals, tick=tick, step=step)
        if any(verdict is False for verdict in step.appraisals.values()):
            step.status = "vetoed"
            outcome.vetoed += 1
            return
        budgets = self.kernel.budgets
        try:
            budgets.admit(step.action, step.params)
        except BudgetError as exc:
            step.status = "refused"
            step.results = {"kernel": {"error": str(exc), "refused": exc.refused}}
            outcome.refused += 1
            return
        step.results = dict(await hooks.collect("colony_act", tick=tick, step=step))
        if not step.results:
            step.status = "unhandled"
            outcome.unhandled += 1
            return
        step.verdicts = dict(await hooks.collect("colony_verify", tick=tick, step=step, result=step.results))
        failed = any(verdict is False for verdict in step.verdicts.values())
        step.status = "failed" if failed else "ok"
        if failed:
            outcome.failed += 1
        else:
            outcome.ok += 1

    def _blame_timeout(self, tick: Tick, impl: Impl | None) -> None:
        culprit = impl.plugin if impl is not None else "kernel"
        log.warning("tick %d timed out in %s", tick.number, culprit)
        if impl is not None:
            self.kernel.dispatcher.fail(impl.plugin, "heartbeat", TimeoutError(f"tick {tick.number} timed out"))

    def _errors(self) -> int:
        return sum(stats.errors for stats in self.kernel.dispatcher.stats.values())

    def _persist(self, tick: Tick) -> None:
        # Queued, not awaited (as the audit log is): the tick does not wait for the disk, and the
        # plugins' own queued saves commit with it. A crash can lose the last tick's record.
        txn = self.kernel.store.namespace(NAMESPACE).transaction()
        txn.put(f"{tick.number:020d}", tick.to_dict())
        self.kernel.budgets.write(txn)
        old = tick.number - self.kernel.config["heartbeat.keep_ticks"]
        if old > 0:
            txn.delete(f"{old:020d}")
        txn.queue(self._persisted)

    def _persisted(self, error: BaseException | None) -> None:
        """The store's word on a tick record (called on its writer thread)."""
        if error is not None:
            log.error("writing a tick record failed: %s", error)

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The last `limit` persisted tick records, newest last (once the queued ones are on disk)."""
        await self.kernel.store.commit([])
        first = max(self.number - limit, 0)
        return [value for _, value in self.kernel.store.scan(NAMESPACE, after=f"{first:020d}", limit=limit)]

    def metrics(self) -> dict[str, float]:
        """The heartbeat's own gauges."""
        return {
            "ticks": self.ticks,
            "tick_number": self.number,
            "last_tick_ms": round(self.last_ms, 3),
            "mean_tick_ms": round(self.total_ms / self.ticks, 3) if self.ticks else 0.0,
        }
