"""What every cognitive-system plugin owes the node: state that survives a restart and a corrupt store, and peer merges that move it or are ignored."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.testing import RunningNode, check_plugin
from tests.plugins.cognition.cognition_harness import SMALL_MODELS, cognition_node, exported, merge_state, ticks
from tests.plugins.cognition.system_checks import saved

PLAN = ["read_file:ok:src/app.py", "run_shell:fail", "think:alt"]
SYSTEMS = ("brain", "cortex", "genesis", "hivemind", "synthesis")
SHARING = ("cortex", "genesis", "hivemind")  # what the digest says syncs (the brain's weights sync through models)
# The learned part of each system's `<name>.state` (synthesis' coherence series and mode live in memory only).
LEARNED = {
    "brain": ("outcomes", "examples", "predictions"),
    "cortex": ("models", "experiences", "predictions", "accuracy", "insights", "dreams"),
    "genesis": ("top", "generation", "created"),
    "hivemind": ("strongest", "deposits", "trails"),
    "synthesis": ("weights", "records", "predictions", "conflicts"),
}


def node_for(home: Path, system: str) -> RunningNode:
    """A node running `system` with the other voters (so synthesis has votes) and the scripted planner."""
    others = ("cortex", "hivemind") if system == "synthesis" else ()
    # Genesis learns only from plans that fully succeed: give it one.
    plan = ["read_file:ok:src/app.py", "think:ok"] if system == "genesis" else PLAN
    # The brain hands examples to the models plugin one at a time here, so a stop has none left to hand over.
    return cognition_node(home, system, *others, plan=plan, config={"brain": {"example_batch": 1}} if system == "brain" else None)


def learned(node: RunningNode, system: str) -> dict[str, Any]:
    """The learned part of `system`'s state, from its RPC."""
    state = node.call(f"{system}.state")
    return {key: state[key] for key in LEARNED[system]}


def errors(node: RunningNode) -> int:
    """Hook errors so far."""
    return node.call("node.metrics")["kernel"]["hook_errors"]


@pytest.mark.parametrize("system", SYSTEMS)
def test_learned_state_survives_a_restart(tmp_path: Path, system: str) -> None:
    home = tmp_path / "home"
    with node_for(home, system) as node:
        fresh = learned(node, system)
        ticks(node, 12)
        before = learned(node, system)
        assert before != fresh  # it learned something
        assert errors(node) == 0
    with node_for(home, system) as node:
        assert learned(node, system) == before
        ticks(node, 1)
        assert errors(node) == 0


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_corrupt_stored_state_is_set_aside_and_replaced_by_a_fresh_one(tmp_path: Path, system: str) -> None:
    home = tmp_path / "home"
    with node_for(home, system) as node:
        fresh = learned(node, system)
        ticks(node, 3)
        assert node.kernel is not None
        namespace = node.kernel.store.namespace(system)
        node.run(namespace.put, "state", {"experiences": "not a list", "pool": 7, "weights": None, "trails": [1]})
        node.call("plugins.reload", name=system)  # the new copy loads the corrupt state
        assert learned(node, system) == fresh
        row = next(p for p in node.call("plugins.list") if p["name"] == system)
        assert row["state"] == "running"
        ticks(node, 2)
        assert errors(node) == 0
        # Saves are queued behind the tick: wait for the write rather than read the store before it commits.
        assert saved(node, system, "state.corrupt") == {"experiences": "not a list", "pool": 7, "weights": None, "trails": [1]}
    with node_for(home, system) as node:  # what it learned since is what loads now
        assert learned(node, system) != fresh


