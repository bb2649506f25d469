"""The brain plugin on a real node: the models plugin's network votes, learns from outcomes, and gates risky steps only once warm."""

from __future__ import annotations

from pathlib import Path

import pytest

from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import cognition_node, ticks

# A cognitive cartridge stand-in: it answers the brain's predictions in place of the network.
DOOMED = '''
from colony.core import Manifest

PLUGIN = Manifest(name="NAME", version="1.0.0")


def colony_cognitive(name, request):
    if name != "brain.predict":
        return None
    return {"success": 0.02, "error": [0.9] + [0.01] * 10, "capabilities": [0.5] * 11}
'''


def test_votes_with_the_network_and_trains_it_on_outcomes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with cognition_node(home, "brain", plan=["read_file:ok:a.py", "run_shell:fail"], config={"brain": {"example_batch": 4}}) as node:
        [first] = ticks(node, 1)
        vote = first["steps"][0]["appraisals"]["brain"]
        assert vote["by"] == "model" and vote["gate"] == "allow" and 0 < vote["success"] < 1
        assert vote["vote"] == pytest.approx(2 * vote["success"] - 1, abs=2e-4) and vote["confidence"] in (0.4, 0.8)
        ticks(node, 2)
        state = node.call("brain.state")
        assert state["examples"] == 4 and state["predictions"] == 6  # handed over in batches of 4: two wait
        assert state["outcomes"] == {"read_file": [3, 3], "run_shell": [0, 3]}
        assert brain_examples(node) == 4
        node.call("models.train", name="brain", steps=2)
        [after] = ticks(node, 1)
        assert after["observations"]["brain"]["train_steps"] == 0  # seen at the end of the tick that follows training
        seen = ticks(node, 1)[0]["observations"]["brain"]
        assert seen["train_steps"] == 2 and seen["running_loss"] is not None and seen["warm"] is False  # 5 000 steps to warm up
    with cognition_node(home, "brain", plan=[]) as node:  # the examples left at stop were handed over
        assert node.call("brain.state")["examples"] == 10 and brain_examples(node) == 10


def brain_examples(node: RunningNode) -> int:
    """The models plugin's brain example pool size."""
    return next(m for m in node.call("models.list")["models"] if m["name"] == "brain")["examples"]


def test_a_cognitive_override_answers_and_the_gate_waits_for_warm_up(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "brain", plan=["deploy_cartridge:ok", "read_file:ok"], dropins={"oracle": DOOMED},
                        config={"brain": {"warm_steps": 2, "warm_loss": 1000.0, "example_batch": 1}}) as node:
        [cold] = ticks(node, 1)
        deploy, read = cold["steps"]
        # The override answered: 2·0.02 − 1, confident because the error class is 90 % sure; cold, so no veto.
        assert deploy["appraisals"]["brain"] == {"vote": -0.96, "confidence": 0.8, "reason": "likely error: compile",
                                                 "success": 0.02, "by": "oracle", "gate": "allow"}
        assert deploy["status"] == "ok"
        node.call("models.train", name="brain", steps=2)
        ticks(node, 1)  # its reflect sees the training
        [warm] = ticks(node, 1)
        deploy, read = warm["steps"]
        assert deploy["appraisals"]["brain"] is False and deploy["status"] == "vetoed"  # risky, doomed, warm
        assert read["appraisals"]["brain"]["gate"] == "allow" and read["status"] == "ok"  # only risky steps are gated
        assert warm["observations"]["brain"]["warm"] is True
