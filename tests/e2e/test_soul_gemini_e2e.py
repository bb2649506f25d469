"""The real google-genai client, through a running node's soul, against FakeGemini on loopback.

A node runs the soul, the tools, models and the nine cognitive systems; FakeGemini checks what
Gemini checks (the key, thought signatures echoed, one function response per call) and answers
from a script. The tests go through what an LLM does to a node: chat and plans that call tools
with signed function calls, a 429, a malformed reply, a reply that is not JSON, a tool that does
not exist, and a model that calls the same tool over and over. The node never crashes, learns
nothing from the 429, and ends healthy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colony.testing import FakeGemini, RunningNode
from colony.testing.gemini import function_call, function_calls, malformed, rate_limited, text
from tests.e2e.conftest import COGNITION, healthy

KEY = "gemini-e2e-not-a-real-key"
PLUGINS = ("soul", "tools", "models", *COGNITION)


def plan(*steps: dict[str, Any]) -> dict[str, Any]:
    """A reply whose text is a JSON plan."""
    return text(json.dumps({"steps": list(steps), "why": "scripted"}))


def step(action: str, **params: Any) -> dict[str, Any]:
    return {"action": action, "params": params}


NOTE = (step("write_file", path="notes/e2e.md", content="written by the soul\n"), step("read_file", path="notes/e2e.md"))


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini([], api_key=KEY) as fake:
        yield fake


@pytest.fixture
def node(tmp_path: Path, gemini: FakeGemini) -> Iterator[RunningNode]:
    """The soul with a key, pointed at FakeGemini, thinking on every tick about the operator's goals only."""
    soul = {"api_key": KEY, "gemini_base_url": gemini.url, "think_every_llm": 1, "think_every_idle": 1, "autonomous": False}
    config = {"plugin": {"soul": soul, "models": {"interval": 0}}}
    with RunningNode(tmp_path / "home", plugins=PLUGINS, config=config) as running:
        assert healthy(running), running.call("plugins.list")
        yield running


def signatures(request: dict[str, Any]) -> list[bytes]:
    """The thought signatures a request echoes back, in history order."""
    return [base64.urlsafe_b64decode(part["thoughtSignature"]) for content in request["contents"] for part in content["parts"]
            if "thoughtSignature" in part]


