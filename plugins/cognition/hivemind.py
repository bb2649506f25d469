"""hivemind: stigmergy as a cognitive system: pheromone trails laid on outcomes, evaporating each tick, shared with peers."""

from __future__ import annotations

from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, Step, Tick
from colony.plugins.cognition.rules.genesis import extract_keywords
from colony.plugins.cognition.rules.hivemind import (
    Hivemind,
    action_coverage,
    deposit,
    deposit_step,
    evaporate,
    export,
    import_peer_trails,
    smell,
)
from colony.plugins.cognition.rules.synthesis import hivemind_vote
from colony.plugins.cognition.system import NOT_RUNNING, System, goal, lessons, panel, rounded, stop, vote_dict

PLUGIN = Manifest(
    name="hivemind",
    version="1.0.0",
    description="Lays pheromone trails on actions, files, goals and errors as steps succeed or fail, evaporates them "
    "each tick, votes in synthesis, and imports peers' trails.",
    config={
        "core_actions": Option(
            ["read_file", "write_file", "list_dir", "search_code", "run_shell", "think", "call_paid_endpoint", "create_cartridge"],
            "The core actions whose trail coverage the observation reports (free energy's H_hivemind).",
        ),
        "recall_files": Option(20, "Strongest file trails handed to the tick's memories (autonomy picks target files from them)."),
    },
)
ERROR_VALENCE = -0.5

_state: dict[str, Any] = {}  # "system": System[Hivemind]


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("hivemind.state", hivemind_state)
    registrar.panel("hivemind", hivemind_panel, title="Hivemind")


async def colony_start(ctx: PluginContext) -> None:
    _state["system"] = System.load(ctx, Hivemind.from_dict, Hivemind)


async def colony_stop(ctx: PluginContext) -> None:
    await stop(_state)


async def colony_health(ctx: PluginContext) -> bool | str:
    return True if "system" in _state else "not running"


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    system: System[Hivemind] | None = _state.get("system")
    return None if system is None else summary(system)


def colony_recall(tick: Tick) -> dict[str, Any] | None:
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return None
    trails = system.state.trails.values()
    files = sorted((t for t in trails if t.category == "file"), key=lambda t: t.intensity, reverse=True)
    return rounded({
        "trails": {t.resource: t.valence * t.intensity for t in trails if t.category == "action"},
        "files": {t.resource: [t.valence, t.intensity] for t in files[: system.ctx.config["recall_files"]]},
    })


def colony_appraise(tick: Tick, step: Step) -> dict[str, Any] | None:
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return None
    scent = smell(system.state, step.action, "action")
    if scent is None:
        return {**vote_dict(hivemind_vote(0.0, 0.0)), "reason": "no trail"}
    return vote_dict(hivemind_vote(*scent))


async def colony_reflect(tick: Tick, outcome: Any) -> None:
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return
    hive, now, me = system.state, tick.started, system.ctx.node_id
    keywords = extract_keywords(str((goal(tick) or {}).get("text", "")))
    for step, error in lessons(tick):
        path = step.params.get("path") or step.params.get("file_path")
        deposit_step(hive, step.action, path if isinstance(path, str) else None, keywords, error is None, me, now)
        if error is not None:
            deposit(hive, error, "error", ERROR_VALENCE, me, now)
    evaporate(hive)
    await system.save()


def colony_export_state(peer: str) -> dict[str, Any] | None:
    system: System[Hivemind] | None = _state.get("system")
    return None if system is None else {"trails": export(system.state), "source_id": system.ctx.node_id}


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return
    if not isinstance(state, dict) or not isinstance(state.get("trails"), list):
        system.ctx.log.warning("merge from %s ignored: hivemind state needs a list of trails", peer)
        return
    # The hivemind weighs a peer's trails by the peer's reputation, not by the sync rate (digest §4.5 (4)).
    system.merge(peer, state, rate, lambda ours, theirs, _: import_trails(ours, peer, theirs["trails"]))


def import_trails(hive: Hivemind, peer: str, trails: list[dict[str, Any]]) -> None:
    """Take a peer's trails into ours, in place (`System.merge` would take `import_peer_trails`' count for the new state)."""
    import_peer_trails(hive, peer, trails)


def summary(system: System[Hivemind]) -> dict[str, Any]:
    """The hivemind's observation: how many trails, and which core actions have one."""
    hive, core = system.state, system.ctx.config["core_actions"]
    return rounded({
        "trails": len(hive.trails),
        "covered_actions": [a for a in core if (a, "action") in hive.trails],
        "coverage": action_coverage(hive, core),
        "deposits": hive.total_deposits,
        "peers": len(hive.reputations),
    })


def colony_metrics() -> dict[str, float]:
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return {}
    seen = summary(system)
    return {"trails": seen["trails"], "coverage": seen["coverage"], "deposits": seen["deposits"]}


def hivemind_state() -> dict[str, Any]:
    """The hivemind's observation and its strongest trails."""
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return {}
    return {**summary(system), "strongest": rounded(export(system.state, 20))}


def hivemind_panel() -> dict[str, Any]:
    """The hivemind panel: gauges and the strongest trails."""
    system: System[Hivemind] | None = _state.get("system")
    if system is None:
        return NOT_RUNNING
    rows = [[t["category"], t["resource"], t["valence"], t["intensity"], t["reinforcement_count"]] for t in export(system.state, 15)]
    seen = summary(system)
    gauges = {k: v for k, v in seen.items() if k != "covered_actions"}
    return panel(gauges, table=(["category", "resource", "valence", "intensity", "deposits"], rows),
                 text="covered: " + (", ".join(seen["covered_actions"]) or "none"))
