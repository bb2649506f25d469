"""The built-in agenda: goals the soul sets itself without an LLM, each with a template plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .plans import PlanError, Tools, steps_from

NOTE = "notes/soul.md"


@dataclass(frozen=True)
class Item:
    """One agenda goal: its text and the steps that pursue it (built per tick, so they can vary)."""

    key: str
    text: str
    steps: Callable[[int, str], list[dict[str, Any]]]  # (tick number, health url) -> raw steps


AGENDA = (
    Item(
        "survey",
        "survey the workspace",
        lambda tick, url: [
            {"action": "list_dir", "params": {"path": "."}},
            {"action": "search_code", "params": {"pattern": "TODO"}},
        ],
    ),
    Item(
        "note",
        "write a note and check it",
        lambda tick, url: [
            {"action": "write_file", "params": {"path": NOTE, "content": f"The soul was here at tick {tick}.\n"}},
            {"action": "read_file", "params": {"path": NOTE}},
        ],
    ),
    Item(
        "endpoint",
        "keep an endpoint healthy",
        lambda tick, url: [{"action": "call_paid_endpoint", "params": {"url": url, "max_amount": 0}}] if url else [],
    ),
    Item("peers", "explore peers", lambda tick, url: [{"action": "discover_peers", "params": {}}]),
)
BY_TEXT = {item.text: item for item in AGENDA}


def template(item: Item, tick: int, url: str, tools: Tools) -> list[dict[str, Any]] | None:
    """The item's steps checked against the registered tools, or None when they cannot run here."""
    try:
        return steps_from(item.steps(tick, url), tools)
    except PlanError:
        return None


def next_item(last: dict[str, float], now: float, every: float, tick: int, url: str, tools: Tools) -> Item | None:
    """The runnable item set least recently, if it was not set within the last `every` seconds."""
    runnable = [item for item in AGENDA if template(item, tick, url, tools) is not None]
    due = [item for item in runnable if now - last.get(item.key, float("-inf")) >= every]
    return min(due, key=lambda item: last.get(item.key, float("-inf")), default=None)
