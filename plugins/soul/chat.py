"""Talking with the operator: answers from the soul's own state at T0, through the LLM and its tools at T1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import prompts

if TYPE_CHECKING:
    from .loop import Soul

KEY = "chat"
KEPT = 100  # messages kept in the store
SHOWN = 4000  # characters of one message kept


def from_state(soul: Soul) -> str:
    """What the soul can say without an LLM: its tier, goal, plan, breaker and recent lessons."""
    lines = [f"I think at {soul.tier} ({soul.reason})."]
    if soul.llm is None:
        lines.append("I have no LLM (no GEMINI_API_KEY), so I answer from my state.")
    goal = soul.goals.top()
    if goal is None:
        lines.append("I have no goal.")
    else:
        lines.append(f"My goal is {goal['id']}: {goal['text']} (priority {goal['priority']}, from {goal['source']}).")
        plan = goal["plan"]
        if plan is None:
            lines.append(f"It has no plan yet{': ' + goal['reason'] if goal['reason'] else ''}.")
        else:
            waiting = "" if plan["approved"] else ", awaiting approval"
            steps = ", ".join(f"{s['action']} {s['status']}" for s in plan["steps"]) or "no steps"
            lines.append(f"Plan {plan['id']} ({plan['source']}, {plan['status']}{waiting}): {steps}.")
        others = len(soul.goals.active()) - 1
        if others:
            lines.append(f"{others} more goal{'s' if others > 1 else ''} wait{'' if others > 1 else 's'}.")
    if soul.breaker.is_open(soul.now()):
        lines.append(f"My circuit breaker is open: {soul.breaker.reason}.")
    lessons = soul.recent_lessons(3)
    if lessons:
        lines.append("Recent lessons:\n" + "\n".join(f"- {lesson}" for lesson in lessons))
    return "\n".join(lines)


def history(soul: Soul) -> list[dict[str, Any]]:
    """The stored conversation, oldest first."""
    stored = soul.ctx.store.get(KEY, [])
    return [m for m in stored if isinstance(m, dict) and isinstance(m.get("text"), str)] if isinstance(stored, list) else []


async def answer(soul: Soul, message: str) -> dict[str, Any]:
    """Reply to the operator: `{"reply", "tier", "calls"}`; never fails for want of a key or budget."""
    config = soul.config
    tier, _ = soul.choose("")
    state = from_state(soul)
    if tier == "T0":
        text, calls = state, []
    else:
        reply = await soul.ask(tier, prompts.chat(message, state), tools=True, max_calls=config["chat_calls"], timeout=config["chat_timeout"])
        calls = [{"name": c["name"], "args": c["args"], "ok": c["ok"]} for c in reply.calls] if reply else []
        if reply is None:
            tier, text = "T0", f"(The LLM is rate limited or out of budget; answering from my state.)\n{state}"
        elif not reply.ok:
            tier, text = "T0", f"(The LLM failed: {reply.error}; answering from my state.)\n{state}"
        else:
            text = reply.text
    await remember(soul, message, text)
    return {"reply": text, "tier": tier, "calls": calls}


async def remember(soul: Soul, message: str, reply: str) -> None:
    """Append the exchange to the stored conversation."""
    now = soul.now()
    entries = [{"role": "operator", "text": message[:SHOWN], "at": now}, {"role": "soul", "text": reply[:SHOWN], "at": now}]
    await soul.ctx.store.put(KEY, (history(soul) + entries)[-KEPT:])
