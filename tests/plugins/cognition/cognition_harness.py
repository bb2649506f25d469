"""A scripted planner for the cognitive-system plugin tests: steps with known outcomes, on a real node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colony.testing import RunningNode
from tests.plugins.cognition.system_checks import write_dropins

# A drop-in plugin that plans the same steps every tick and makes each succeed or fail as scripted.
# Each entry of its `plan` option is "action:ok", "action:fail" or "action:alt" (ok on even ticks,
# failed on odd ones), optionally ":path" (a file the step touches). With a `goal`, it also reports
# a soul-shaped observation (name the drop-in "soul").
SCRIPT = '''
from colony.core import Manifest, Option

PLUGIN = Manifest(name="NAME", version="VERSION", config={
    "plan": Option(["read_file:ok"], "steps, each action:ok|fail[:path]"),
    "goal": Option("", "the goal text reported as the soul's (empty: none)"),
})
_state = {}


async def colony_start(ctx):
    _state["config"] = ctx.config


def steps(number):
    out = []
    for entry in _state["config"]["plan"]:
        action, outcome, *path = entry.split(":")
        ok = outcome == "ok" or (outcome == "alt" and number % 2 == 0)
        # The tick number keeps the kernel's repeated-action guard from refusing the same step every tick.
        out.append({"action": action, "params": {"ok": ok, "tick": number, **({"path": path[0]} if path else {})}})
    return out


def colony_observe(tick):
    text = _state["config"]["goal"]
    if not text:
        return None
    plan = {"id": f"plan-{tick.number}", "goal": "g1", "source": "llm", "replans": 0, "approved": True,
            "steps": [{**s, "status": "pending", "result": None} for s in steps(tick.number)]}
    return {"goal": {"id": "g1", "text": text, "status": "active", "priority": 5, "source": "operator",
                     "created": 0.0, "plan": plan}, "tier": "T0", "llm": False}


def colony_plan(tick):
    return steps(tick.number)


def colony_act(tick, step):
    if "ok" not in step.params:
        return None
    return {"done": True} if step.params["ok"] else {"error": "command failed with exit code 1"}


def colony_verify(tick, step, result):
    if "ok" not in step.params:
        return None
    return bool(step.params["ok"])
'''

# A third-party voter: the same vote on every step (or only on `action` when set).
VOTER = '''
from colony.core import Manifest, Option

PLUGIN = Manifest(name="NAME", version="1.0.0", config={
    "vote": Option(0.0, "the vote"), "confidence": Option(1.0, "its confidence"), "action": Option("", "only this action"),
})
_state = {}


async def colony_start(ctx):
    _state["config"] = ctx.config


def colony_appraise(tick, step):
    config = _state["config"]
    if config["action"] and step.action != config["action"]:
        return None
    return {"vote": config["vote"], "confidence": config["confidence"], "reason": "scripted"}
'''

# Stands in for colony_state: reports the oscillators in `fire` as fired on the ticks in `at`.
FIRING = '''
from colony.core import Manifest, Option

PLUGIN = Manifest(name="colony_state", version="0.0.1", config={
    "fire": Option(["cortex_dreaming"], "operations"), "at": Option(["3"], "tick numbers"),
})
_state = {}


async def colony_start(ctx):
    _state["config"] = ctx.config


def colony_observe(tick):
    fired = _state["config"]["fire"] if str(tick.number) in _state["config"]["at"] else []
    return {"psi": 0.5, "psi_trend": 0.0, "fitness": 0.5, "fired": fired}
'''

SMALL_MODELS = {"dims": ["brain.hidden=16"], "interval": 0.0}


def script_source(name: str = "script", version: str = "1.0.0") -> str:
    """The scripted planner's source under plugin name `name`."""
    return SCRIPT.replace("NAME", name).replace("VERSION", version)


def cognition_node(home: Path, *systems: str, plan: list[str], goal: str = "", planner: str = "script",
                   config: dict[str, Any] | None = None, dropins: dict[str, str] | None = None) -> RunningNode:
    """A node running `systems`, the scripted planner (a drop-in named `planner`) and other `dropins` (name: source), heartbeat off."""
    write_dropins(home, {planner: script_source(planner), **(dropins or {})})
    plugins: dict[str, Any] = {planner: {"plan": plan, "goal": goal}}
    if "brain" in systems:
        plugins["models"] = SMALL_MODELS
    for name, options in (config or {}).items():
        plugins.setdefault(name, {}).update(options)
    loaded = [*(["models"] if "brain" in systems else []), *systems, planner, *(dropins or {})]
    return RunningNode(home, plugins=loaded, config={"plugin": plugins})


def ticks(node: RunningNode, count: int) -> list[dict[str, Any]]:
    """Run `count` ticks and return their records (after checking no plugin failed to start)."""
    failed = {p["name"]: p["reason"] for p in node.call("plugins.list") if p["state"] == "failed"}
    assert not failed, failed
    return [node.tick() for _ in range(count)]


async def export_state(node: RunningNode, plugin: str) -> Any:
    """What `plugin` exports to a peer (its `colony_export_state`)."""
    assert node.kernel is not None
    return await node.kernel.dispatcher.call_plugin(plugin, "colony_export_state", peer="peer-a")


def merge_state(node: RunningNode, plugin: str, state: Any, rate: Any = 0.4) -> None:
    """Hand `state` to `plugin`'s `colony_merge_state`, as a peer sync would."""
    assert node.kernel is not None
    dispatcher = node.kernel.dispatcher

    async def merge() -> None:
        await dispatcher.call_plugin(plugin, "colony_merge_state", peer="peer-a", state=state, rate=rate)

    node.run(merge)


def exported(node: RunningNode, plugin: str) -> Any:
    """`export_state` run inside the node."""
    return node.run(export_state, node, plugin)
