"""What the soul tells the LLM: the system prompt, and the planning, replanning, goal and chat prompts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .plans import MAX_REPLAN_STEPS, MAX_STEPS

SYSTEM = (
    "You are the soul of a colony node: an autonomous agent that earns, thinks and learns. You act only "
    "through the tools you are given, inside the node's workspace. Prefer small, concrete steps whose "
    "success can be checked; read before you change anything; never repeat a call that just failed "
    "without changing it. Never reveal keys or secrets."
)
PLAN_REPLY = (
    'Answer with JSON only: {"steps": [{"action": "<tool name>", "params": {...}}, ...], "why": "<one line>"}. '
    "Use only the tools listed, with the parameters their schemas declare."
)
SHOWN = 300  # characters of any one value shown in a prompt


def cell(value: Any) -> str:
    """One table cell in TOON style: `-` for nothing, yes/no for booleans, compact JSON otherwise."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text.replace("\n", " ").replace("|", "/")[:SHOWN]


def toon(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as a pipe table: the union of keys in first-seen order, columns empty in every row dropped."""
    rows = list(rows)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    keys = [key for key in keys if any(cell(row.get(key)) != "-" for row in rows)]
    if not keys:
        return "(none)"
    return "\n".join([" | ".join(keys), *(" | ".join(cell(row.get(key)) for key in keys) for row in rows)])


def tool_table(declarations: list[dict[str, Any]]) -> str:
    """The tools as `name | description | params`, required parameters marked with `*`."""
    rows = []
    for decl in declarations:
        schema = decl["parameters"]
        required = set(schema.get("required", []))
        params = ", ".join(
            f"{name}{'*' if name in required else ''}:{prop.get('type', 'any')}" for name, prop in schema.get("properties", {}).items()
        )
        rows.append({"name": decl["name"], "description": decl["description"], "params": params})
    return toon(rows)


def situation(observations: Mapping[str, Any], lessons: list[str]) -> str:
    """The observations that shape a plan (free energy, drive, diagnosis) and recent lessons."""
    lines = []
    energy = observations.get("free_energy")
    if isinstance(energy, Mapping):
        lines.append(f"free energy F={cell(energy.get('F'))} trend={cell(energy.get('trend'))} regime={cell(energy.get('regime'))}")
    cortex = observations.get("cortex")
    if isinstance(cortex, Mapping):
        lines.append(f"drive {cell(cortex.get('drive'))}, curiosity {cell(cortex.get('curiosity'))}")
    autonomy = observations.get("autonomy")
    if isinstance(autonomy, Mapping) and autonomy.get("diagnosis"):
        lines.append(f"diagnosis: {cell(autonomy['diagnosis'])}")
    if lessons:
        lines.append("recent lessons:\n" + "\n".join(f"- {cell(lesson)}" for lesson in lessons[-5:]))
    return "\n".join(lines) or "(nothing observed yet)"


def planning(goal: Mapping[str, Any], declarations: list[dict[str, Any]], context: str, hints: list[dict[str, Any]]) -> str:
    """Ask for a plan for `goal`."""
    parts = [
        f"Goal: {cell(goal['text'])}",
        f"Tools:\n{tool_table(declarations)}",
        f"Situation:\n{context}",
    ]
    if hints:
        parts.append("Plans the colony's learned systems suggest:\n" + toon(hints))
    parts.append(f"Make a plan of at most {MAX_STEPS} steps that achieves the goal. Investigate first. {PLAN_REPLY}")
    return "\n\n".join(parts)


def replanning(goal: Mapping[str, Any], plan: Mapping[str, Any], declarations: list[dict[str, Any]], context: str) -> str:
    """Ask for replacement steps after the plan's failure."""
    failure = plan.get("failure") or {}
    done = [{"action": s["action"], "params": s["params"], "status": s["status"]} for s in plan["steps"] if s["status"] != "pending"]
    return "\n\n".join(
        [
            f"Goal: {cell(goal['text'])}",
            f"Steps so far:\n{toon(done)}",
            f"The plan failed at {cell(failure.get('action'))}: {cell(failure.get('error'))}",
            f"Tools:\n{tool_table(declarations)}",
            f"Situation:\n{context}",
            f"Give at most {MAX_REPLAN_STEPS} replacement steps for the rest of the plan. Do not just retry the same call. {PLAN_REPLY}",
        ]
    )


def goal_setting(active: list[Mapping[str, Any]], context: str, agenda: list[str]) -> str:
    """Ask for one or two new goals."""
    return "\n\n".join(
        [
            "Active goals:\n" + (toon({"goal": g["text"], "priority": g["priority"]} for g in active) if active else "(none)"),
            f"Situation:\n{context}",
            "Standing agenda, for ideas:\n" + "\n".join(f"- {item}" for item in agenda),
            'Set one or two new concrete goals the tools can achieve. Answer with JSON only: '
            '{"goals": [{"text": "<goal>", "priority": 1-5}]}',
        ]
    )


def chat(message: str, state: str) -> str:
    """The operator's message with the soul's own state for context."""
    return f"Your state:\n{state}\n\nThe operator says:\n{message}\n\nAnswer the operator briefly; use tools when they help."
