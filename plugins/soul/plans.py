"""Plans: typed steps parsed from replies and proposals, checked against the registered tools' schemas."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from colony.core import ToolError, validate_arguments

log = logging.getLogger("colony.plugin.soul")

MAX_STEPS = 20  # the seed's planning prompt allows 20 steps
MAX_REPLAN_STEPS = 15  # and its replan prompt 15 replacement steps
ACTION_KEYS = ("action", "type", "tool")
Tools = Mapping[str, Mapping[str, Any]]  # tool name -> its parameters schema


class PlanError(ValueError):
    """A plan that cannot run: not JSON, empty, too long, or naming unknown tools or bad arguments."""


def written(text: str) -> Any:
    """The JSON value when the whole of `text` is JSON (a nudge that spells out its steps), else None."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def new_step(action: str, params: dict[str, Any]) -> dict[str, Any]:
    """A pending plan step."""
    return {"action": action, "params": params, "status": "pending", "result": None}


def steps_from(raw: Any, tools: Tools, limit: int = MAX_STEPS) -> list[dict[str, Any]]:
    """Pending steps from a JSON plan (a list of steps, or an object holding "steps"), each checked against `tools`."""
    if isinstance(raw, dict) and "steps" in raw:
        raw = raw["steps"]
    if not isinstance(raw, list) or not raw:
        raise PlanError("a plan is a non-empty JSON array of steps")
    if len(raw) > limit:
        raise PlanError(f"a plan has at most {limit} steps, not {len(raw)}")
    return [step_from(item, tools, number) for number, item in enumerate(raw, 1)]


def step_from(item: Any, tools: Tools, number: int) -> dict[str, Any]:
    """One checked step from `{"action": tool, "params": {...}}` (or the seed's `{"type": tool, ...args}`)."""
    if not isinstance(item, dict):
        raise PlanError(f"step {number} is not an object")
    action = next((item[key] for key in ACTION_KEYS if key in item), None)
    if not isinstance(action, str) or not action:
        raise PlanError(f"step {number} names no action")
    if action not in tools:
        raise PlanError(f"step {number}: unknown tool {action[:64]!r}")
    if "params" in item or "args" in item:
        params = item.get("params", item.get("args"))
    else:
        params = {key: value for key, value in item.items() if key not in (*ACTION_KEYS, "store_as")}
    try:
        return new_step(action, validate_arguments(tools[action], params))
    except ToolError as exc:
        raise PlanError(f"step {number} ({action}): {exc}") from None


def best_proposal(proposals: list[tuple[str, Any]], tools: Tools, floor: float) -> tuple[str, dict[str, Any], list[dict[str, Any]]] | None:
    """The most confident runnable proposal at or above `floor`: (plugin, proposal, steps); the first wins ties."""
    best: tuple[float, str, dict[str, Any], list[dict[str, Any]]] | None = None
    for plugin, proposal in proposals:
        if not isinstance(proposal, dict):
            continue
        confidence = proposal.get("confidence")
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not math.isfinite(confidence):
            log.info("ignoring %s's proposal: its confidence is not a number", plugin)
            continue
        try:
            steps = steps_from(proposal.get("steps"), tools)
        except PlanError as exc:
            log.info("ignoring %s's proposal: %s", plugin, exc)
            continue
        if confidence >= floor and (best is None or confidence > best[0]):
            best = (float(confidence), plugin, proposal, steps)
    return None if best is None else best[1:]


def pending(plan: dict[str, Any]) -> list[int]:
    """Indices of the plan's steps still to run."""
    return [index for index, step in enumerate(plan["steps"]) if step["status"] == "pending"]


def replace_rest(plan: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    """Drop the plan's pending steps and append `steps` in their place (finished steps stay as history)."""
    plan["steps"] = [step for step in plan["steps"] if step["status"] != "pending"] + steps


def describe(steps: list[dict[str, Any]]) -> str:
    """`read_file, write_file` for a list of steps."""
    return ", ".join(step["action"] for step in steps)
