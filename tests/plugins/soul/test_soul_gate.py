"""The gate: tiers from the situation and budget, the failure breaker with its cool-down, pacing, replan limit, the guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from colony.plugins.soul.gate import Breaker, choose_tier
from colony.testing import FakeClock, RunningNode
from tests.plugins.soul.conftest import ticks

TIER = {"llm": True, "ceiling": "T2", "tokens_left": None, "micro_usd_left": None, "reserve_tokens": 100, "reserve_micro_usd": 10, "hard": ""}


@pytest.mark.parametrize(
    ("change", "tier", "reason"),
    [
        ({"llm": False}, "T0", "no LLM: no GEMINI_API_KEY"),
        ({"ceiling": "T0"}, "T0", "max_tier is T0"),
        ({"tokens_left": 99}, "T0", "LLM budget low"),
        ({"micro_usd_left": 9}, "T0", "LLM budget low"),
        ({}, "T1", "normal"),
        ({"tokens_left": 100, "micro_usd_left": 10}, "T1", "normal"),
        ({"hard": "free-energy regime anomaly"}, "T2", "free-energy regime anomaly"),
        ({"hard": "x", "tokens_left": 400, "micro_usd_left": 40}, "T2", "x"),
        ({"hard": "x", "tokens_left": 399}, "T1", "x, but too little budget for T2"),
        ({"hard": "x", "micro_usd_left": 39}, "T1", "x, but too little budget for T2"),
        ({"hard": "x", "ceiling": "T1"}, "T1", "normal"),
    ],
)
def test_tier_choice(change: dict[str, Any], tier: str, reason: str) -> None:
    assert choose_tier(**(TIER | change)) == (tier, reason)


def test_breaker_opens_after_the_limit_and_closes_after_the_cooldown() -> None:
    breaker = Breaker(limit=3, cooldown=30.0)
    assert not breaker.failure(100.0, "a") and not breaker.failure(101.0, "b")
    breaker.success()
    assert [breaker.failure(102.0 + i, str(i)) for i in range(3)] == [False, False, True]
    assert breaker.is_open(104.0) and breaker.is_open(133.9) and not breaker.is_open(134.0)
    assert breaker.reason == "3 failed cycles in a row, the last: 2"
    restored = Breaker(limit=3, cooldown=30.0)
    restored.restore(breaker.to_dict())
    assert restored.to_dict() == breaker.to_dict()
    restored.restore({"failures": "many", "until": float("nan"), "reason": 7})
    assert restored.to_dict() == breaker.to_dict()


def test_the_breaker_rests_the_soul_until_it_cools_down(soul_node: Callable[..., RunningNode]) -> None:
    clock = FakeClock()
    node = soul_node(clock=clock, breaker_failures=3, breaker_cooldown=30.0, replan_limit=10, goal_retries=10)
    node.call("soul.nudge", text="fail on purpose")
    records = ticks(node, 3)
    assert [r["steps"][0]["status"] for r in records] == ["failed", "failed", "failed"]
    status = node.call("soul.status")
    assert status["breaker"] == {"open": True, "reason": "3 failed cycles in a row, the last: fail failed: failed on purpose: on purpose"}
    (goal,) = node.call("soul.goals")
    assert goal["retries"] == 1 and goal["plan"]["status"] == "failed"
    assert goal["plan"]["failure"]["error"] == "failed on purpose: on purpose"
    assert "plan p1 failed: the circuit breaker opened" in status["lessons"][-1]

    rested = node.tick()
    assert rested["gate"]["decision"] is False and rested["outcome"]["rested"] and rested["steps"] == []
    assert node.call("node.metrics")["soul"]["breaker_open"] == 1
    clock.jump(29)
    assert node.tick()["gate"]["decision"] is False
    clock.jump(1)
    again = node.tick()
    assert again["gate"]["decision"]["tier"] == "T0" and again["steps"][0]["action"] == "fail"
    assert node.call("soul.status")["breaker"] == {"open": False, "reason": ""}


def test_pacing_thinks_every_n_ticks(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(think_every=3, steps_per_tick=1)
    node.call("soul.nudge", text="echo a b c d")
    thought = [bool(r["gate"]["decision"]) for r in ticks(node, 7)]
    assert thought == [True, False, False, True, False, False, True]
    node.call("soul.nudge", text="echo now", priority=9)  # a nudge is thought about on the next tick
    assert node.tick()["steps"][0]["params"] == {"text": "now"}


def test_the_plan_fails_after_the_replan_limit_with_a_lesson(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(replan_limit=2, goal_retries=1)
    goal = node.call("soul.nudge", text="fail again")
    records = ticks(node, 4)
    assert [len(r["steps"]) for r in records] == [1, 1, 1, 0]
    (ended,) = node.call("soul.goals", all=True)
    assert ended["id"] == goal["id"] and ended["status"] == "failed"
    assert ended["plan"]["replans"] == 2 and ended["plan"]["status"] == "failed"
    assert [s["status"] for s in ended["plan"]["steps"]] == ["failed", "failed", "failed"]
    assert ended["reason"].startswith("1 plans failed, the last: fail failed: failed on purpose: again after 2 replans")
    lessons = node.call("soul.status")["lessons"]
    assert lessons[-1].startswith("FAILURE: fail again: plan p1 failed: fail failed") and lessons[-1].endswith("Avoid this approach.")


def test_the_guard_refusing_a_loop_makes_the_soul_replan_then_fail(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(replan_limit=1, goal_retries=1)
    node.call("soul.nudge", text="loop")
    first = node.tick()
    assert [s["status"] for s in first["steps"]] == ["ok", "ok", "ok", "refused"]
    assert first["steps"][3]["results"]["kernel"]["refused"] == "repeat"
    second = node.tick()  # the replan proposes the same loop: the guard refuses it at once
    assert {s["status"] for s in second["steps"]} == {"refused"}
    (goal,) = node.call("soul.goals", all=True)
    assert goal["status"] == "failed" and goal["plan"]["replans"] == 1
    assert "refused: repeated action 'echo'" in goal["reason"]
    assert any("repeated action" in lesson for lesson in node.call("soul.status")["lessons"])
    assert node.call("node.budgets")["guard"]["trips"] >= 2


def test_a_step_after_a_failure_waits_and_budget_refusals_stay_pending(soul_node: Callable[..., RunningNode]) -> None:
    steps = '[{"action": "fail", "params": {"reason": "first"}}, {"action": "echo", "params": {"text": "later"}}]'
    node = soul_node(replan_limit=0, goal_retries=1)
    node.call("soul.nudge", text=steps)
    tick = node.tick()
    assert [s["status"] for s in tick["steps"]] == ["failed", "unhandled"]
    (goal,) = node.call("soul.goals", all=True)
    assert [s["status"] for s in goal["plan"]["steps"]] == ["failed", "pending"]
    assert not (node.home / "echoed.txt").exists()


def test_tool_call_budget_refusals_leave_steps_for_the_next_tick(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(budgets={"tool_calls": {"per_tick": 2}})
    node.call("soul.nudge", text="echo a b c")
    first = node.tick()
    assert [s["status"] for s in first["steps"]] == ["ok", "ok", "refused"]
    assert node.call("soul.goals")[0]["plan"]["steps"][2]["status"] == "pending"
    assert [s["status"] for s in node.tick()["steps"]] == ["ok"]
    assert node.call("soul.goals", all=True)[0]["status"] == "done"


def test_tool_bugs_timeouts_and_bad_arguments_fail_the_step_not_the_soul(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(tool_timeout=0.2, replan_limit=0, goal_retries=1)
    steps = [{"action": "boom", "params": {}}, {"action": "slow", "params": {"seconds": 30}}]
    for step in steps:
        node.call("soul.nudge", text=json.dumps([step]))
    node.call("soul.nudge", text="unknown tool, please")  # the test tools propose a tool nobody registered
    records = ticks(node, 3)
    assert all(r["outcome"]["errors"] == 0 for r in records)
    errors = [r["steps"][0]["results"]["soul"]["error"] for r in records[:2]]
    assert errors == ["boom failed: RuntimeError: a bug in the tool", "slow timed out after 0.2s"]
    goals = {g["text"]: g for g in node.call("soul.goals", all=True)}
    assert goals["unknown tool, please"]["reason"] == "no planner offered steps at T0"


def test_stagnation_abandons_every_goal(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(stagnation=2)
    node.call("soul.nudge", text="nobody can plan this")
    node.call("soul.nudge", text="nor this")
    ticks(node, 3)
    goals = node.call("soul.goals", all=True)
    assert [g["status"] for g in goals] == ["abandoned", "abandoned"]
    assert goals[0]["reason"] == "no goal finished in 2 thinking cycles"


def test_lessons_and_the_breaker_survive_a_restart(soul_node: Callable[..., RunningNode]) -> None:
    clock = FakeClock()
    node = soul_node(clock=clock, breaker_failures=1, breaker_cooldown=3600.0)
    node.call("soul.nudge", text="fail hard")
    node.tick()
    before = node.call("soul.status")
    node.stop()
    again = soul_node(clock=FakeClock(), breaker_failures=1, breaker_cooldown=3600.0)
    after = again.call("soul.status")
    assert after["breaker"] == before["breaker"] and after["breaker"]["open"] is True
    assert after["lessons"] == before["lessons"] and len(after["lessons"]) == 2
    assert again.tick()["gate"]["decision"] is False
