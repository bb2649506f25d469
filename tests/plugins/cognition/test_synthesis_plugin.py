"""The synthesis plugin on a real node: every plugin's vote counts, consensus and coherence by hand, the veto, adaptive trust, imagination."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.cognition.cognition_harness import VOTER, cognition_node, ticks

VOTERS = {"alice": VOTER, "bob": VOTER}
# Stands in for evaluation: fixed recent Brier scores.
EVALUATION = '''
from colony.core import Manifest

PLUGIN = Manifest(name="evaluation", version="0.0.1")


def colony_observe(tick):
    return {"brier": {"cortex": 0.0, "brain": 1.0, "nobody": 0.5}, "sync_benefit": 0.0, "records": 0}
'''


def voters(alice: tuple[float, float], bob: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Config for the two scripted voters: (vote, confidence) each."""
    return {"alice": {"vote": alice[0], "confidence": alice[1]}, "bob": {"vote": bob[0], "confidence": bob[1]}}


def test_combines_any_plugins_votes_with_trust_weights(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "synthesis", plan=["think:ok"], dropins=VOTERS,
                        config=voters((0.8, 1.0), (-0.4, 0.5))) as node:
        [tick] = ticks(node, 1)
        # consensus Σ(v·c·w)/Σ(c·w) = (0.8·1 − 0.4·0.5)·0.25 / ((1 + 0.5)·0.25) = 0.4;
        # coherence 1 − std(0.8, −0.4) = 1 − 0.6 = 0.4; confidence Σ(c·w)/Σw = 0.375 / 0.5 = 0.75.
        assert tick["steps"][0]["appraisals"]["synthesis"] == {
            "vote": 0.4, "confidence": 0.75, "coherence": 0.4, "mode": "exploring", "voters": 2}
        assert tick["steps"][0]["status"] == "ok"
        state = node.call("synthesis.state")
        assert state["predictions"] == 1 and state["conflicts"] == 1  # confident votes on both sides of ±0.2
        assert state["records"]["alice"] == {"total": 1, "correct": 1, "recent_accuracy": 1.0}
        assert state["records"]["bob"] == {"total": 1, "correct": 0, "recent_accuracy": 0.0}
        assert set(state["weights"]) == {"brain", "cortex", "genesis", "hivemind", "alice", "bob"}


def test_trust_moves_toward_the_systems_that_call_outcomes_right(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "synthesis", plan=["think:ok"], dropins=VOTERS,
                        config=voters((0.8, 1.0), (-0.4, 0.5))) as node:
        ticks(node, 9)
        assert node.call("synthesis.state")["weights"] == dict.fromkeys(("brain", "cortex", "genesis", "hivemind", "alice", "bob"), 0.25)
        ticks(node, 1)
        # The 10th outcome: w = 0.95·w + 0.05·recent accuracy (alice 1, bob 0), then all six normalised.
        weights = node.call("synthesis.state")["weights"]
        total = 0.2875 + 0.2375 + 4 * 0.25
        assert weights["alice"] == pytest.approx(0.2875 / total, abs=1e-4)
        assert weights["bob"] == pytest.approx(0.2375 / total, abs=1e-4)
        assert weights["cortex"] == pytest.approx(0.25 / total, abs=1e-4)
        ticks(node, 20)
        weights = node.call("synthesis.state")["weights"]
        assert weights["alice"] > weights["cortex"] > weights["bob"]


def test_vetoes_only_a_strongly_negative_consensus_of_several_voters(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "synthesis", plan=["think:ok"], dropins=VOTERS,
                        config=voters((-0.9, 1.0), (-0.8, 1.0))) as node:
        [tick] = ticks(node, 1)
        assert tick["steps"][0]["appraisals"]["synthesis"] is False and tick["steps"][0]["status"] == "vetoed"
        assert node.call("synthesis.state")["predictions"] == 0  # a vetoed step is no learning material
    with cognition_node(tmp_path / "one", "synthesis", plan=["think:ok"], dropins={"alice": VOTER},
                        config={"alice": {"vote": -1.0, "confidence": 1.0}}) as node:
        [tick] = ticks(node, 1)
        assert tick["steps"][0]["appraisals"]["synthesis"]["vote"] == -1.0 and tick["steps"][0]["status"] == "ok"


def test_abstains_without_votes_and_adapts_to_evaluations_brier(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "synthesis", plan=["think:ok"], dropins={"evaluation": EVALUATION}) as node:
        [tick] = ticks(node, 1)
        assert "synthesis" not in tick["steps"][0]["appraisals"]
        # Every cycle: w = 0.975·w + 0.025·(1 − Brier) for the systems evaluation scored, then normalised.
        weights = node.call("synthesis.state")["weights"]
        total = 0.26875 + 0.24375 + 2 * 0.25
        assert weights == pytest.approx({"cortex": 0.26875 / total, "brain": 0.24375 / total,
                                         "genesis": 0.25 / total, "hivemind": 0.25 / total}, abs=1e-4)


def test_imagines_plans_from_the_cortex_graph_and_genesis_templates(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "synthesis", "cortex", "genesis",
                        plan=["read_file:ok:src/app.py", "run_shell:ok", "think:ok"]) as node:
        records = ticks(node, 4)
        imagined = records[-1]["memories"]["synthesis"]["imagined"]
        assert {"steps": ["read_file", "run_shell", "think"], "source": "walk"}.items() <= {
            k: v for plan in imagined for k, v in plan.items() if plan["source"] == "walk" and plan["steps"][0] == "read_file"}.items()
        sources = {plan["source"] for plan in imagined}
        assert {"walk", "template"} <= sources
        assert node.call("synthesis.state")["imagined"] == len(node.call("synthesis.state")["imagined_plans"])
