"""The feedback plugin on a real node: lessons from the soul's finished plans, error classes and capabilities from steps, durable rules, recall for the soul's goal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import cognition_node, exported, merge_state, ticks
from tests.plugins.cognition.system_checks import JUNK_OBSERVATIONS, reflect_on, BAD_VALUES, JUNK, healthy, observed, replace_stored, saved, write_dropins

SOUL = {"autonomous": False, "replan_limit": 0, "goal_retries": 1, "think_every": 1, "health_url": ""}
MISSING = [{"action": "read_file", "params": {"path": "missing.txt"}}]
WRITE_THEN_READ = [{"action": "write_file", "params": {"path": "a.txt", "content": "x"}}, {"action": "read_file", "params": {"path": "a.txt"}}]

# A planner whose one step always fails as a rate-limited LLM call would: nothing may learn from it.
RATE_LIMITED = '''
from colony.core import Manifest

PLUGIN = Manifest(name="NAME", version="1.0.0")


def colony_plan(tick):
    return [{"action": "think", "params": {"tick": tick.number}}]


def colony_act(tick, step):
    return {"error": "429 RESOURCE_EXHAUSTED: you exceeded your current quota"}


def colony_verify(tick, step, result):
    return False
'''


def soul_node(home: Path) -> RunningNode:
    """The real soul (T0, no goals of its own, a failed plan fails its goal) and tools, with feedback."""
    return RunningNode(home, plugins=["soul", "tools", "feedback"], config={"plugin": {"soul": SOUL}})


def pursue(node: RunningNode, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Nudge the soul with a plan of its own steps, tick until the goal ends, then once more for feedback to hear of it."""
    goal = node.call("soul.nudge", text=json.dumps(steps))
    for _ in range(10):
        node.tick()
        ended = next(g for g in node.call("soul.goals", all=True) if g["id"] == goal["id"])
        if ended["status"] != "active":
            node.tick()
            return ended
    raise AssertionError(f"goal {goal['id']} never ended")


def test_failed_plans_become_lessons_and_durable_rules(tmp_path: Path) -> None:
    with soul_node(tmp_path / "home") as node:
        for _ in range(3):
            assert pursue(node, MISSING)["status"] == "failed"
        report = node.call("feedback.lessons")
        assert [o["status"] for o in report["outcomes"]] == ["failed"] * 3
        assert {o["error_category"] for o in report["outcomes"]} == {"file_not_found"}
        assert all(o["lesson"].startswith("FAILURE: ") and "Avoid this approach" in o["lesson"] for o in report["outcomes"])
        # Three unresolved read_file failures on missing.txt: the step rule and the file rule.
        rules = {rule["name"]: rule["pattern"] for rule in report["rules"]}
        assert rules == {"block-step-read_file-file_not_found": "read_file:file_not_found",
                         "block-file-error-missing.txt-file_not_found": "missing.txt"}
        assert report["capabilities"]["file_read"] == {"attempts": 3, "successes": 0, "rate": 0.0}
        assert report["errors"] == {"file_not_found": 3}
        # A new goal in words: no plan at T0, but the soul's goal now recalls the lessons and the rules.
        node.call("soul.nudge", text="read missing.txt and summarise it")
        memory = node.tick()["memories"]["feedback"]
        assert memory["lessons"] and all(lesson.startswith("FAILURE: ") for lesson in memory["lessons"])
        assert len(memory["rules"]) == 2 and any("missing.txt" in rule for rule in memory["rules"])
        assert healthy(node, "feedback")


def test_a_completed_plan_is_a_success_lesson_and_is_announced(tmp_path: Path) -> None:
    with soul_node(tmp_path / "home") as node:
        assert pursue(node, WRITE_THEN_READ)["status"] == "done"
        seen = observed(node.tick(), "feedback")
        assert seen["plans"]["completed"] == 1 and seen["lessons"] == 1
        [outcome] = node.call("feedback.lessons")["outcomes"]
        assert outcome["lesson"].startswith("SUCCESS: ") and outcome["steps_succeeded"] == ["write_file", "read_file"]
        finished = node.call("events.recent", topics=["feedback.outcome"])
        assert [e["data"]["actions"] for e in finished] == [["write_file", "read_file"]]
        capabilities = node.call("feedback.lessons")["capabilities"]
        assert capabilities["file_write"]["successes"] == capabilities["file_read"]["successes"] == 1


