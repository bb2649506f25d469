"""The evaluation plugin on a real node: every voter's prediction scored against the step's outcome, and the benefit of a peer sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import VOTER, cognition_node, exported, merge_state, ticks
from tests.plugins.cognition.system_checks import JUNK_OBSERVATIONS, reflect_on, BAD_VALUES, JUNK, healthy, observed, replace_stored, saved

VOTERS = {"optimist": VOTER, "skeptic": VOTER}
VOTES = {"optimist": {"vote": 0.6, "confidence": 0.8}, "skeptic": {"vote": -0.4, "confidence": 0.5, "action": "run_shell"}}


def node_for(home: Path, plan: list[str], **config: Any) -> RunningNode:
    """evaluation with two scripted voters: the optimist on every step, the skeptic only on run_shell."""
    return cognition_node(home, "evaluation", plan=plan, dropins=VOTERS,
                          config={**VOTES, **({"evaluation": config} if config else {})})


def test_every_voter_is_scored_against_the_outcome(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", ["read_file:ok", "run_shell:fail"]) as node:
        first, second = ticks(node, 2)
        assert observed(first, "evaluation")["records"] == 0  # it observes what it learned last tick
        seen = observed(second, "evaluation")
        # The optimist's 0.6 is p = (0.6 + 1) / 2 = 0.8: (0.8 − 1)² = 0.04 on the step that worked,
        # (0.8 − 0)² = 0.64 on the one that failed; mean 0.34. The skeptic voted only on the failure:
        # p = (−0.4 + 1) / 2 = 0.3, (0.3 − 0)² = 0.09.
        assert seen["brier"]["optimist"] == pytest.approx(0.34)
        assert seen["brier"]["skeptic"] == pytest.approx(0.09)
        assert seen["brier"]["brain"] == 0.25  # no records: the random baseline, for the seed's four systems
        assert seen["records"] == 3
        report = node.call("evaluation.report")
        assert report["systems"]["optimist"]["accuracy"] == 0.5  # right on the success, wrong on the failure
        assert report["systems"]["skeptic"]["accuracy"] == 1.0
        assert report["sync"]["pending"] is False
        assert healthy(node, "evaluation")


def test_records_survive_a_live_swap_and_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with node_for(home, ["read_file:alt"]) as node:
        ticks(node, 5)
        before = node.call("evaluation.report")
        node.call("plugins.reload", name="evaluation")
        assert node.call("evaluation.report") == before
        ticks(node, 1)
        before = node.call("evaluation.report")
    assert before["records"] == 6
    with node_for(home, ["read_file:alt"]) as node:
        assert node.call("evaluation.report") == before
        ticks(node, 1)
        assert node.call("evaluation.report")["records"] == 7


def test_a_peer_sync_is_measured_on_the_predictions_made_after_it(tmp_path: Path) -> None:
    with node_for(tmp_path / "a", ["read_file:ok"]) as peer:
        ticks(peer, 2)
        shared = exported(peer, "evaluation")
    assert shared == {"brier": {"brain": 0.25, "cortex": 0.25, "genesis": 0.25, "hivemind": 0.25, "optimist": 0.04},
                      "sync_benefit": 0.0, "records": 2}
    # One step a tick, failed on odd ticks and ok on even ones; the optimist always says 0.8.
    with node_for(tmp_path / "b", ["read_file:alt"]) as node:
        ticks(node, 10)  # ticks 1..10: five right, five wrong
        merge_state(node, "evaluation", shared, 0.3)
        sync = node.call("evaluation.report")["sync"]
        assert (sync["pending"], sync["accuracy_before"]) == (True, 0.5)
        ticks(node, 4)  # four new records: fewer than sync_min_new (5), so not measured yet
        assert node.call("evaluation.report")["sync"]["pending"] is True
        records = ticks(node, 2)  # tick 15 makes the fifth
        sync = node.call("evaluation.report")["sync"]
        # Ticks 11..15 fail, ok, fail, ok, fail: accuracy after = 2/5 = 0.4, delta = 0.4 − 0.5 = −0.1,
        # avg_sync_benefit = 0.9·0 + 0.1·(−0.1) = −0.01.
        assert (sync["pending"], sync["measured"], sync["accuracy_after"]) == (False, 1, 0.4)
        assert sync["delta"] == pytest.approx(-0.1)
        assert observed(records[-1], "evaluation")["sync_benefit"] == pytest.approx(-0.01)
        assert healthy(node, "evaluation")


def test_hostile_merges_are_ignored(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", ["read_file:alt"]) as node:
        ticks(node, 3)
        before = node.call("evaluation.report")
        valid = {"brier": {"brain": 0.2}, "sync_benefit": 0.0, "records": 3}

        @settings(max_examples=60, deadline=None)
        @given(junk=JUNK, bad=BAD_VALUES, count=st.sampled_from([-1, 0.5, "3", None, float("nan"), [1]]))
        def check(junk: Any, bad: Any, count: Any) -> None:
            merge_state(node, "evaluation", junk, 0.4)
            merge_state(node, "evaluation", valid, bad)  # a rate outside [0, 1]
            merge_state(node, "evaluation", {**valid, "brier": {"brain": bad}}, 0.4)
            merge_state(node, "evaluation", {**valid, "records": count}, 0.4)
            assert node.call("evaluation.report") == before

        check()
        assert healthy(node, "evaluation")


def test_a_corrupt_stored_state_is_replaced_and_kept_aside(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", ["read_file:ok"]) as node:
        ticks(node, 3)
        garbage = {"rows": b"\x93not msgpack rows", "sync": 7}
        replace_stored(node, "evaluation", "state", garbage)
        assert node.call("evaluation.report")["records"] == 0
        ticks(node, 2)
        assert node.call("evaluation.report")["records"] == 2
        assert saved(node, "evaluation", "state.corrupt") == garbage
        assert healthy(node, "evaluation")


def test_junk_votes_never_break_it(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", ["read_file:ok"]) as node:

        @settings(max_examples=80, deadline=None)
        @given(observations=JUNK_OBSERVATIONS, appraisals=JUNK)
        def check(observations: Any, appraisals: Any) -> None:
            reflect_on(node, "evaluation", observations, appraisals)
            assert all(0 <= row["brier"] <= 1 for row in node.call("evaluation.report")["systems"].values())

        check()
        assert healthy(node, "evaluation")
