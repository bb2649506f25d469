"""The soul's gate: the failure circuit breaker, pacing in ticks, and the inference tier."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

TIERS = ("T0", "T1", "T2")
T2_RESERVE = 4  # T2 needs this many times the T1 reserve left: a thinking model costs more


@dataclass
class Breaker:
    """Opens after `limit` consecutive failed cycles and stays open `cooldown` seconds.

    The seed's supervisor restarts the loop 30 s after a panic and force-fails the active plan
    after 5 panics in a row; these are the defaults.
    """

    limit: int
    cooldown: float
    failures: int = 0
    until: float = 0.0
    reason: str = ""

    def is_open(self, now: float) -> bool:
        """Whether the breaker holds the soul back at `now`."""
        return now < self.until

    def failure(self, now: float, why: str) -> bool:
        """Count a failed cycle; True when this one opens the breaker."""
        self.failures += 1
        if self.failures < self.limit:
            return False
        self.failures, self.until = 0, now + self.cooldown
        self.reason = f"{self.limit} failed cycles in a row, the last: {why}"[:300]
        return True

    def success(self) -> None:
        """A cycle went well: the run of failures ends."""
        self.failures = 0

    def close(self) -> None:
        """Forget the last opening once its cool-down has passed."""
        self.until, self.reason = 0.0, ""

    def to_dict(self) -> dict[str, Any]:
        """What persists across restarts."""
        return {"failures": self.failures, "until": self.until, "reason": self.reason}

    def restore(self, state: Any) -> None:
        """Take back persisted counters; anything malformed is ignored."""
        if not isinstance(state, dict):
            return
        failures, until, reason = state.get("failures"), state.get("until"), state.get("reason")
        if isinstance(failures, int) and not isinstance(failures, bool):
            self.failures = max(0, failures)
        if isinstance(until, (int, float)) and not isinstance(until, bool) and math.isfinite(until):
            self.until = float(until)
        if isinstance(reason, str):
            self.reason = reason[:300]


def choose_tier(
    *,
    llm: bool,
    ceiling: str,
    tokens_left: int | None,
    micro_usd_left: int | None,
    reserve_tokens: int,
    reserve_micro_usd: int,
    hard: str,
) -> tuple[str, str]:
    """The tier to think at and why: T0 without an LLM or budget, T2 when `hard` names a reason and budget allows, else T1."""
    if not llm:
        return "T0", "no LLM: no GEMINI_API_KEY"
    if ceiling == "T0":
        return "T0", "max_tier is T0"
    if not _left(tokens_left, reserve_tokens) or not _left(micro_usd_left, reserve_micro_usd):
        return "T0", "LLM budget low"
    if hard and ceiling == "T2":
        if _left(tokens_left, T2_RESERVE * reserve_tokens) and _left(micro_usd_left, T2_RESERVE * reserve_micro_usd):
            return "T2", hard
        return "T1", f"{hard}, but too little budget for T2"
    return "T1", "normal"


def _left(remaining: int | None, reserve: int) -> bool:
    return remaining is None or remaining >= reserve
