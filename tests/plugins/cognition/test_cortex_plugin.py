"""The cortex plugin on a real node: honest accuracy, votes, recall, dreaming on its oscillator, and a live swap that keeps what it learned."""

from __future__ import annotations

from pathlib import Path

import pytest

import colony.plugins.cognition.cortex as cortex_plugin
from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import FIRING, cognition_node, ticks


def test_learns_action_models_and_votes_with_them(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "cortex", plan=["read_file:ok:src/app.py", "run_shell:fail"]) as node:
        [first] = ticks(node, 1)
        # Never seen: no prediction to vote with.
        assert first["steps"][0]["appraisals"]["cortex"] == {"vote": 0.0, "confidence": 0.0, "reason": "never seen this action"}
        [second] = ticks(node, 1)
        # After one success (α = 1): success rate 1, reward 1, so 1 × max(1, 0.1) = 1, trusted 1/20.
        assert second["memories"]["cortex"]["predictions"] == {"read_file": 1.0, "run_shell": 0.0}
        assert second["steps"][0]["appraisals"]["cortex"] == {"vote": 1.0, "confidence": 0.05, "reason": ""}
        # The failure: success rate 0, so 0 × max(−0.5, 0.1) = 0.
        assert second["steps"][1]["appraisals"]["cortex"]["vote"] == 0.0
        edges = second["memories"]["cortex"]["edges"]
        assert {(e["from"], e["to"]) for e in edges} == {("read_file", "run_shell")}
        state = node.call("cortex.state")
        assert state["experiences"] == 4 and state["models"]["read_file"]["samples"] == 2
        assert state["predictions"] == 2  # first sightings are not scored


def test_accuracy_is_checked_against_outcomes_not_rewards(tmp_path: Path) -> None:
    # An action that alternates ok / failed cannot be predicted: the seed scored (reward > 0) == succeeded,
    # 100 % by construction; the cortex scores its prediction made before the outcome.
    with cognition_node(tmp_path / "home", "cortex", plan=["think:alt"]) as node:
        records = ticks(node, 21)
        accuracy = node.call("cortex.state")["accuracy"]
        assert accuracy < 0.6
        assert records[-1]["observations"]["cortex"]["accuracy"] < 0.6
    with cognition_node(tmp_path / "steady", "cortex", plan=["read_file:ok", "run_shell:fail"]) as node:
        ticks(node, 10)
        assert node.call("cortex.state")["accuracy"] == 1.0  # a world it can predict


def dreams(node: RunningNode, count: int) -> list[int]:
    """The cortex's dream count after each of `count` ticks."""
    return [node.tick() and node.call("cortex.state")["dreams"] for _ in range(count)]


def test_dreams_when_colony_states_oscillator_fires(tmp_path: Path) -> None:
    firing = {"colony_state": FIRING}
    with cognition_node(tmp_path / "home", "cortex", plan=["read_file:ok", "think:ok"], dropins=firing,
                        config={"colony_state": {"fire": ["cortex_dreaming"], "at": ["3", "7"]}}) as node:
        assert dreams(node, 12) == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]  # only where it fired (not every 10 ticks)
    with cognition_node(tmp_path / "alone", "cortex", plan=["read_file:ok"], config={"cortex": {"dream_every": 4}}) as node:
        assert dreams(node, 9) == [0, 0, 0, 1, 1, 1, 1, 2, 2]  # without colony_state: every 4 ticks


@pytest.mark.parametrize("how", ["swap", "reload"])
def test_live_swap_keeps_learned_state(tmp_path: Path, how: str) -> None:
    v2 = tmp_path / "cortex_v2.py"
    assert cortex_plugin.__file__ is not None
    v2.write_text(Path(cortex_plugin.__file__).read_text().replace('version="1.0.0"', 'version="1.1.0"'))
    with cognition_node(tmp_path / "home", "cortex", plan=["read_file:ok:src/app.py", "run_shell:fail"]) as node:
        ticks(node, 6)
        before = node.call("cortex.state")
        if how == "swap":
            row = node.call("plugins.swap", name="cortex", path=str(v2))
            assert row["version"] == "1.1.0" and row["state"] == "running"
        else:
            node.call("plugins.reload", name="cortex")
        assert node.call("cortex.state") == before  # the new copy carries on from the store
        [after] = ticks(node, 1)
        assert after["observations"]["cortex"]["experiences"] == before["experiences"]
        state = node.call("cortex.state")
        assert state["experiences"] == before["experiences"] + 2
        assert state["models"]["read_file"]["samples"] == before["models"]["read_file"]["samples"] + 1
        assert node.call("node.metrics")["kernel"]["hook_errors"] == 0
