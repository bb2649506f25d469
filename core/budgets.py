"""Kernel budgets: per-tick and per-day limits on tool calls, tokens, LLM cost and money, and the repeat guard."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .audit import canonical, storable
from .config import Config, ConfigError
from .events import BudgetHit, Event, GuardTripped

if TYPE_CHECKING:
    from .store import Store, Transaction

log = logging.getLogger("colony.budgets")

KINDS = ("tool_calls", "tokens", "llm_micro_usd", "money")
NAMESPACE = "_budgets"
KEY = "day"
DAY_SECONDS = 86400
RECENT = 10  # guard calls and trips the snapshot shows
PARAMS_SHOWN = 200  # characters of a call's canonical params kept for the snapshot and events


class BudgetError(Exception):
    """A call the kernel's budgets or guard refuse; `refused` says which ("budget" or "repeat")."""

    refused: ClassVar[str] = ""


class BudgetExceeded(BudgetError):
    """Spending `amount` of `kind` would pass its per-tick or per-day limit."""

    refused: ClassVar[str] = "budget"

    def __init__(self, kind: str, scope: str, used: int, amount: int, limit: int) -> None:
        super().__init__(f"{kind} budget per {scope} exceeded: {used} used + {amount} > limit {limit}")
        self.kind, self.scope, self.used, self.amount, self.limit = kind, scope, used, amount, limit


class RepeatedAction(BudgetError):
    """The same action with the same params would run more than the guard's limit in a row."""

    refused: ClassVar[str] = "repeat"

    def __init__(self, action: str, params: str, count: int, limit: int) -> None:
        super().__init__(f"repeated action {action!r}: call {count} in a row with the same params (limit {limit})")
        self.action, self.params, self.count, self.limit = action, params, count, limit


@dataclass(frozen=True)
class Limits:
    """One kind's limits; None is unlimited."""

    per_tick: int | None = None
    per_day: int | None = None


def check_amount(amount: Any) -> int:
    """`amount` if it is a non-negative int (not a bool); TypeError or ValueError otherwise."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"a budget amount is an int, not {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"a budget amount is non-negative, not {amount}")
    return amount


def utc_day(timestamp: float) -> str:
    """The UTC date of a Unix timestamp, as `YYYY-MM-DD`."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


