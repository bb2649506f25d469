"""The operator's side: status, chat at T0, plan approval and rejection, the panel, and hostile params."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, RPCError
from colony.plugins.soul.llm import parse_json
from colony.plugins.soul.plans import PlanError, steps_from
from colony.testing import FakeClock, RunningNode


@pytest.fixture
def node(soul_node: Callable[..., RunningNode]) -> RunningNode:
    return soul_node()


def test_status_has_the_contract_shape_and_chat_answers_from_state_at_t0(node: RunningNode) -> None:
    status = node.call("soul.status")
    assert {"tier", "llm", "goal", "plan", "lessons", "budgets", "breaker", "chat"} <= set(status)
    assert status["budgets"]["kinds"]["tool_calls"]["tick_limit"] == 20
    assert status["breaker"] == {"open": False, "reason": ""} and status["chat"] == []

    node.call("soul.nudge", text="echo x y", priority=6)
    node.call("soul.nudge", text="echo later", priority=1)
    answer = node.call("soul.chat", message="what are you doing?")
    assert answer["tier"] == "T0" and answer["calls"] == []
    assert "no GEMINI_API_KEY" in answer["reply"]
    assert "My goal is g1: echo x y (priority 6, from nudge)." in answer["reply"]
    assert "It has no plan yet." in answer["reply"] and "1 more goal waits." in answer["reply"]

    node.tick()
    reply = node.call("soul.chat", message="and now?")["reply"]
    assert "My goal is g2: echo later" in reply and "SUCCESS: echo x y: echo, echo. Approach worked." in reply
    chat = node.call("soul.status")["chat"]
    assert [(m["role"], m["text"]) for m in chat[:3]] == [("operator", "what are you doing?"), ("soul", answer["reply"]), ("operator", "and now?")]


def test_new_plans_wait_for_approval(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(approve_plans=True, approval_timeout=0.0)
    goal = node.call("soul.nudge", text="echo approved")
    assert node.tick()["steps"] == []
    (plan,) = node.call("soul.plans")
    assert plan["goal"] == goal["id"] and plan["approved"] is False and plan["status"] == "active"
    assert node.tick()["steps"] == []  # still waiting
    approved = node.call("soul.approve", plan_id=plan["id"])
    assert approved["approved"] is True and node.call("soul.approve", plan_id=plan["id"])["approved"] is True
    assert [s["status"] for s in node.tick()["steps"]] == ["ok"]
    assert node.call("soul.goals", all=True)[0]["status"] == "done"
    with pytest.raises(RPCError, match="no active plan 'p1'") as info:
        node.call("soul.approve", plan_id=plan["id"])
    assert info.value.code == INVALID_PARAMS


def test_rejected_plans_are_replaced_until_the_goal_fails(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(approve_plans=True, goal_retries=2)
    goal = node.call("soul.nudge", text="echo rejected")
    node.tick()
    first = node.call("soul.plans")[0]
    rejected = node.call("soul.reject", plan_id=first["id"])
    assert rejected["status"] == "rejected"
    node.tick()
    (second,) = node.call("soul.plans")
    assert second["id"] != first["id"] and second["approved"] is False
    node.call("soul.reject", plan_id=second["id"])
    (ended,) = node.call("soul.goals", all=True)
    assert ended["id"] == goal["id"] and ended["status"] == "failed" and "rejected by the operator" in ended["reason"]
    assert not (node.home / "echoed.txt").exists()


def test_a_waiting_plan_is_approved_after_the_timeout(soul_node: Callable[..., RunningNode]) -> None:
    clock = FakeClock()
    node = soul_node(clock=clock, approve_plans=True, approval_timeout=60.0)
    node.call("soul.nudge", text="echo eventually")
    node.tick()
    clock.jump(59)
    assert node.tick()["steps"] == []
    clock.jump(1)
    assert [s["status"] for s in node.tick()["steps"]] == ["ok"]


def test_the_panel_and_metrics(node: RunningNode) -> None:
    node.call("soul.nudge", text="fail once")
    node.tick()
    panel = node.call("panels.get", name="soul")
    assert panel["title"] == "Soul"
    data = panel["data"]
    assert data["text"].startswith("tier T0: no LLM: no GEMINI_API_KEY\ngoal g1: fail once")
    assert "tool_calls: 1 of 5000 today" in data["text"]
    assert data["table"] == {"columns": ["#", "action", "status"], "rows": [[1, "fail", "failed"]]}
    metrics = node.call("node.metrics")["soul"]
    assert metrics["steps_failed"] == 1 and metrics["goals_active"] == 1 and metrics["tier"] == 0 and metrics["plans"] == 1


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("soul.nudge", {"text": "  "}, "'text' is empty"),
        ("soul.nudge", {"text": "x" * 2001}, "'text' is longer than 2000 characters"),
        ("soul.nudge", {"text": "x", "priority": 0}, "'priority' must be from 1 to 10"),
        ("soul.nudge", {"text": "x", "priority": True}, "'priority' must be int"),
        ("soul.nudge", {"text": ["x"]}, "'text' must be str"),
        ("soul.chat", {"message": ""}, "'message' is empty"),
        ("soul.chat", {"message": "x" * 8001}, "'message' is longer than 8000 characters"),
        ("soul.abandon", {"goal_id": "g99"}, "no goal 'g99'"),
        ("soul.abandon", {"goal_id": 7}, "'goal_id' must be str"),
        ("soul.approve", {"plan_id": "p1"}, "no active plan 'p1'"),
        ("soul.reject", {"plan_id": "nope"}, "no active plan 'nope'"),
        ("soul.goals", {"all": "yes"}, "'all' must be bool"),
    ],
)
def test_bad_params_get_clear_errors(node: RunningNode, method: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(RPCError, match=message) as info:
        node.call(method, **params)
    assert info.value.code == INVALID_PARAMS


def test_abandoning_twice_and_too_many_goals(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(max_goals=2)
    goal = node.call("soul.nudge", text="one")
    node.call("soul.nudge", text="two")
    with pytest.raises(RPCError, match="2 active goals, the most allowed") as info:
        node.call("soul.nudge", text="three")
    assert info.value.code == OPERATION_FAILED
    node.call("soul.abandon", goal_id=goal["id"])
    with pytest.raises(RPCError, match="goal g1 is already abandoned"):
        node.call("soul.abandon", goal_id=goal["id"])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
METHODS = ["soul.status", "soul.chat", "soul.nudge", "soul.goals", "soul.abandon", "soul.plans", "soul.approve", "soul.reject"]
NAMES = ["message", "text", "priority", "all", "goal_id", "plan_id", "extra"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(METHODS),
    params=st.dictionaries(st.sampled_from(NAMES), JSON | st.sampled_from(["g1", "p1", "echo a", "loop", "fail it", "[]"]), max_size=3),
)
def test_hostile_params_never_crash_the_soul(node: RunningNode, method: str, params: dict[str, Any]) -> None:
    try:
        node.call(method, **params)
    except RPCError as exc:
        assert exc.code in (INVALID_PARAMS, OPERATION_FAILED), exc.message
    tick = node.tick()
    assert tick["outcome"]["errors"] == 0
    assert node.call("plugins.info", name="soul")["state"] == "running"


TOOLS = {"echo": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), JSON.map(lambda value: __import__("json").dumps(value))))
def test_any_reply_parses_to_steps_or_a_plan_error(reply: str) -> None:
    try:
        data = parse_json(reply)
    except ValueError:  # the LLM client's "the answer is not JSON": no plan is tried
        return
    try:
        steps = steps_from(data, TOOLS)
    except PlanError:
        return
    assert all(step["action"] == "echo" and isinstance(step["params"]["text"], str) for step in steps)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("[]", "a plan is a non-empty JSON array of steps"),
        ('{"steps": [{"action": "rm_rf", "params": {}}]}', "step 1: unknown tool 'rm_rf'"),
        ('[{"action": "echo", "params": {"text": 3}}]', "step 1 (echo): argument 'text' must be string, not int"),
        ('[{"action": "echo", "params": {"text": "a", "x": 1}}]', "step 1 (echo): unknown argument: x"),
        ('["echo"]', "step 1 is not an object"),
        ('[{"params": {}}]', "step 1 names no action"),
        ("[" + ",".join(['{"action": "echo", "params": {"text": "a"}}'] * 21) + "]", "a plan has at most 20 steps, not 21"),
    ],
)
def test_bad_plans_say_what_is_wrong(reply: str, problem: str) -> None:
    with pytest.raises(PlanError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        steps_from(parse_json(reply), TOOLS)


@pytest.mark.parametrize(("reply", "problem"), [("I would rather not.", "Expecting value"), ("[" * 100_000, "nested deeper than 128 levels")])
def test_a_reply_that_is_not_json_is_a_value_error(reply: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_json(reply)


def test_fenced_and_seed_style_plans_parse() -> None:
    fenced = 'Here you go:\n```json\n[{"type": "echo", "text": "hi", "store_as": "x"}]\n```'
    assert steps_from(parse_json(fenced), TOOLS) == [{"action": "echo", "params": {"text": "hi"}, "status": "pending", "result": None}]


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"max_tier": "T3"}, "plugin.soul.max_tier must be one of T0, T1, T2, not 'T3'"),
        ({"steps_per_tick": 0}, "plugin.soul.steps_per_tick must be at least 1"),
        ({"replan_limit": -1}, "plugin.soul.replan_limit must not be negative"),
    ],
)
def test_bad_config_stops_the_soul_with_a_clear_reason(soul_node: Callable[..., RunningNode], config: dict[str, Any], reason: str) -> None:
    node = soul_node(**config)
    (row,) = [r for r in node.call("plugins.list") if r["name"] == "soul"]
    assert row["state"] == "failed" and reason in row["reason"]
