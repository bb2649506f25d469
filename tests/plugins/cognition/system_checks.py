"""Helpers for the plugin tests of autonomy, evaluation, feedback, free energy and colony_state."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from colony.core import Outcome, Step, Tick
from colony.testing import RunningNode
from tests.plugins.conftest import wait_for

# A drop-in standing in for another system: it observes and recalls what its config says, every tick.
FIXED = '''
import json

from colony.core import Manifest, Option

PLUGIN = Manifest(name="NAME", version="0.0.1", config={
    "observation": Option("null", "JSON of its observation every tick (null: none)"),
    "memory": Option("null", "JSON of what it recalls every tick (null: nothing)"),
})
_state = {}


async def colony_start(ctx):
    _state.update(observation=json.loads(ctx.config["observation"]), memory=json.loads(ctx.config["memory"]))


def colony_observe(tick):
    return _state["observation"]


def colony_recall(tick):
    return _state["memory"]
'''

# JSON-like junk, and numbers no state should take.
HOSTILE_NUMBERS = st.sampled_from([float("nan"), float("inf"), -float("inf"), -1, 2, 10**30, True])
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
BAD_VALUES = HOSTILE_NUMBERS | st.none() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)  # where a number in [0, 1] belongs


def fixed(observation: dict[str, Any] | None = None, memory: dict[str, Any] | None = None) -> dict[str, str]:
    """The config of a FIXED drop-in."""
    return {"observation": json.dumps(observation), "memory": json.dumps(memory)}


def replace_stored(node: RunningNode, plugin: str, key: str, value: Any) -> None:
    """Unload `plugin`, overwrite its stored `key` with `value`, and load it again (as after a crash mid-upgrade)."""
    node.call("plugins.unload", name=plugin)
    assert node.kernel is not None
    namespace = node.kernel.store.namespace(plugin)
    node.run(namespace.put, key, value)
    node.call("plugins.load", name=plugin)


def saved(node: RunningNode, plugin: str, key: str) -> Any:
    """What `plugin` has stored under `key`, once it has (saves land shortly after the tick that made them)."""
    assert node.kernel is not None
    namespace = node.kernel.store.namespace(plugin)
    return wait_for(lambda: namespace.get(key), f"{plugin} to store {key!r}", timeout=30)


def healthy(node: RunningNode, plugin: str) -> bool:
    """Whether `plugin` runs and no hook of any plugin has failed."""
    state = {row["name"]: row["state"] for row in node.call("plugins.list")}
    return state.get(plugin) == "running" and node.call("node.metrics")["kernel"]["hook_errors"] == 0


def observed(record: dict[str, Any], plugin: str) -> dict[str, Any]:
    """`plugin`'s observation in a tick record."""
    return record["observations"][plugin]


def write_dropins(home: Path, dropins: dict[str, str]) -> None:
    """Write drop-in plugins (name: source, NAME replaced by the name) into a node home."""
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    for name, source in dropins.items():
        (home / "plugins" / f"{name}.py").write_text(source.replace("NAME", name))


def reflect_on(node: RunningNode, plugin: str, observations: Any, appraisals: Any = None) -> None:
    """Run `plugin`'s colony_reflect on a tick whose observations (and one ok step's appraisals) are given; its errors propagate."""
    assert node.kernel is not None
    step = Step("read_file", {"path": "a.txt"}, status="ok", appraisals=appraisals if isinstance(appraisals, dict) else {})
    tick = Tick(10**6, 0.0, observations=observations if isinstance(observations, dict) else {"junk": observations}, steps=[step])
    node.run(functools.partial(node.kernel.dispatcher.call_plugin, plugin, "colony_reflect", tick=tick, outcome=Outcome(steps=1, ok=1)))


# Observations of the systems a plugin reads, each of them junk or a dict of junk.
JUNK_OBSERVATIONS = st.dictionaries(
    st.sampled_from(["evaluation", "cortex", "genesis", "hivemind", "synthesis", "free_energy", "feedback", "brain", "benchmark", "soul"]),
    JUNK | st.dictionaries(st.sampled_from(["brier", "accuracy", "templates", "mean_fitness", "covered_actions", "weights", "conflicts",
                                            "predictions", "trend", "F", "regime", "sync_benefit", "plans", "finished", "goal",
                                            "experiences", "pass_at_1", "generation", "running_loss"]), JUNK, max_size=6),
    max_size=6,
)
