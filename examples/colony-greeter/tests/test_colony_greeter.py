"""colony-greeter against a real node, using only colony.testing and its pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from colony.core import RPCError
from colony.core.rpc import INVALID_PARAMS
from colony.testing import RunningNode, check_plugin

PLAN_EVERY_TICK = {"plugin": {"greeter": {"plan_every": 1, "name": "colony"}}}


@pytest.fixture(autouse=True)
def greeter_is_installed() -> None:
    """Nodes find the plugin through its entry point, so the distribution must be installed."""
    if "greeter" not in {ep.name for ep in entry_points(group="colony")}:
        pytest.fail("colony-greeter is not installed: pip install -e examples/colony-greeter", pytrace=False)


def test_greeter_passes_the_conformance_checks() -> None:
    check_plugin("greeter")  # found through its entry point, as a node would find it


def test_the_entry_point_is_discovered(running_node: Callable[..., RunningNode]) -> None:
    node = running_node(plugins=["greeter"])
    row = node.call("plugins.info", name="greeter")
    assert row["state"] == "running"
    assert row["source"]["kind"] == "entrypoint"
    assert row["source"]["distribution"].startswith("colony-greeter==")
    assert {"rpc", "panel"} == {r["kind"] for r in row["registrations"]}


def test_each_tick_records_the_greeters_observation(running_node: Callable[..., RunningNode]) -> None:
    node = running_node(plugins=["greeter"])
    first, second = node.tick(), node.tick()
    assert first["observations"]["greeter"] == {"greetings": 0, "name": "world"}
    assert second["number"] == first["number"] + 1
    assert second["steps"] == []  # it plans nothing unless configured
    assert node.call("node.ticks", limit=1)[-1]["observations"]["greeter"]["greetings"] == 0


def test_when_configured_it_plans_and_acts_on_greetings(running_node: Callable[..., RunningNode]) -> None:
    node = running_node(plugins=["greeter"], config=PLAN_EVERY_TICK)
    record = node.tick()
    (step,) = record["steps"]
    assert record["planner"] == "greeter"
    assert step["action"] == "greeter.greet"
    assert step["status"] == "ok"
    assert step["results"]["greeter"] == {"greeting": "Hello, colony!", "count": 1}
    assert node.tick()["observations"]["greeter"]["greetings"] == 1  # observed before the second greeting
    assert node.call("node.metrics")["greeter"] == {"greetings": 2, "greetings_since_start": 2}


def test_the_rpc_count_survives_reload_and_restart(colony_home: Path) -> None:
    with RunningNode(colony_home, plugins=["greeter"]) as node:
        assert node.call("greeter.greet", name="Ada") == {"greeting": "Hello, Ada!", "count": 1}
        assert node.call("greeter.greet")["greeting"] == "Hello, world!"
        assert node.call("plugins.reload", name="greeter")["state"] == "running"  # blue/green swap
        assert node.call("greeter.greet", name="Grace")["count"] == 3
        assert node.call("node.metrics")["greeter"] == {"greetings": 3, "greetings_since_start": 1}
    with RunningNode(colony_home, plugins=["greeter"]) as node:  # a new node on the same home
        assert node.tick()["observations"]["greeter"]["greetings"] == 3
        assert node.call("greeter.greet", name="Linus")["count"] == 4


@pytest.mark.parametrize(
    "params",
    [{"name": 42}, {"name": ["Ada"]}, {"name": "   "}, {"name": "x" * 65}, {"nmae": "Ada"}, {"name": "Ada", "extra": 1}],
)
def test_bad_params_get_a_json_rpc_error(running_node: Callable[..., RunningNode], params: dict[str, object]) -> None:
    node = running_node(plugins=["greeter"])
    with pytest.raises(RPCError) as caught:
        node.call("greeter.greet", **params)
    assert caught.value.code == INVALID_PARAMS
    assert "greeter.greet" in caught.value.message
    assert node.call("greeter.greet", name="Ada")["count"] == 1  # nothing was counted, nothing crashed
    info = node.call("plugins.info", name="greeter")
    assert (info["state"], info["errors"]) == ("running", 0)