@pytest.mark.parametrize("system", SHARING)
def test_export_then_merge_moves_a_second_node(tmp_path: Path, system: str) -> None:
    with node_for(tmp_path / "a", system) as teacher:
        ticks(teacher, 12)
        snapshot = exported(teacher, system)
        taught = learned(teacher, system)
    with node_for(tmp_path / "b", system) as pupil:
        fresh = learned(pupil, system)
        merge_state(pupil, system, snapshot, 0.4)
        moved = learned(pupil, system)
        assert moved != fresh
        if system == "cortex":
            assert set(moved["models"]) == set(taught["models"])
        elif system == "genesis":
            assert [t["steps"] for t in moved["top"]] == [t["steps"] for t in taught["top"]]
            assert moved["top"][0]["goal"].startswith("[imported from ")
        else:
            assert {(t["category"], t["resource"]) for t in moved["strongest"]} == {(t["category"], t["resource"]) for t in taught["strongest"]}
        ticks(pupil, 1)
        assert errors(pupil) == 0


@pytest.mark.parametrize("system", ("brain", "synthesis"))
def test_systems_that_do_not_sync_export_nothing(tmp_path: Path, system: str) -> None:
    with node_for(tmp_path / "a", system) as node:
        ticks(node, 2)
        assert exported(node, system) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def corrupt(snapshot: Any, path: list[int], junk: Any) -> Any:
    """`snapshot` with the value found by walking `path` (indices into keys or items) replaced by `junk`."""
    if not path or not isinstance(snapshot, dict | list) or not snapshot:
        return junk
    if isinstance(snapshot, dict):
        key = sorted(snapshot)[path[0] % len(snapshot)]
        return {**snapshot, key: corrupt(snapshot[key], path[1:], junk)}
    i = path[0] % len(snapshot)
    return [*snapshot[:i], corrupt(snapshot[i], path[1:], junk), *snapshot[i + 1 :]]


def poisoned(value: Any) -> Any:
    """`value` with every float replaced by NaN."""
    if isinstance(value, float):
        return math.nan
    if isinstance(value, dict):
        return {key: poisoned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [poisoned(item) for item in value]
    return value


@pytest.mark.parametrize("system", SHARING)
def test_hostile_peer_state_is_ignored_and_never_crashes(tmp_path: Path, system: str) -> None:
    with node_for(tmp_path / "a", system) as teacher:
        ticks(teacher, 12)
        snapshot = exported(teacher, system)
    with node_for(tmp_path / "b", system) as node:
        ticks(node, 2)
        before = learned(node, system)
        for junk in (None, 7, "x", [], [1, 2], {"templates": "no"}, {"action_models": {"a": {"success_rate": "high"}}}):
            merge_state(node, system, junk)
        for rate in (math.nan, -1, 2, "fast", None, True):
            merge_state(node, system, snapshot, rate)
        merge_state(node, system, poisoned(snapshot))
        assert learned(node, system) == before  # all of it refused

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.lists(st.integers(0, 50), max_size=5), json_values, st.floats(0, 1))
        def hostile(path: list[int], junk: Any, rate: float) -> None:
            merge_state(node, system, corrupt(snapshot, path, junk), rate)  # never raises

        hostile()
        ticks(node, 2)
        assert errors(node) == 0
    with node_for(tmp_path / "b", system) as node:  # whatever it accepted was saved in a form that loads
        ticks(node, 1)
        assert node.kernel is not None and node.kernel.store.namespace(system).get("state.corrupt") is None
        assert errors(node) == 0


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_system_shows_a_panel_gauges_and_its_observation(tmp_path: Path, system: str) -> None:
    with node_for(tmp_path / "home", system) as node:
        [tick] = ticks(node, 2)[-1:]
        assert isinstance(tick["observations"][system], dict)
        panel = node.call("panels.get", name=system)["data"]
        assert panel["gauges"] and all(isinstance(v, int | float | str) for v in panel["gauges"].values())
        metrics = node.call("node.metrics")[system]
        assert metrics and all(isinstance(v, int | float) for v in metrics.values())


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_system_passes_the_conformance_checks(system: str) -> None:
    check_plugin(system, config={"plugin": {"models": SMALL_MODELS}})
