"""Autonomy: LLM-free plan compilation, self-diagnosis and the peer-sync rate, with the thresholds worked by hand."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules.autonomy import (
    AutonomyState,
    Compiled,
    Fallback,
    Simulation,
    Template,
    compile_plan,
    diagnose,
    record_attempt,
    sync_rate,
    target_file,
)

GOAL = "fix the parser in plugins/x/parse.py"
EDIT = Template(("read_file", "edit_code", "run_shell", "commit"), match=0.5, uses=4, successes=2)


def sure(success: float = 0.6, confidence: float = 0.5):
    def simulate(steps: Sequence[str]) -> Simulation:
        return Simulation(success, confidence)
    return simulate


def test_compiles_the_best_template_into_concrete_steps() -> None:
    plan = compile_plan(GOAL, [Template(("edit_code",), 0.2), EDIT], sure(), keywords=["fix", "parser"])
    assert isinstance(plan, Compiled) and plan.source == "template"
    assert plan.steps == (
        {"type": "read_file", "path": "plugins/x/parse.py", "store_as": "source"},
        {"type": "edit_code", "file_path": "plugins/x/parse.py", "description": GOAL, "context_keys": ["source"]},
        {"type": "run_shell", "command": "python -m pytest -q", "store_as": "test_output"},
        {"type": "commit", "message": f"auto: {GOAL}"},
    )


@pytest.mark.parametrize("template, reason", [
    (Template(("edit_code", "commit"), match=0.34), "match too low"),  # below 0.35
    (Template(("read_file", "think"), match=0.9, substantive=False), "read-only"),
    (Template(("edit_code", "commit"), match=0.9, uses=4, successes=1), "poor track record"),  # 1/4 = 0.25 < 0.3 over > 3 uses
])
def test_refuses_weak_templates(template: Template, reason: str) -> None:
    result = compile_plan(GOAL, [template], sure())
    assert isinstance(result, Fallback) and reason in result.reason


def test_template_edges_pass() -> None:
    # exactly 0.35 matches; 3 uses with no success is not yet a poor record (needs more than 3)
    assert isinstance(compile_plan(GOAL, [Template(("edit_code", "commit"), 0.35, uses=3)], sure()), Compiled)
    # 3 successes in 10 uses is 0.3, not below 0.3
    assert isinstance(compile_plan(GOAL, [Template(("edit_code", "commit"), 0.9, uses=10, successes=3)], sure()), Compiled)


def test_only_the_best_match_counts_then_the_plan_model() -> None:
    weak_best = [Template(("edit_code",), 0.2), Template(("think",), 0.9, substantive=False)]
    assert compile_plan(GOAL, weak_best, sure()).reason == "best template is read-only"
    plan = compile_plan(GOAL, weak_best, sure(), model_steps=["search_code", "edit_code"], keywords=["fix", "parser"])
    assert isinstance(plan, Compiled) and plan.source == "plan_model"
    assert plan.steps[0] == {"type": "search_code", "pattern": "parser", "directory": ".", "store_as": "search_results"}
    assert compile_plan(GOAL, [], sure(), model_steps=["read_file", "think"]).reason == "no matching templates"


def test_cortex_simulation_gates() -> None:
    assert "confidence too low" in compile_plan(GOAL, [EDIT], sure(confidence=0.39)).reason
    assert "success too low" in compile_plan(GOAL, [EDIT], sure(success=0.29)).reason
    assert isinstance(compile_plan(GOAL, [EDIT], sure(success=0.3, confidence=0.4)), Compiled)  # at the thresholds


def test_the_simulation_sees_the_enriched_step_types() -> None:
    seen: list[list[str]] = []

    def simulate(steps: Sequence[str]) -> Simulation:
        seen.append(list(steps))
        return Simulation(1.0, 1.0)

    compile_plan(GOAL, [Template(("read_file", "unknown_kind", "commit"), 0.9)], simulate)
    assert seen == [["read_file", "commit"]]  # kinds autonomy cannot fill are dropped


def test_hivemind_repellent_and_stuck_mode_veto() -> None:
    repelled = compile_plan(GOAL, [EDIT], sure(), action_trails={"edit_code": (-0.6, 0.4)})
    assert repelled.reason == "the hivemind repels edit_code"
    # valence −0.5 is not below −0.5, and intensity 0.3 is not above 0.3
    for trail in ((-0.5, 0.9), (-0.9, 0.3)):
        assert isinstance(compile_plan(GOAL, [EDIT], sure(), action_trails={"edit_code": trail}), Compiled)
    assert "stuck" in compile_plan(GOAL, [EDIT], sure(), mode="stuck").reason


def test_no_target_file_means_no_plan() -> None:
    result = compile_plan("make it better", [EDIT], sure())
    assert result == Fallback("could not enrich the plan with concrete steps")


def test_target_file_choice() -> None:
    trails = {"a.py": (0.5, 2.0), "b.py": (0.9, 1.5), "c.py": (1.0, 0.3), "d.py": (-1.0, 3.0)}
    assert target_file("tidy `core/store.py`.", trails, ["e.py"]) == "core/store.py"  # named in the goal
    assert target_file("rename it in brain.py, please", {}, []) == "brain.py"
    # valence × intensity: a.py 0.5·2.0 = 1.0 < b.py 0.9·1.5 = 1.35; c.py is too faint (0.3), d.py repels
    assert target_file("tidy up", trails, ["e.py"]) == "b.py"
    assert target_file("tidy up, e.g. this", {"c.py": (1.0, 0.3)}, ["e.py", "f.py"]) == "e.py"  # newest read
    assert target_file("tidy up", {}, []) is None


def test_diagnosis_of_a_newborn_agent() -> None:
    goals = diagnose(experiences=0, cortex_accuracy=0.0, template_fitnesses=[], trails=0, deposits=0, mode="stuck",
                     weights={"brain": 0.25, "cortex": 0.25, "genesis": 0.25, "hivemind": 0.25})
    # stuck (5), cortex short of experience (4), empty gene pool (4); no deposits yet, so no hivemind goal
    assert [(g.system, g.priority) for g in goals] == [("synthesis", 5), ("cortex", 4), ("genesis", 4)]


def test_diagnosis_rules() -> None:
    healthy = dict(experiences=50, cortex_accuracy=0.6, template_fitnesses=[0.3], trails=1, deposits=1, mode="coherent",
                   weights={"brain": 0.4, "cortex": 0.2, "genesis": 0.2, "hivemind": 0.2})
    assert diagnose(**healthy) == []  # every value sits exactly on its threshold
    sick = {**healthy, "cortex_accuracy": 0.59, "template_fitnesses": [0.1, 0.4], "trails": 0, "mode": "conflicted",
            "weights": {"brain": 0.41, "cortex": 0.2, "genesis": 0.2, "hivemind": 0.19}}
    goals = diagnose(**sick)
    # cortex 3, genesis 3 (mean 0.25), conflicted 3 come first; hivemind 2 and the dominance 2 are cut at 3
    assert [(g.system, g.priority) for g in goals] == [("cortex", 3), ("genesis", 3), ("synthesis", 3)]
    only_dominant = diagnose(**{**healthy, "weights": {"brain": 0.41, "tenth": 0.59}})
    assert len(only_dominant) == 1 and "tenth dominates" in only_dominant[0].description


def test_sync_rate() -> None:
    assert sync_rate(0.5, 0.5) == pytest.approx(0.2)  # ratio 1 → 0.2
    assert sync_rate(0.8, 0.4) == pytest.approx(0.4)  # ratio 2 → 0.4
    assert sync_rate(0.9, 0.1) == pytest.approx(0.4)  # ratio 9, clamped to 2
    assert sync_rate(0.1, 0.5) == pytest.approx(0.04)  # ratio 0.2 → 0.04
    assert sync_rate(0.01, 1.0) == pytest.approx(0.02)  # ratio 0.01 → 0.1 → 0.02
    assert sync_rate(0.3, 0.0) == pytest.approx(0.4) and sync_rate(0.0, 0.0) == pytest.approx(0.2)


@given(st.floats(0, 10), st.floats(0, 10))
def test_sync_rate_is_bounded(peer: float, own: float) -> None:
    assert 0.02 - 1e-12 <= sync_rate(peer, own) <= 0.4 + 1e-12


def test_attempts_are_counted_and_round_trip() -> None:
    state = record_attempt(AutonomyState(), compile_plan(GOAL, [EDIT], sure()))
    state = record_attempt(state, Fallback("no matching templates"))
    assert state == AutonomyState(2, 1, {"template": 1}, "no matching templates")
    assert AutonomyState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert Template.from_dict({"step_types": ["commit"], "match": 0.4}) == Template(("commit",), 0.4)
