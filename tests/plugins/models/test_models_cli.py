"""`colony models` against a real node's socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from colony.core.cli import cli
from colony.testing import RunningNode
from tests.plugins.models.conftest import brain_examples


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNode]:
    """A node with the models plugin, a small brain, and 64 brain examples."""
    config = {"plugin": {"models": {"dims": ["brain.hidden=16"], "interval": 0.0}}}
    with RunningNode(tmp_path / "home", plugins=["models"], config=config) as running:
        running.call("models.examples.add", name="brain", examples=brain_examples(0, 64))
        yield running


def colony(node: RunningNode, *args: str) -> Result:
    """Run `colony --home HOME models ARGS --socket SOCKET` in-process."""
    return CliRunner().invoke(cli, ["--home", str(node.home), "models", *args, "--socket", str(node.socket)], catch_exceptions=False)


def test_train_shows_progress_then_the_summary(node: RunningNode) -> None:
    trained = colony(node, "train", "--steps", "3")
    assert trained.exit_code == 0, trained.output
    assert "brain" in trained.output.splitlines()[0]  # the progress bar's label
    assert "brain: 3 steps in " in trained.output and ", 3 steps in all" in trained.output
    summaries = json.loads(colony(node, "train", "brain", "--steps", "1", "--seconds", "60", "--json").output)
    assert [(s["model"], s["steps_run"], s["steps"]) for s in summaries] == [("brain", 1, 4)]


def test_list_and_eval(node: RunningNode) -> None:
    node.call("models.train", name="brain", steps=2)
    listed = colony(node, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["NAME", "ARCH", "PARAMETERS", "STEPS", "LOSS", "EXAMPLES", "KERNELS"]
    brain = next(line.split() for line in lines if line.startswith("brain"))
    assert brain[:4] == ["brain", "brain/1", "2,727", "2"] and brain[5:] == ["64", "default"]  # no table for a 16-unit brain
    assert next(line.split() for line in lines if line.startswith("plan")) == ["plan", "-", "-", "0", "-", "0", "-"]
    assert "device CPU" in listed.output or "device CUDA" in listed.output
    assert json.loads(colony(node, "list", "--json").output)["models"][0]["name"] == "brain"

    evaluated = colony(node, "eval")
    assert evaluated.exit_code == 0, evaluated.output
    assert evaluated.output.startswith("brain: loss ") and evaluated.output.endswith(" on 64 examples after 2 steps\n")
    assert json.loads(colony(node, "eval", "brain", "--limit", "8", "--json").output)[0]["examples"] == 8


def test_export_then_import(node: RunningNode, tmp_path: Path) -> None:
    node.call("models.train", name="brain", steps=2)
    delta, weights = tmp_path / "brain.delta", tmp_path / "brain.weights"
    exported = colony(node, "export", "brain", "-o", str(delta))
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith("wrote the delta of brain (2 steps, ") and delta.stat().st_size > 0
    assert colony(node, "export", "brain", "--full", "--output", str(weights)).exit_code == 0

    imported = colony(node, "import", "brain", str(delta), "--rate", "0.25")
    assert imported.exit_code == 0, imported.output
    assert imported.output == "brain: merged the delta at rate 0.25; now 2 steps\n"
    assert colony(node, "import", "brain", str(weights), "--full").output == "brain: merged the weights at rate 1.0; now 2 steps\n"
    assert node.call("models.list")["last_merge"]["kind"] == "weights"


def test_errors_are_clear(node: RunningNode, tmp_path: Path) -> None:
    unknown = colony(node, "train", "nope")
    assert unknown.exit_code == 1 and "Error: no model named 'nope'" in unknown.output
    junk = tmp_path / "junk"
    junk.write_bytes(b"junk")
    refused = colony(node, "import", "brain", str(junk))
    assert refused.exit_code == 1 and "Error: brain: refused: weights are truncated" in refused.output
    bad_rate = colony(node, "import", "brain", str(junk), "--rate", "0")
    assert bad_rate.exit_code == 2 and "0<x<=1" in bad_rate.output
    untunable = colony(node, "tune", "nope")
    assert untunable.exit_code == 1 and "Error: no model named 'nope'" in untunable.output
    assert colony(node, "tune", "brain", "--beam", "9").exit_code == 2
