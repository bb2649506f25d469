"""Goals at T0: nudges planned by proposals or given as steps, run to done, kept across restarts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from colony.plugins.soul import agenda
from colony.testing import RunningNode, check_plugin
from tests.plugins.conftest import FAST_KEYS
from tests.plugins.soul.conftest import ticks


def test_a_nudged_goal_is_planned_by_a_proposal_and_completed(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node()
    goal = node.call("soul.nudge", text="echo hello world")
    assert goal["status"] == "active" and goal["source"] == "nudge" and goal["priority"] == 5 and goal["plan"] is None

    first = node.tick()
    assert first["gate"] == {"plugin": "soul", "decision": {"tier": "T0", "reason": "no LLM: no GEMINI_API_KEY"}}
    assert first["planner"] == "soul"
    assert [(s["action"], s["params"], s["status"]) for s in first["steps"]] == [
        ("echo", {"text": "hello"}, "ok"),
        ("echo", {"text": "world"}, "ok"),
    ]
    assert first["steps"][0]["results"]["soul"] == {"ok": True, "output": {"text": "hello"}}
    assert (node.home / "echoed.txt").read_text() == "hello\nworld\n"

    done = node.call("soul.goals", all=True)
    assert [(g["id"], g["status"]) for g in done] == [(goal["id"], "done")]
    plan = done[0]["plan"]
    assert plan["source"] == "autonomy" and plan["status"] == "done" and plan["approved"] is True
    assert [s["status"] for s in plan["steps"]] == ["ok", "ok"]
    assert node.call("soul.goals") == []
    status = node.call("soul.status")
    assert status["tier"] == "T0" and status["llm"] is False and status["goal"] is None
    assert status["lessons"][-1] == "SUCCESS: echo hello world: echo, echo. Approach worked."


def test_steps_given_in_the_nudge_run_as_a_nudge_plan(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node()
    steps = [{"action": "echo", "params": {"text": "mine"}}]
    node.call("soul.nudge", text=json.dumps(steps), priority=9)
    tick = node.tick()
    assert [s["status"] for s in tick["steps"]] == ["ok"]
    (goal,) = node.call("soul.goals", all=True)
    assert goal["status"] == "done" and goal["plan"]["source"] == "nudge"


def test_goals_survive_a_restart(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(steps_per_tick=1)
    first = node.call("soul.nudge", text="echo one two three")
    second = node.call("soul.nudge", text="something nobody can plan", priority=2)
    node.tick()
    node.stop()

    again = soul_node(steps_per_tick=1)
    goals = again.call("soul.goals")
    assert [g["id"] for g in goals] == [first["id"], second["id"]]
    assert [s["status"] for s in goals[0]["plan"]["steps"]] == ["ok", "pending", "pending"]
    ticks(again, 2)
    assert again.call("soul.goals", all=True)[-1]["status"] == "done"
    third = again.call("soul.nudge", text="echo later")
    assert third["id"] == "g3"  # ids carry on from the store


def test_nudges_come_first_and_the_same_text_is_one_goal(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(steps_per_tick=1)
    low = node.call("soul.nudge", text="echo a b c", priority=1)
    node.tick()
    high = node.call("soul.nudge", text="echo urgent", priority=8)
    assert node.call("soul.nudge", text="echo urgent", priority=3)["id"] == high["id"]
    tick = node.tick()
    assert [s["params"] for s in tick["steps"]] == [{"text": "urgent"}]
    assert [g["id"] for g in node.call("soul.goals")] == [low["id"]]


def test_a_goal_nobody_can_plan_waits_with_a_reason_and_can_be_abandoned(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node()
    goal = node.call("soul.nudge", text="make me a sandwich")
    tick = node.tick()
    assert tick["planner"] == "" and tick["steps"] == []
    (waiting,) = node.call("soul.goals")
    assert waiting["reason"] == "no planner offered steps at T0"
    abandoned = node.call("soul.abandon", goal_id=goal["id"])
    assert abandoned["status"] == "abandoned" and abandoned["reason"] == "abandoned by the operator"
    assert node.call("soul.goals") == []


def test_the_agenda_sets_goals_when_autonomous(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(autonomous=True, health_url="")
    node.tick()
    goals = node.call("soul.goals", all=True)
    # The test node has none of the agenda's tools, so nothing on the agenda can run here.
    assert goals == []


def test_the_agenda_keeps_a_t0_node_busy_with_the_builtin_tools(tmp_path: Path) -> None:
    config = {"plugin": {"soul": {"think_every_idle": 1, "health_url": "", "agenda_every": 3600.0}}}
    with RunningNode(tmp_path / "home", plugins=["soul", "tools"], config=config) as node:
        records = ticks(node, 4)
        assert all(r["outcome"]["errors"] == 0 for r in records)
        goals = node.call("soul.goals", all=True)
        assert sorted((g["text"], g["status"], g["source"]) for g in goals) == [
            ("survey the workspace", "done", "autonomy"),
            ("write a note and check it", "done", "autonomy"),
        ]
        assert (node.home / "workspace" / "notes" / "soul.md").read_text() == "The soul was here at tick 2.\n"
        assert records[2]["planner"] == "" and records[3]["planner"] == ""  # every runnable item is cooling down


def test_the_soul_passes_the_plugin_conformance_checks() -> None:
    check_plugin("soul", ticks=5)


def test_a_reload_carries_on_from_the_store(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(steps_per_tick=1)
    node.call("soul.nudge", text="echo before after")
    node.tick()
    assert "running" in str(node.call("plugins.reload", name="soul"))
    assert [s["params"] for s in node.tick()["steps"]] == [{"text": "after"}]
    assert node.call("soul.goals", all=True)[0]["status"] == "done"


def test_a_nudge_that_is_json_but_no_plan_fails_with_a_lesson(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(goal_retries=1)
    node.call("soul.nudge", text='[{"action": "rm_rf", "params": {}}]')
    node.call("soul.nudge", text="echo [1, 2]", priority=1)  # words that merely contain JSON
    records = ticks(node, 2)
    assert records[0]["steps"] == [] and [s["params"] for s in records[1]["steps"]] == [{"text": "[1,"}, {"text": "2]"}]
    goals = node.call("soul.goals", all=True)
    assert [g["status"] for g in goals] == ["done", "failed"]
    assert "the nudge's steps are unusable: step 1: unknown tool 'rm_rf'" in goals[1]["reason"]


def test_every_agenda_template_fits_the_real_tools(tmp_path: Path) -> None:
    config = {"plugin": {"soul": {"autonomous": False}, "gateway": {"port": 0}, "identity": FAST_KEYS}}
    with RunningNode(tmp_path / "home", plugins=["chain", "identity", "gateway", "tools", "soul"], config=config) as node:
        schemas = {tool["name"]: tool["parameters"] for tool in node.call("tools.list")}
    for item in agenda.AGENDA:
        assert agenda.template(item, 1, "http://127.0.0.1:4023/health", schemas), item.text


def test_only_the_newest_finished_goals_are_kept(tmp_path: Path) -> None:
    from colony.core.store import Store
    from colony.plugins.soul.goals import Goals

    store = Store(tmp_path / "state.lmdb")
    try:
        goals = Goals(store.namespace("soul"), keep=2)
        made = [goals.add(f"goal {n}", 1, "operator", now=float(n % 3)) for n in range(5)]  # created 0, 1, 2, 0, 1
        for goal in made:
            goals.finish(goal, "done")
        # Newest by (created, id): g3 (created 2) and g5 (created 1, the later id).
        assert sorted(goals.goals) == ["g3", "g5"]
        assert goals.removed == {"g1", "g2", "g4"} and goals.dirty == {"g3", "g5"}
        assert [g["id"] for g in goals.finished()] == ["g3", "g5"]
    finally:
        store.close()
