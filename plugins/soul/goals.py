"""Goals and their plans as the contract's plain dicts, kept in the soul's store namespace."""

from __future__ import annotations

import heapq
import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from colony.core import Namespace
    from colony.core.store import Transaction

log = logging.getLogger("colony.plugin.soul")

STATUSES = ("active", "done", "failed", "abandoned")
PREFIX = "goal/"
IDS = "ids"
WORD = re.compile(r"[a-z0-9_]+")


def words(text: str) -> set[str]:
    """The lower-case words of `text`."""
    return set(WORD.findall(text.lower()))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two texts' word sets (the seed's goal de-duplication measure)."""
    left, right = words(a), words(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def is_goal(value: Any) -> bool:
    """Whether a stored value has the shape of a goal dict."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("text"), str)
        and value.get("status") in STATUSES
        and isinstance(value.get("priority"), int)
        and isinstance(value.get("created"), (int, float))
        and (value.get("plan") is None or is_plan(value["plan"]))
    )


def is_plan(value: Any) -> bool:
    """Whether a stored value has the shape of a plan dict."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("steps"), list)
        and all(isinstance(s, dict) and isinstance(s.get("action"), str) for s in value["steps"])
        and isinstance(value.get("replans"), int)
    )


class Goals:
    """The soul's goals by id; changes are marked dirty and written in one transaction per tick."""

    def __init__(self, store: Namespace, keep: int) -> None:
        self.keep = keep
        self.goals: dict[str, dict[str, Any]] = {}
        for key, value in store.scan(PREFIX):
            if is_goal(value):
                value.setdefault("retries", 0)
                value.setdefault("reason", "")
                self.goals[value["id"]] = value
            else:
                log.warning("ignoring a malformed stored goal at %r", key)
        ids = store.get(IDS, {})
        self.ids: dict[str, int] = {"goal": 0, "plan": 0} | (ids if isinstance(ids, dict) else {})
        self.dirty: set[str] = set()
        self.removed: set[str] = set()

    def next_id(self, kind: str) -> str:
        """A new id: `g<n>` for goals, `p<n>` for plans."""
        self.ids[kind] = int(self.ids.get(kind, 0)) + 1
        return f"{kind[0]}{self.ids[kind]}"

    def add(self, text: str, priority: int, source: str, now: float) -> dict[str, Any]:
        """Create an active goal."""
        goal = {
            "id": self.next_id("goal"),
            "text": text,
            "status": "active",
            "priority": priority,
            "source": source,
            "created": now,
            "plan": None,
            "retries": 0,
            "reason": "",
        }
        self.goals[goal["id"]] = goal
        self.touch(goal)
        return goal

    def touch(self, goal: dict[str, Any]) -> None:
        """Mark `goal` changed, to be written with the tick."""
        self.dirty.add(goal["id"])

    def get(self, goal_id: str) -> dict[str, Any] | None:
        """The goal with `goal_id`, if any."""
        return self.goals.get(goal_id)

    def active(self) -> list[dict[str, Any]]:
        """Active goals in the order they are worked on: highest priority first, then oldest."""
        found = [g for g in self.goals.values() if g["status"] == "active"]
        return sorted(found, key=lambda g: (-g["priority"], g["created"], _number(g["id"])))

    def top(self) -> dict[str, Any] | None:
        """The goal to work on now."""
        active = self.active()
        return active[0] if active else None

    def finished(self) -> list[dict[str, Any]]:
        """Goals no longer active, newest first."""
        found = [g for g in self.goals.values() if g["status"] != "active"]
        return sorted(found, key=_age, reverse=True)

    def finish(self, goal: dict[str, Any], status: str, reason: str = "") -> None:
        """End `goal` with `status` (done, failed or abandoned) and prune the oldest finished ones."""
        goal["status"], goal["reason"] = status, reason
        self.touch(goal)
        ended = [g for g in self.goals.values() if g["status"] != "active"]
        for old in heapq.nsmallest(len(ended) - self.keep, ended, key=_age):  # usually one: no full sort each time
            del self.goals[old["id"]]
            self.dirty.discard(old["id"])
            self.removed.add(old["id"])

    def plans(self) -> list[dict[str, Any]]:
        """The current plan of every active goal, in work order."""
        return [g["plan"] for g in self.active() if g["plan"] is not None]

    def plan(self, plan_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The active goal and its current plan with id `plan_id`."""
        for goal in self.active():
            if goal["plan"] is not None and goal["plan"]["id"] == plan_id:
                return goal, goal["plan"]
        return None

    def write(self, txn: Transaction) -> None:
        """Buffer the changed goals, the removed ones and the id counters into `txn`."""
        for goal_id in sorted(self.dirty):
            txn.put(PREFIX + goal_id, self.goals[goal_id])
        for goal_id in sorted(self.removed):
            txn.delete(PREFIX + goal_id)
        if self.dirty or self.removed:
            txn.put(IDS, self.ids)
        self.dirty.clear()
        self.removed.clear()


def _age(goal: dict[str, Any]) -> tuple[float, int]:
    """A goal's place in time: when it was created, then its id's number."""
    return goal["created"], _number(goal["id"])


def _number(identifier: str) -> int:
    digits = identifier[1:]
    return int(digits) if digits.isdigit() else 0
