"""The autonomy plugin on a real node: LLM-free plans of registered tools for the soul's goals, and the diagnosis of its cognition."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.core import Tick
from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import exported, merge_state
from tests.plugins.conftest import wait_for
from tests.plugins.cognition.system_checks import JUNK_OBSERVATIONS, reflect_on, FIXED, JUNK, fixed, healthy, observed, replace_stored, saved, write_dropins

GOAL = {"id": "g1", "text": "find the TODO markers in the workspace", "status": "active", "priority": 5, "source": "nudge",
        "created": 0.0, "plan": None}
TEMPLATE = {"id": 1, "steps": ["list_dir", "write_file", "think"], "fitness": 0.8, "match": 0.9}
PREDICTIONS = {"list_dir": 0.9, "write_file": 0.8, "think": 0.9, "search_code": 0.9}
# A cognitive override of the plan model: it always suggests the same plan shape.
PLAN_ORACLE = '''
from colony.core import Manifest

PLUGIN = Manifest(name="NAME", version="1.0.0")


def colony_cognitive(name, request):
    return {"steps": ["search_code", "write_file", "think"]} if name == "plan.predict" else None
'''
TINY_PLAN = {"interval": 0.0, "dims": ["plan.dim=16", "plan.heads=2", "plan.ffn=16", "plan.layers=1", "plan.seq=16"]}


def node_for(home: Path, *extra: str, dropins: dict[str, str] | None = None, **config: Any) -> RunningNode:
    """autonomy (and the models plugin it requires) with the real tools, run_shell switched off."""
    write_dropins(home, dropins or {})
    plugins = {"tools": {"shell": False}, "models": TINY_PLAN, "autonomy": {"refresh": 0.05}, **config}
    return RunningNode(home, plugins=["models", "tools", "autonomy", *extra, *(dropins or {})], config={"plugin": plugins})


def propose(node: RunningNode, goal: dict[str, Any] = GOAL, **tick: Any) -> dict[str, Any] | None:
    """autonomy's answer to `colony_propose` for `goal` in a tick holding `tick`'s observations and memories."""
    assert node.kernel is not None
    found = node.run(functools.partial(node.kernel.dispatcher.collect, "colony_propose", tick=Tick(1, 0.0, **tick), goal=goal))
    return dict(found).get("autonomy")


def tools(node: RunningNode) -> set[str]:
    return {tool["name"] for tool in node.call("tools.list")}


def test_a_goal_at_t0_gets_a_plan_of_registered_tools_only(tmp_path: Path) -> None:
    soul = {"autonomous": False, "think_every": 1, "health_url": ""}
    with node_for(tmp_path / "home", "soul", soul=soul) as node:
        goal = node.call("soul.nudge", text="run `ls -la` in the workspace, find the TODO notes and tell the peers")
        record = node.tick()
        plan = next(g for g in node.call("soul.goals", all=True) if g["id"] == goal["id"])["plan"]
        assert plan["source"] == "autonomy" and plan["why"].startswith("autonomy: from the goal's words")
        actions = [step["action"] for step in plan["steps"]]
        # The goal's words ask for run_shell (not registered: shell is off) and discover_peers (no identity plugin).
        assert actions == ["list_dir", "search_code", "write_file", "think"]
        assert set(actions) <= tools(node)
        assert [step["action"] for step in record["steps"]] == actions
        assert all(step["status"] == "ok" for step in record["steps"])
        assert healthy(node, "autonomy")


def test_a_template_is_compiled_when_the_cortex_agrees(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        proposal = propose(node, memories={"genesis": {"templates": [TEMPLATE]}, "cortex": {"predictions": PREDICTIONS}})
    assert proposal is not None
    assert proposal["steps"] == [
        {"action": "list_dir", "params": {"path": "."}},
        {"action": "write_file", "params": {"path": "notes/autonomy.md", "content": f"- {GOAL['text']}\n", "append": True}},
        {"action": "think", "params": {"thought": f"How should I approach: {GOAL['text']}"}},
    ]
    # The cortex's success: ((0.9 + 1)/2)·((0.8 + 1)/2)·((0.9 + 1)/2) = 0.95·0.9·0.95 = 0.81225.
    assert proposal["confidence"] == pytest.approx(0.8123, abs=1e-4)
    assert proposal["why"].startswith("template plan")


@pytest.mark.parametrize(("tick", "reason"), [
    ({"memories": {"genesis": {"templates": [TEMPLATE]}}}, "cortex confidence too low"),  # the cortex never saw these actions
    ({"memories": {"genesis": {"templates": [TEMPLATE]}, "cortex": {"predictions": PREDICTIONS},
                   "hivemind": {"trails": {"write_file": [-0.9, 1.0]}}}}, "the hivemind repels write_file"),
    ({"memories": {"genesis": {"templates": [TEMPLATE]}, "cortex": {"predictions": PREDICTIONS}},
      "observations": {"synthesis": {"mode": "stuck"}}}, "cognition is stuck"),
    ({"memories": {"genesis": {"templates": [{**TEMPLATE, "steps": ["run_shell", "think"]}]}}}, "best template is read-only"),
])
def test_without_a_compiled_plan_the_goals_words_make_one(tmp_path: Path, tick: dict[str, Any], reason: str) -> None:
    with node_for(tmp_path / "home") as node:
        proposal = propose(node, **tick)
        assert proposal is not None and reason in proposal["why"]
        assert [s["action"] for s in proposal["steps"]] == ["list_dir", "search_code", "think"]
        assert proposal["steps"][1]["params"] == {"pattern": "workspace"}  # the goal's longest keyword
        assert proposal["confidence"] == 0.2
        # The soul's own agenda goals come with their template plans: autonomy leaves them be.
        assert propose(node, {**GOAL, "source": "autonomy"}, **tick) is None
        assert reason in node.call("autonomy.status")["last_fallback"]


def test_whatever_the_other_systems_recall_only_registered_tools_are_proposed(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        registered = tools(node)

        @settings(max_examples=60, deadline=None)
        @given(genesis=JUNK, cortex=JUNK, hivemind=JUNK, synthesis=JUNK, text=st.text(max_size=80))
        def check(genesis: Any, cortex: Any, hivemind: Any, synthesis: Any, text: str) -> None:
            memories = {"genesis": {"templates": [TEMPLATE, genesis]}, "cortex": {"predictions": cortex}, "hivemind": hivemind}
            proposal = propose(node, {**GOAL, "text": text}, memories=memories, observations={"synthesis": synthesis})
            if proposal is not None:
                assert {step["action"] for step in proposal["steps"]} <= registered
                assert 0 <= proposal["confidence"] <= 1

        check()
        assert healthy(node, "autonomy")


def test_the_plan_model_shapes_a_plan_when_no_template_fits(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", dropins={"oracle": PLAN_ORACLE}) as node:
        wait_for(lambda: node.call("autonomy.status")["model_steps"], "the plan model's suggestion")
        proposal = propose(node, memories={"cortex": {"predictions": PREDICTIONS}})
    assert proposal is not None and proposal["why"].startswith("plan_model plan")
    assert [s["action"] for s in proposal["steps"]] == ["search_code", "write_file", "think"]


def test_completed_plans_teach_the_plan_model(tmp_path: Path) -> None:
    finished = [{"plan_id": "p1", "status": "completed", "actions": ["list_dir", "write_file"]},
                {"plan_id": "p2", "status": "completed", "actions": ["list_dir", "think"]},  # read-only: not taught
                {"plan_id": "p3", "status": "failed", "actions": ["write_file"]}]
    feedback = {"lessons": 3, "rules": 0, "failure_rate": 0.0, "plans": {}, "finished": finished}
    with node_for(tmp_path / "home", "feedback", dropins={"feedback": FIXED}, feedback=fixed(feedback)) as node:
        node.tick()
        wait_for(lambda: node.call("autonomy.status")["taught"] >= 1, "autonomy to teach the plan model", timeout=120)
        plan = next(m for m in node.call("models.list")["models"] if m["name"] == "plan")
        assert plan["examples"] == 1


def test_the_diagnosis_is_observed(tmp_path: Path) -> None:
    cortex = {"accuracy": 0.9, "experiences": 3}
    synthesis = {"weights": {"brain": 0.7, "cortex": 0.1, "genesis": 0.1, "hivemind": 0.1}, "mode": "stuck"}
    with node_for(tmp_path / "home", "cortex", "synthesis", dropins={"cortex": FIXED, "synthesis": FIXED},
                  cortex=fixed(cortex), synthesis=fixed(synthesis)) as node:
        first, second = node.tick(), node.tick()
    assert observed(first, "autonomy")["diagnosis"] == ""
    seen = observed(second, "autonomy")
    # Most urgent first: stuck (5), too few experiences (4), empty gene pool (4); the weight imbalance (2) is cut.
    assert [g["system"] for g in seen["goals"]] == ["synthesis", "cortex", "genesis"]
    assert seen["diagnosis"] == seen["goals"][0]["description"]


def test_counters_survive_a_restart_and_a_corrupt_store_and_nothing_is_shared(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with node_for(home) as node:
        propose(node)
        propose(node)
        node.tick()
        before = node.call("autonomy.status")
        assert (before["attempts"], before["plans"]) == (2, 2)
        assert exported(node, "autonomy") is None  # the plan model syncs through the models plugin
        merge_state(node, "autonomy", {"attempts": 99}, 0.4)
    with node_for(home) as node:
        after = node.call("autonomy.status")
        assert (after["attempts"], after["plans"]) == (2, 2)
        replace_stored(node, "autonomy", "state", json.dumps({"attempts": "many"}))
        assert node.call("autonomy.status")["attempts"] == 0
        propose(node)
        node.tick()
        assert saved(node, "autonomy", "state.corrupt") == json.dumps({"attempts": "many"})
        assert healthy(node, "autonomy")


def test_junk_observations_never_break_its_reflect(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:

        @settings(max_examples=80, deadline=None)
        @given(observations=JUNK_OBSERVATIONS)
        def check(observations: Any) -> None:
            reflect_on(node, "autonomy", observations)
            assert len(node.call("autonomy.status")["diagnosis"]) <= 3

        check()
        assert healthy(node, "autonomy")