class Budgets:
    """Counts spending per tick and per UTC day against limits, and refuses loops of the same call.

    Kinds without limits in `limits` are unlimited (the kernel builds its budgets from the config).

    A tick starts with `begin_tick`; the day is the UTC date of `clock()` and rolls over by
    itself. The guard spans ticks: it refuses a call whose `(action, canonical params)` equals
    the previous `repeat_limit` calls, so the same call runs at most `repeat_limit` times in a
    row; any different call resets the run. A refused call is not counted as a call.
    """

    def __init__(
        self,
        limits: Mapping[str, Limits] | None = None,
        *,
        repeat_limit: int = 3,
        clock: Callable[[], float] = time.time,
        publish: Callable[[Event], Any] | None = None,
    ) -> None:
        self.limits = {kind: Limits() for kind in KINDS} | dict(limits or {})
        unknown = set(self.limits) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown budget kinds: {', '.join(sorted(unknown))}")
        self.repeat_limit = repeat_limit
        self.clock = clock
        self.publish = publish
        self.tick = 0
        self.tick_used = dict.fromkeys(KINDS, 0)
        self.day_used = dict.fromkeys(KINDS, 0)
        now = clock()
        self._day_index, self.day = int(now // DAY_SECONDS), utc_day(now)
        self._last: tuple[str, str] | None = None
        self._run = 0
        self.calls: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.trips = 0
        self.recent_trips: deque[dict[str, Any]] = deque(maxlen=RECENT)

    @classmethod
    def from_config(cls, config: Config, clock: Callable[[], float], publish: Callable[[Event], Any] | None) -> Budgets:
        """Budgets with the limits of `budgets.<kind>.per_tick|per_day` (0 is unlimited) and `guard.repeat_limit`."""
        limits = {}
        for kind in KINDS:
            per_tick, per_day = config[f"budgets.{kind}.per_tick"], config[f"budgets.{kind}.per_day"]
            if per_tick < 0 or per_day < 0:
                raise ConfigError(f"budgets.{kind}: limits are non-negative (0 is unlimited)")
            limits[kind] = Limits(per_tick or None, per_day or None)
        if config["guard.repeat_limit"] < 1:
            raise ConfigError("guard.repeat_limit: at least 1")
        return cls(limits, repeat_limit=config["guard.repeat_limit"], clock=clock, publish=publish)

    # -- spending ----------------------------------------------------------------------

    def begin_tick(self, number: int) -> None:
        """Start tick `number`: the per-tick counters go back to zero."""
        self.tick = number
        self.tick_used = dict.fromkeys(KINDS, 0)

    def check(self, kind: str, amount: int = 1) -> None:
        """Raise `BudgetExceeded` if spending `amount` of `kind` now would pass a limit."""
        amount = check_amount(amount)
        limits = self._limits(kind)
        self._roll()
        for scope, used, limit in (
            ("tick", self.tick_used[kind], limits.per_tick),
            ("day", self.day_used[kind], limits.per_day),
        ):
            if limit is not None and used + amount > limit:
                exc = BudgetExceeded(kind, scope, used, amount, limit)
                if self.publish is not None:
                    self.publish(BudgetHit(kind, scope, used, amount, limit))
                raise exc

    def spend(self, kind: str, amount: int, *, strict: bool = True) -> None:
        """Record spending `amount` of `kind`; strict checks first, `strict=False` records past the limit."""
        if strict:
            self.check(kind, amount)
        else:
            amount = check_amount(amount)
            self._limits(kind)
            self._roll()
        self.tick_used[kind] += amount
        self.day_used[kind] += amount

    def remaining(self, kind: str) -> int | None:
        """What may still be spent of `kind` now (the tighter of tick and day), or None when unlimited."""
        limits = self._limits(kind)
        self._roll()
        left = [
            max(limit - used, 0)
            for used, limit in ((self.tick_used[kind], limits.per_tick), (self.day_used[kind], limits.per_day))
            if limit is not None
        ]
        return min(left) if left else None

    def _limits(self, kind: str) -> Limits:
        limits = self.limits.get(kind) if isinstance(kind, str) else None
        if limits is None:
            raise ValueError(f"unknown budget kind {kind!r}; the kinds are {', '.join(KINDS)}")
        return limits

    def _roll(self) -> None:
        now = self.clock()
        index = int(now // DAY_SECONDS)
        if index != self._day_index:
            self._day_index, self.day = index, utc_day(now)
            self.day_used = dict.fromkeys(KINDS, 0)

    # -- the repeat guard --------------------------------------------------------------

    def guard(self, action: str, params: Any) -> None:
        """Record a call of `action` with `params`, or raise `RepeatedAction` if it would repeat too often in a row."""
        if not isinstance(action, str):
            raise TypeError(f"an action is a str, not {type(action).__name__}")
        key = (action, canonical(params))
        run = self._run + 1 if key == self._last else 1
        shown = key[1][:PARAMS_SHOWN]
        if run > self.repeat_limit:
            self.trips += 1
            self.recent_trips.append({"action": action, "params": shown, "count": run, "tick": self.tick, "at": self.clock()})
            if self.publish is not None:
                self.publish(GuardTripped(action, shown, run, self.repeat_limit))
            raise RepeatedAction(action, shown, run, self.repeat_limit)
        self._last, self._run = key, run
        self.calls.append({"action": action, "params": shown, "run": run, "tick": self.tick})

    def admit(self, action: str, params: Any) -> None:
        """Let one tool call through: the tool_calls budget, then the guard, then the spending; BudgetError if refused.

        The budget comes first so that a call refused for budget is never counted as a repeat.
        """
        self.check("tool_calls")
        self.guard(action, params)
        self.spend("tool_calls", 1)

    # -- reporting and persistence -----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: the day, the tick, each kind's use and limits, the guard's recent calls and trips."""
        self._roll()
        return {
            "day": self.day,
            "tick": self.tick,
            "kinds": {
                kind: {
                    "tick_used": self.tick_used[kind],
                    "tick_limit": limits.per_tick,
                    "day_used": self.day_used[kind],
                    "day_limit": limits.per_day,
                }
                for kind, limits in self.limits.items()
            },
            "guard": {
                "repeat_limit": self.repeat_limit,
                "recent": list(self.calls),
                "trips": self.trips,
                "recent_trips": list(self.recent_trips),
            },
        }

    def state(self) -> dict[str, Any]:
        """What persists across restarts: the day and its counters."""
        self._roll()
        return {"day": self.day, "used": storable(dict(self.day_used))}

    def restore(self, state: Any) -> None:
        """Take back the day's counters from `state`, if it is today's; anything malformed is ignored."""
        self._roll()
        if not isinstance(state, dict) or state.get("day") != self.day or not isinstance(state.get("used"), dict):
            return
        for kind, value in state["used"].items():
            if kind not in self.day_used:
                continue
            try:
                self.day_used[kind] = check_amount(int(value) if isinstance(value, str) else value)
            except (TypeError, ValueError):
                log.warning("ignoring a stored budget counter %r=%r", kind, value)

    def load(self, store: Store) -> None:
        """Restore today's counters from the store."""
        self.restore(store.get(NAMESPACE, KEY))

    def write(self, txn: Transaction) -> None:
        """Buffer today's counters into `txn` (the heartbeat's tick record transaction)."""
        txn.put(KEY, self.state(), namespace=NAMESPACE)

    async def save(self, store: Store) -> None:
        """Write today's counters durably now (at kernel stop)."""
        async with store.namespace(NAMESPACE).transaction() as txn:
            self.write(txn)