def test_steps_teach_error_classes_and_capabilities_but_rate_limits_teach_nothing(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "a", "feedback", plan=["run_shell:fail", "read_file:ok:src/a.py"]) as node:
        records = ticks(node, 4)
        report = node.call("feedback.lessons")
        # "command failed with exit code 1" is a shell error.
        assert report["errors"] == {"shell": 4}
        assert report["capabilities"]["shell_exec"]["attempts"] == 4 and report["capabilities"]["shell_exec"]["successes"] == 0
        assert report["capabilities"]["file_read"]["successes"] == 4
        assert observed(records[-1], "feedback")["failure_rate"] == 0.5  # 3 ticks seen: 3 of 6 steps failed
    write_dropins(tmp_path / "b", {"limited": RATE_LIMITED})
    with RunningNode(tmp_path / "b", plugins=["feedback", "limited"]) as node:
        records = ticks(node, 3)
        report = node.call("feedback.lessons")
        assert (report["errors"], report["capabilities"]) == ({}, {})
        assert observed(records[-1], "feedback")["failure_rate"] == 0.0


def test_lessons_survive_a_restart_and_a_corrupt_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with soul_node(home) as node:
        pursue(node, MISSING)
        before = node.call("feedback.lessons")
    with soul_node(home) as node:
        assert node.call("feedback.lessons") == before
        replace_stored(node, "feedback", "state", {"outcomes": [{"plan_id": 1}]})
        assert node.call("feedback.lessons")["outcomes"] == []
        pursue(node, WRITE_THEN_READ)
        assert [o["status"] for o in node.call("feedback.lessons")["outcomes"]] == ["completed"]
        assert saved(node, "feedback", "state.corrupt") == {"outcomes": [{"plan_id": 1}]}
        assert healthy(node, "feedback")


def test_peers_share_lessons_and_capabilities(tmp_path: Path) -> None:
    with soul_node(tmp_path / "a") as peer:
        pursue(peer, MISSING)
        shared = exported(peer, "feedback")
    assert shared["capabilities"] == {"file_read": [1, 0]}
    assert len(shared["lessons"]) == 1 and shared["lessons"][0].startswith("FAILURE: ")
    with soul_node(tmp_path / "b") as node:
        merge_state(node, "feedback", shared, 0.0)  # rate 0: the profile is noted, the lessons are not taken
        assert node.call("feedback.lessons")["peer_lessons"] == []
        merge_state(node, "feedback", shared, 0.4)
        assert node.call("feedback.lessons")["peer_lessons"] == [f"[from peer peer-a] {shared['lessons'][0]}"]
        node.call("soul.nudge", text="read missing.txt")
        lessons = node.tick()["memories"]["feedback"]["lessons"]
        assert lessons == [f"[from peer peer-a] {shared['lessons'][0]}"]


def test_hostile_merges_are_ignored(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "feedback", plan=["read_file:alt"]) as node:
        ticks(node, 2)
        before = node.call("feedback.lessons")
        valid = {"lessons": ["FAILURE: x"], "capabilities": {"file_read": [2, 1]}}

        @settings(max_examples=60, deadline=None)
        @given(junk=JUNK, bad=BAD_VALUES, counts=st.sampled_from([[1, 2], [-1, 0], ["1", 0], [1], None, [1.5, 1]]))
        def check(junk: Any, bad: Any, counts: Any) -> None:
            merge_state(node, "feedback", junk, 0.4)
            merge_state(node, "feedback", valid, bad)
            merge_state(node, "feedback", {**valid, "capabilities": {"file_read": counts}}, 0.4)
            merge_state(node, "feedback", {**valid, "lessons": [counts]}, 0.4)
            merge_state(node, "feedback", {**valid, "lessons": ["x" * 5000]}, 0.4)
            assert node.call("feedback.lessons") == before

        check()
        assert healthy(node, "feedback")


def test_junk_observations_never_break_it(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "feedback", plan=["read_file:ok"]) as node:

        @settings(max_examples=80, deadline=None)
        @given(observations=JUNK_OBSERVATIONS, goal=JUNK)
        def check(observations: Any, goal: Any) -> None:
            reflect_on(node, "feedback", {**observations, "soul": {"goal": goal}})
            assert node.call("feedback.lessons")["capabilities"]["file_read"]["attempts"] >= 1

        check()
        assert healthy(node, "feedback")


def test_a_plan_that_never_ran_still_becomes_a_lesson(tmp_path: Path) -> None:
    with soul_node(tmp_path / "home") as node:
        assert pursue(node, [{"action": "no_such_tool", "params": {}}])["status"] == "failed"
        [outcome] = node.call("feedback.lessons")["outcomes"]
        assert outcome["status"] == "failed" and outcome["lesson"].startswith("FAILURE: ")
        assert "no_such_tool" in outcome["error_message"]
