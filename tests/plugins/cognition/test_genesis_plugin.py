"""The genesis plugin on a real node: templates from successful soul plans, votes, proposals with their credit, evolution on its oscillator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from colony.core import Tick
from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import FIRING, cognition_node, ticks

GOAL = "parse the config file"
PLAN = ["read_file:ok:config.toml", "write_file:ok:config.toml"]


def propose(node: RunningNode, goal: dict[str, Any]) -> Any:
    """Genesis' answer to `colony_propose` for `goal`."""
    assert node.kernel is not None
    dispatcher = node.kernel.dispatcher

    async def call() -> Any:
        return await dispatcher.call_plugin("genesis", "colony_propose", tick=Tick(99, 0.0), goal=goal)

    return node.run(call)


def top(node: RunningNode) -> dict[str, Any]:
    """The fittest template."""
    return node.call("genesis.state")["top"][0]


def test_learns_a_template_from_a_successful_plan_and_votes_with_it(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "genesis", plan=PLAN, goal=GOAL, planner="soul") as node:
        [first] = ticks(node, 1)
        assert first["steps"][0]["appraisals"]["genesis"] == {"vote": 0.0, "confidence": 0.0, "reason": "no matching template"}
        learned = top(node)
        assert learned == {"id": 0, "steps": ["read_file", "write_file"], "fitness": 0.5, "uses": 1, "successes": 1,
                           "generation": 0, "goal": GOAL}
        [second] = ticks(node, 1)
        # Same goal, fitness 0.5: match 0.7·1 + 0.3·0.5 = 0.85, vote 2·0.5 − 1 = 0.
        assert second["steps"][0]["appraisals"]["genesis"] == {"vote": 0.0, "confidence": 0.85, "reason": "", "template": 0}
        assert second["memories"]["genesis"]["templates"] == [{"id": 0, "steps": ["read_file", "write_file"], "fitness": 0.5, "match": 0.85}]
        # The same plan again boosts the template: success 2/2 × 1/(1 + 1 h/168 h) (age floored at an hour).
        assert top(node)["uses"] == 2 and top(node)["fitness"] == pytest.approx(1 / (1 + 1 / 168), abs=1e-4)
        assert node.call("genesis.state")["templates"] == 1
        observed = ticks(node, 1)[0]["observations"]["genesis"]
        assert observed["templates"] == 1 and observed["mean_fitness"] == pytest.approx(0.9941, abs=1e-4)


def test_a_plan_that_fails_is_not_learned(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "genesis", plan=["read_file:ok", "write_file:fail"], goal=GOAL, planner="soul") as node:
        ticks(node, 3)
        assert node.call("genesis.state")["templates"] == 0


def test_proposes_a_matching_template_and_credits_its_outcomes(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "genesis", plan=["read_file:ok:config.toml", "write_file:alt:config.toml"],
                        goal=GOAL, planner="soul") as node:
        ticks(node, 2)  # tick 1 fails, tick 2 succeeds: one template
        assert propose(node, {"id": "g9", "text": "bake bread"}) is None  # nothing matches
        proposal = propose(node, {"id": "g1", "text": GOAL + " quickly"})
        # match 0.7 · Jaccard({parse, config, file}, {parse, config, file, quickly}) + 0.3 · 0.5 = 0.675
        assert proposal["confidence"] == pytest.approx(0.675) and proposal["template"] == 0
        assert proposal["steps"] == [{"action": "read_file", "params": {"ok": True, "tick": 2, "path": "config.toml"}},
                                     {"action": "write_file", "params": {"ok": True, "tick": 2, "path": "config.toml"}}]
        ticks(node, 1)  # the plan for g1 fails: a failure counts three uses
        assert (top(node)["uses"], top(node)["successes"]) == (4, 1)
        ticks(node, 1)  # and it succeeds: the template is credited, not duplicated
        assert (top(node)["uses"], top(node)["successes"]) == (5, 2)
        assert node.call("genesis.state")["templates"] == 1


def test_evolves_when_its_oscillator_fires(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "genesis", plan=PLAN, goal=GOAL, planner="soul", dropins={"colony_state": FIRING},
                        config={"colony_state": {"fire": ["genesis_evolution"], "at": ["2"]}}) as node:
        generations = [node.tick() and node.call("genesis.state")["generation"] for _ in range(4)]
        assert generations == [0, 1, 1, 1]
    with cognition_node(tmp_path / "alone", "genesis", plan=PLAN, config={"genesis": {"evolve_every": 2}}) as node:
        generations = [node.tick() and node.call("genesis.state")["generation"] for _ in range(5)]
        assert generations == [0, 1, 1, 2, 2]  # without colony_state: every 2 ticks
