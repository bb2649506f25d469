"""colony-curiosity against a real node: it observes, votes in synthesis, shows a panel, and keeps its counts."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from colony.testing import RunningNode, check_plugin

PACKAGE = Path(__file__).parents[1]
MODULE = PACKAGE / "colony_curiosity" / "__init__.py"


def start(running_node: Callable[..., RunningNode], home: Path, *plugins: str, boredom: int = 2) -> RunningNode:
    """A node with curiosity as a drop-in (so the tests run installed or not), pulse to plan a step a tick, and `plugins`."""
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    shutil.copy(MODULE, home / "plugins" / "curiosity.py")
    config: dict[str, Any] = {"plugin": {"curiosity": {"boredom": boredom}}}
    return running_node(plugins=["curiosity", "pulse", *plugins], config=config, home=home)


def test_curiosity_passes_the_conformance_checks() -> None:
    check_plugin(MODULE)


def test_the_distribution_declares_its_entry_point() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["colony"] == {"curiosity": "colony_curiosity"}


def test_it_votes_in_synthesis_and_its_vote_fades_with_tries(running_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    node = start(running_node, tmp_path / "home", "synthesis")
    first, second, third = node.tick(), node.tick(), node.tick()
    (step,) = first["steps"]
    assert step["action"] == "pulse.beat" and step["status"] == "ok"
    assert step["appraisals"]["curiosity"] == {"vote": 1.0, "confidence": 0.3, "reason": "novelty"}
    # Synthesis counts any plugin whose appraisal is a dict with a numeric "vote": here, ours alone.
    assert step["appraisals"]["synthesis"]["vote"] == 1.0 and step["appraisals"]["synthesis"]["voters"] == 1
    assert second["steps"][0]["appraisals"]["curiosity"]["vote"] == 0.5  # one try of two before boredom
    assert third["steps"][0]["appraisals"]["curiosity"]["vote"] == 0.0
    assert third["observations"]["curiosity"] == {"actions": 1, "tries": 2}
    assert "curiosity" in node.call("synthesis.state")["weights"]  # it earns trust like the nine systems


def test_it_shows_in_the_tui(running_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    node = start(running_node, tmp_path / "home", "colony_state")
    node.tick()
    # The cognition screen lists every system colony_state saw observe or vote: the tenth one too.
    assert node.call("cognition.overview")["systems"]["curiosity"] == {"actions": 0, "tries": 0}
    assert {"name": "curiosity", "title": "Curiosity"}.items() <= next(p for p in node.call("panels.list") if p["name"] == "curiosity").items()
    data = node.call("panels.get", name="curiosity")["data"]
    assert data == {"gauges": {"actions": 1, "tries": 1},
                    "table": {"columns": ["action", "tries", "novelty"], "rows": [["pulse.beat", 1, 0.5]]}}


def test_its_counts_survive_a_swap_and_a_restart(running_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    home = tmp_path / "home"
    node = start(running_node, home)
    node.tick()
    node.call("plugins.reload", name="curiosity")  # blue/green: the new copy reads the store
    assert node.tick()["observations"]["curiosity"] == {"actions": 1, "tries": 1}
    node.stop()
    with RunningNode(home, plugins=["curiosity", "pulse"]) as again:  # a new node on the same home
        assert again.tick()["observations"]["curiosity"] == {"actions": 1, "tries": 2}