def responses(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The function responses the last turn of a request sends."""
    return [part["functionResponse"]["response"] for part in request["contents"][-1]["parts"] if "functionResponse" in part]


def events_since(node: RunningNode, seq: int) -> list[dict[str, Any]]:
    return [e for e in node.call("events.recent", limit=1000) if e["seq"] > seq]


def last_seq(node: RunningNode) -> int:
    recent = node.call("events.recent", limit=1)
    return recent[-1]["seq"] if recent else 0


def statuses(tick: dict[str, Any]) -> list[str]:
    return [s["status"] for s in tick["steps"]]


def goal_done(node: RunningNode, text: str) -> dict[str, Any]:
    """The goal with `text`, which must have finished."""
    (goal,) = [g for g in node.call("soul.goals", all=True) if g["text"] == text]
    assert goal["status"] == "done", goal
    return goal


def test_chat_and_plans_call_tools_and_echo_thought_signatures(node: RunningNode, gemini: FakeGemini) -> None:
    gemini.responder = [
        function_call("write_file", {"path": "chat.txt", "content": "hello\n"}, thought_signature=b"sig-write"),
        function_call("read_file", {"path": "chat.txt"}, thought_signature=b"\xfe\xff sig-read"),
        text("chat.txt says hello."),
    ]
    answer = node.call("soul.chat", message="write hello to chat.txt and read it back")
    assert answer == {"reply": "chat.txt says hello.", "tier": "T1", "calls": [
        {"name": "write_file", "args": {"path": "chat.txt", "content": "hello\n"}, "ok": True},
        {"name": "read_file", "args": {"path": "chat.txt"}, "ok": True}]}
    assert (node.home / "workspace" / "chat.txt").read_text() == "hello\n"
    assert [signatures(r) for r in gemini.requests] == [[], [b"sig-write"], [b"sig-write", b"\xfe\xff sig-read"]]
    assert responses(gemini.requests[2]) == [{"output": {"path": "chat.txt", "content": "hello\n", "size": 6, "offset": 0,
                                                          "bytes": 6, "truncated": False, "binary": False}}]

    # A plan: the model looks around with two signed parallel calls, then answers with JSON.
    gemini.requests.clear()
    gemini.responder = [function_calls(("list_dir", {"path": "."}), ("search_code", {"pattern": "hello"}), thought_signature=b"sig-plan"),
                        plan(*NOTE)]
    node.call("soul.nudge", text="keep a note")
    tick = node.tick()
    assert tick["planner"] == "soul" and statuses(tick) == ["ok", "ok"]
    assert tick["gate"]["decision"]["tier"] in ("T1", "T2")
    first, second = gemini.requests
    declared = {d["name"] for tool in first["tools"] for d in tool["functionDeclarations"]}
    assert declared == {"read_file", "write_file", "list_dir", "search_code", "run_shell", "think"}
    assert "generationConfig" not in first or "responseMimeType" not in first["generationConfig"]  # JSON is asked in words
    assert "Answer with JSON only" in first["contents"][0]["parts"][0]["text"]
    assert signatures(second) == [b"sig-plan"] and len(responses(second)) == 2
    goal = goal_done(node, "keep a note")
    assert goal["plan"]["source"] == "llm" and [s["action"] for s in goal["plan"]["steps"]] == ["write_file", "read_file"]
    assert (node.home / "workspace" / "notes" / "e2e.md").read_text() == "written by the soul\n"
    # Every call, the model's four and the plan's two steps, went through the tool-call budget.
    assert node.call("node.budgets")["kinds"]["tool_calls"]["day_used"] == 6
    assert healthy(node)


def learned(node: RunningNode) -> dict[str, Any]:
    """What the systems learn from steps; what moves on every tick anyway (evaporation, dreams, F, Ψ, trust by Brier) is left out."""
    brain, cortex, genesis = node.call("brain.state"), node.call("cortex.state"), node.call("genesis.state")
    hivemind, synthesis = node.call("hivemind.state"), node.call("synthesis.state")
    feedback = node.call("feedback.lessons", limit=100)
    return {
        "brain": {k: brain[k] for k in ("outcomes", "examples", "predictions")},
        "cortex": {k: cortex[k] for k in ("models", "predictions")},
        "genesis": genesis["created"] - genesis["crossovers"] - genesis["mutations"],
        "hivemind": hivemind["deposits"],
        "synthesis": {k: synthesis[k] for k in ("predictions", "records", "conflicts")},
        "evaluation": node.call("evaluation.report")["records"],
        "feedback": {k: feedback[k] for k in ("outcomes", "errors", "capabilities", "rules")},
        "autonomy": node.call("autonomy.status")["recent_files"],
        "soul": {k: v for k, v in node.call("node.metrics")["soul"].items() if k in ("plans", "steps_ok", "steps_failed", "goals_done")},
    }


def test_a_429_makes_no_plan_and_teaches_nothing(node: RunningNode, gemini: FakeGemini) -> None:
    gemini.responder = [plan(*NOTE)]
    node.call("soul.nudge", text="keep a note")
    assert statuses(node.tick()) == ["ok", "ok"]

    gemini.responder = [rate_limited("7s")]
    node.call("soul.nudge", text="tidy the notes")
    before, seq = learned(node), last_seq(node)
    limited = node.tick()
    assert limited["planner"] == "" and limited["steps"] == [] and limited["outcome"]["errors"] == 0
    assert learned(node) == before
    published = events_since(node, seq)
    assert [e["data"] for e in published if e["topic"] == "soul.rate_limited"] == [{"tier": limited["gate"]["decision"]["tier"], "retry_after": 7.0}]
    assert not [e for e in published if e["topic"] in ("soul.lesson", "soul.plan", "soul.step", "feedback.outcome")]
    (goal,) = node.call("soul.goals")
    assert (goal["text"], goal["plan"], goal["retries"]) == ("tidy the notes", None, 0)
    assert node.call("node.metrics")["soul"]["rate_limited"] == 1

    # The quota is back: the same goal is planned and carried out, and the systems learn from it.
    gemini.responder = [plan(step("list_dir", path="notes"))]
    assert statuses(node.tick()) == ["ok"]
    goal_done(node, "tidy the notes")
    after = learned(node)
    assert after["cortex"]["models"] != before["cortex"]["models"] and after["evaluation"] > before["evaluation"]
    assert healthy(node)


@pytest.mark.parametrize(
    ("replies", "lesson"),
    [
        ([malformed()], "the LLM failed: malformed reply from Gemini"),
        ([malformed(b"{not json")], "the LLM failed: malformed reply from Gemini"),
        ([text("Sure! I will tidy up right away.")], "the LLM failed: the answer is not JSON"),
        ([plan(step("launch_rocket", target="moon"))], "step 1: unknown tool 'launch_rocket'"),
    ],
    ids=["malformed", "not-json-body", "not-json-answer", "unknown-tool"],
)
def test_a_bad_reply_fails_the_plan_with_a_lesson_and_the_retry_works(
    node: RunningNode, gemini: FakeGemini, replies: list[Any], lesson: str
) -> None:
    gemini.responder = [*replies, plan(*NOTE)]
    node.call("soul.nudge", text="keep a note")
    failed = node.tick()
    assert failed["steps"] == [] and failed["outcome"]["errors"] == 0
    (goal,) = node.call("soul.goals")
    assert goal["retries"] == 1 and goal["plan"]["status"] == "failed" and lesson in goal["plan"]["failure"]["error"]
    assert lesson in node.call("soul.status")["lessons"][-1]
    assert healthy(node)

    retried = node.tick()
    assert retried["gate"]["decision"] == {"tier": "T2", "reason": "retrying a goal whose plan failed"}
    assert statuses(retried) == ["ok", "ok"]
    goal_done(node, "keep a note")
    assert healthy(node)


def test_an_unknown_tool_call_goes_back_to_the_model(node: RunningNode, gemini: FakeGemini) -> None:
    gemini.responder = [function_call("launch_rocket", {"target": "moon"}, thought_signature=b"rocket"), plan(*NOTE)]
    node.call("soul.nudge", text="keep a note")
    assert statuses(node.tick()) == ["ok", "ok"]
    (refused,) = responses(gemini.requests[1])
    assert refused["error"].startswith("unknown tool 'launch_rocket'; the tools are: ")
    assert signatures(gemini.requests[1]) == [b"rocket"]
    assert node.call("node.budgets")["kinds"]["tool_calls"]["day_used"] == 2  # the unknown call cost nothing
    assert healthy(node)


def test_a_looping_llm_trips_the_guard(node: RunningNode, gemini: FakeGemini) -> None:
    looking = function_call("list_dir", {"path": "."})
    again = step("think", thought="one more time")
    gemini.responder = [looking] * 5 + [plan(again, again, again, again)]
    node.call("soul.nudge", text="think it over")
    tick = node.tick()
    # The model's 4th and 5th identical calls were refused, and so was the plan's 4th identical step.
    refused = [responses(request)[0].get("error", "").startswith("repeated action 'list_dir'") for request in gemini.requests[1:6]]
    assert refused == [False, False, False, True, True]
    assert statuses(tick) == ["ok", "ok", "ok", "refused"]
    assert tick["steps"][3]["results"]["kernel"]["refused"] == "repeat"
    guard = node.call("node.budgets")["guard"]
    assert guard["trips"] == 3
    assert [(t["action"], t["count"]) for t in guard["recent_trips"]] == [("list_dir", 4), ("list_dir", 4), ("think", 4)]
    assert len(node.call("events.recent", topics=["guard.tripped"])) == 3
    (goal,) = node.call("soul.goals")
    assert goal["plan"]["failure"]["status"] == "refused" and "repeated action 'think'" in goal["plan"]["failure"]["error"]
    assert "repeated action 'think'" in node.call("soul.status")["lessons"][-1]

    # The replan is asked not to retry the same call, and a different plan finishes the goal.
    gemini.responder = [plan(*NOTE)]
    replanned = node.tick()
    assert replanned["gate"]["decision"] == {"tier": "T2", "reason": "replanning after a failure"}
    assert "Do not just retry the same call." in gemini.requests[-1]["contents"][0]["parts"][0]["text"]
    assert statuses(replanned) == ["ok", "ok"]
    goal = goal_done(node, "think it over")
    assert goal["plan"]["replans"] == 1
    assert healthy(node)


def test_nothing_an_llm_says_crashes_the_node(node: RunningNode, gemini: FakeGemini) -> None:
    hostile = [
        ((200, b"\x00\xff not json at all"), "malformed reply from Gemini"),
        ((200, {"candidates": []}), "Gemini returned no content"),
        ((200, {"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": 7, "args": "x"}}]}}]}),
         "malformed reply from Gemini"),
        ((503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}), "Gemini API 503 UNAVAILABLE: overloaded"),
        (text('```json\n{"steps": [{"action": "write_file", "params": {"path": 3, "content": ""}}]}\n```'),
         "step 1 (write_file): argument 'path' must be string"),
        (text(json.dumps({"steps": [step("think", thought="x")] * 21})), "a plan has at most 20 steps, not 21"),
    ]
    for number, (reply, lesson) in enumerate(hostile):
        gemini.responder = [reply, plan(*NOTE)]  # then a good plan, which also keeps the failure breaker shut
        node.call("soul.nudge", text=f"survive reply {number}")
        failed = node.tick()
        assert failed["steps"] == [] and failed["outcome"]["errors"] == 0
        assert lesson in node.call("soul.status")["lessons"][-1]
        assert statuses(node.tick()) == ["ok", "ok"]
        goal_done(node, f"survive reply {number}")
    answer = node.call("soul.chat", message="are you all right?")
    assert answer["tier"] == "T0" and answer["reply"].startswith("(The LLM failed: ")  # the script ran out: a 500
    assert healthy(node)
