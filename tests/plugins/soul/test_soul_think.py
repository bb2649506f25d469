"""T1 and T2 against the loopback Gemini: plans from the LLM with function declarations, bad replies, 429s, chat."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from colony.plugins.soul.loop import goal_texts
from colony.plugins.soul.toolbox import kept
from colony.testing import RunningNode
from colony.testing.gemini import FakeGemini, function_call, malformed, rate_limited, text

KEY = "test-key-not-secret"


def plan(*steps: dict[str, Any], why: str = "because") -> dict[str, Any]:
    """A text reply holding a JSON plan."""
    return text(json.dumps({"steps": list(steps), "why": why}))


def echo(word: str) -> dict[str, Any]:
    return {"action": "echo", "params": {"text": word}}


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini([], api_key=KEY) as fake:
        yield fake


@pytest.fixture
def llm_node(soul_node: Callable[..., RunningNode], gemini: FakeGemini) -> Callable[..., RunningNode]:
    """A soul with a key, pointed at the fake Gemini, thinking every tick."""

    def start(**config: Any) -> RunningNode:
        return soul_node(**{"api_key": KEY, "gemini_base_url": gemini.url, "think_every_llm": 1} | config)

    return start


def lessons(node: RunningNode) -> list[str]:
    return node.call("soul.status")["lessons"]


def test_a_t1_plan_comes_from_the_llm_which_may_call_tools_first(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [function_call("boom", {}, thought_signature=b"plan"), plan(echo("from-llm"), why="asked")]
    node = llm_node()
    assert node.call("soul.status")["llm"] is True
    node.call("soul.nudge", text="say something")
    tick = node.tick()
    assert tick["gate"]["decision"] == {"tier": "T1", "reason": "normal"}
    assert [(s["action"], s["status"]) for s in tick["steps"]] == [("echo", "ok")]
    (goal,) = node.call("soul.goals", all=True)
    assert goal["status"] == "done" and goal["plan"]["source"] == "llm" and goal["plan"]["why"] == "asked"

    first = gemini.requests[0]
    declared = {d["name"] for tool in first["tools"] for d in tool["functionDeclarations"]}
    assert declared == {"echo", "fail", "boom", "slow"}
    prompt = first["contents"][0]["parts"][0]["text"]
    assert "Goal: say something" in prompt and "echo | Write TEXT to echoed.txt. | text*:string" in prompt
    assert gemini.models == ["gemini-2.5-flash", "gemini-2.5-flash"]
    # The model's call of `boom` went through the kernel's budget: one tool call for it, one for the step.
    budgets = node.call("node.budgets")["kinds"]
    assert budgets["tool_calls"]["day_used"] == 2 and budgets["tokens"]["day_used"] > 0
    assert node.call("node.metrics")["soul"]["llm_calls"] == 1


def test_an_unknown_tool_fails_the_plan_with_a_lesson_then_t2_replans(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [plan({"action": "rm_rf", "params": {"path": "/"}}), plan(echo("fine"))]
    node = llm_node()
    goal = node.call("soul.nudge", text="tidy up")
    first = node.tick()
    assert first["steps"] == [] and first["outcome"]["errors"] == 0
    (waiting,) = node.call("soul.goals")
    assert waiting["retries"] == 1 and waiting["plan"]["status"] == "failed"
    assert "the LLM's plan was unusable: step 1: unknown tool 'rm_rf'" in lessons(node)[-1]
    second = node.tick()
    assert second["gate"]["decision"] == {"tier": "T2", "reason": "retrying a goal whose plan failed"}
    assert [s["status"] for s in second["steps"]] == ["ok"]
    assert gemini.models == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert node.call("soul.goals", all=True)[0] == node.call("soul.goals", all=True)[0] | {"id": goal["id"], "status": "done"}


@pytest.mark.parametrize(
    ("reply", "lesson"),
    [
        (text("Sure! I will tidy up."), "the LLM failed: the answer is not JSON"),
        (malformed(), "the LLM failed: malformed reply from Gemini"),
        (text('{"steps": "all of them"}'), "a plan is a non-empty JSON array of steps"),
    ],
)
def test_bad_llm_replies_fail_the_plan_with_a_lesson(llm_node: Callable[..., RunningNode], gemini: FakeGemini, reply: Any, lesson: str) -> None:
    gemini.responder = [reply, reply]
    node = llm_node(goal_retries=2)
    node.call("soul.nudge", text="tidy up")
    records = [node.tick(), node.tick()]
    assert all(r["steps"] == [] and r["outcome"]["errors"] == 0 for r in records)
    (goal,) = node.call("soul.goals", all=True)
    assert goal["status"] == "failed" and lesson in goal["reason"]
    assert lesson in lessons(node)[-1]


def test_a_failed_step_is_replanned_by_the_llm(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [plan({"action": "fail", "params": {"reason": "first try"}}, echo("next")), plan(echo("second try"))]
    node = llm_node()
    node.call("soul.nudge", text="get it done")
    first = node.tick()
    assert [s["status"] for s in first["steps"]] == ["failed", "unhandled"]
    second = node.tick()
    assert second["gate"]["decision"]["tier"] == "T2" and second["gate"]["decision"]["reason"] == "replanning after a failure"
    assert [(s["params"], s["status"]) for s in second["steps"]] == [({"text": "second try"}, "ok")]
    replan = gemini.requests[1]["contents"][0]["parts"][0]["text"]
    assert "The plan failed at fail: failed on purpose: first try" in replan and "Do not just retry the same call." in replan
    (goal,) = node.call("soul.goals", all=True)
    assert goal["status"] == "done" and goal["plan"]["replans"] == 1
    assert [s["status"] for s in goal["plan"]["steps"]] == ["failed", "ok"]


def test_a_429_makes_no_plan_and_teaches_nothing(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [rate_limited("7s"), plan(echo("after the quota"))]
    node = llm_node()
    node.call("soul.nudge", text="wait for it")
    limited = node.tick()
    assert limited["planner"] == "" and limited["steps"] == [] and limited["outcome"]["errors"] == 0
    (goal,) = node.call("soul.goals")
    assert goal["plan"] is None and goal["retries"] == 0
    assert lessons(node) == []
    events = node.call("events.recent", topics=["soul.rate_limited"])
    assert [e["data"] for e in events] == [{"tier": "T1", "retry_after": 7.0}]
    assert node.call("node.metrics")["soul"]["rate_limited"] == 1
    assert [s["status"] for s in node.tick()["steps"]] == ["ok"]


def test_the_llm_sets_goals_and_a_confident_proposal_spares_the_plan_call(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [text(json.dumps({"goals": [{"text": "echo self made", "priority": 3}, {"text": "echo self made too"}]}))]
    node = llm_node(autonomous=True)
    tick = node.tick()
    assert [s["params"] for s in tick["steps"]] == [{"text": "self"}, {"text": "made"}]
    goals = node.call("soul.goals", all=True)
    assert [(g["text"], g["source"], g["status"]) for g in goals] == [("echo self made", "llm", "done")]  # the second was too similar
    assert len(gemini.requests) == 1 and goals[0]["plan"]["source"] == "autonomy"


def test_chat_at_t1_uses_tools_through_the_budget(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [function_call("echo", {"text": "chatty"}, thought_signature=b"sig"), text("I echoed it.")]
    node = llm_node()
    answer = node.call("soul.chat", message="echo chatty please")
    assert answer == {"reply": "I echoed it.", "tier": "T1", "calls": [{"name": "echo", "args": {"text": "chatty"}, "ok": True}]}
    assert (node.home / "echoed.txt").read_text() == "chatty\n"
    assert node.call("node.budgets")["kinds"]["tool_calls"]["day_used"] == 1
    assert "The operator says:\necho chatty please" in gemini.requests[0]["contents"][0]["parts"][0]["text"]

    gemini.responder = [rate_limited()]
    limited = node.call("soul.chat", message="again?")
    assert limited["tier"] == "T0" and limited["reply"].startswith("(The LLM is rate limited or out of budget; answering from my state.)")


def test_low_budget_thinks_at_t0(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    node = llm_node(budgets={"tokens": {"per_day": 5000}})
    node.call("soul.nudge", text="echo cheap")
    tick = node.tick()
    assert tick["gate"]["decision"] == {"tier": "T0", "reason": "LLM budget low"}
    assert [s["status"] for s in tick["steps"]] == ["ok"] and gemini.requests == []


def test_after_an_llm_call_the_soul_rests_think_every_llm_ticks(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [plan(echo("a"), echo("b"), echo("c"))]
    node = llm_node(think_every_llm=3, steps_per_tick=1)
    node.call("soul.nudge", text="three words")
    records = [node.tick() for _ in range(5)]
    assert [bool(r["gate"]["decision"]) for r in records] == [True, False, False, True, True]
    assert [len(r["steps"]) for r in records] == [1, 0, 0, 1, 1]


def test_the_guard_stops_an_llm_calling_the_same_tool_over_and_over(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    same = function_call("echo", {"text": "again"})
    gemini.responder = [same, same, same, same, function_call("echo", {}), text("I kept trying.")]
    node = llm_node()
    answer = node.call("soul.chat", message="echo again, a lot")
    assert [call["ok"] for call in answer["calls"]] == [True, True, True, False, False]
    assert answer["reply"] == "I kept trying." and answer["tier"] == "T1"
    refused = gemini.requests[4]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert "repeated action 'echo'" in refused["error"]
    missing = gemini.requests[5]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert missing == {"error": "missing required argument: text"}
    assert (node.home / "echoed.txt").read_text() == "again\n" * 3


@pytest.mark.parametrize(
    ("data", "goals"),
    [
        ({"goals": [{"text": " a ", "priority": 9}, {"text": "b", "priority": True}, {"text": ""}, "c", {"priority": 2}]}, [("a", 5), ("b", 2)]),
        ([{"op": "create_goal", "description": "seed style", "priority": 0}], [("seed style", 1)]),
        ("not a list", []),
        ({"goals": {"text": "x"}}, []),
        (None, []),
    ],
)
def test_goal_answers_are_read_defensively(data: Any, goals: list[tuple[str, int]]) -> None:
    assert goal_texts(data) == goals


def test_long_step_results_are_clipped_for_the_plan() -> None:
    short = {"ok": True, "output": {"text": "hi"}}
    assert kept(short) is short
    clipped = kept({"ok": True, "output": "x" * 5000})
    assert clipped["ok"] is True and len(clipped["clipped"]) == 2000


def test_a_hard_free_energy_regime_thinks_at_t2(llm_node: Callable[..., RunningNode], gemini: FakeGemini) -> None:
    gemini.responder = [plan(echo("deep"))]
    node = llm_node(also=["free_energy"])
    node.call("soul.nudge", text="think hard")
    tick = node.tick()
    regime = tick["observations"]["free_energy"]["regime"]
    assert regime in ("explore", "anomaly")  # a node that has learned nothing is uncertain
    assert tick["gate"]["decision"] == {"tier": "T2", "reason": f"free-energy regime {regime}"}
    assert gemini.models == ["gemini-2.5-pro"] and [s["status"] for s in tick["steps"]] == ["ok"]
