"""`colony soul` against a real node's socket."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import CliRunner, Result

from colony.core.cli import cli
from colony.testing import RunningNode


def colony(node: RunningNode, *args: str) -> Result:
    """Run `colony --home HOME soul ARGS --socket SOCKET` in-process."""
    return CliRunner().invoke(cli, ["--home", str(node.home), "soul", *args, "--socket", str(node.socket)], catch_exceptions=False)


def test_nudge_goals_and_abandon(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(steps_per_tick=1)
    nudged = colony(node, "nudge", "echo a b", "--priority", "7")
    assert nudged.exit_code == 0, nudged.output
    assert nudged.output == "goal g1 (priority 7): echo a b\n"
    assert json.loads(colony(node, "nudge", "make tea", "--json").output)["priority"] == 5
    node.tick()

    listed = colony(node, "goals")
    lines = listed.output.splitlines()
    assert lines[0].split() == ["ID", "PRI", "STATUS", "SOURCE", "PLAN", "GOAL"]
    assert lines[1].split() == ["g1", "7", "active", "nudge", "p1", "1/2", "echo", "a", "b"]
    assert lines[2].split() == ["g2", "5", "active", "nudge", "-", "make", "tea"]

    abandoned = colony(node, "goals", "--abandon", "g2")
    assert abandoned.output == "abandoned goal g2: make tea\n"
    assert [g["id"] for g in json.loads(colony(node, "goals", "--json").output)] == ["g1"]
    assert [g["status"] for g in json.loads(colony(node, "goals", "--all", "--json").output)] == ["active", "abandoned"]
    missing = colony(node, "goals", "--abandon", "g9")
    assert missing.exit_code == 1 and "Error: no goal 'g9'" in missing.output


def test_plans_approve_and_reject(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node(approve_plans=True)
    assert colony(node, "plans").output == "no plans\n"
    node.call("soul.nudge", text="echo yes")
    node.call("soul.nudge", text="echo no", priority=1)
    node.tick()
    shown = colony(node, "plans")
    assert shown.output.splitlines() == [
        "plan p1 for goal g1 (autonomy, active, 0 replans, awaiting approval)",
        '   1. pending  echo {"text":"yes"}',
    ]
    approved = colony(node, "plans", "--approve", "p1")
    assert approved.exit_code == 0 and approved.output.startswith("approved plan p1\nplan p1 for goal g1 (autonomy, active, 0 replans)\n")
    node.tick()
    node.tick()
    rejected = colony(node, "plans", "--reject", "p2", "--json")
    assert json.loads(rejected.output)["status"] == "rejected"
    both = colony(node, "plans", "--approve", "p1", "--reject", "p2")
    assert both.exit_code == 2 and "give --approve or --reject, not both" in both.output


def test_chat(soul_node: Callable[..., RunningNode]) -> None:
    node = soul_node()
    chatted = colony(node, "chat", "hello?")
    assert chatted.exit_code == 0, chatted.output
    assert chatted.output.startswith("I think at T0") and chatted.output.endswith("I have no goal.\n[T0]\n")
    assert json.loads(colony(node, "chat", "again", "--json").output)["tier"] == "T0"
