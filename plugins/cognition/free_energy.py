"""free_energy: F(t), the agent's total surprise, with its trend and regime, from the other systems' observations (digest §4.5 (9))."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Tick

from . import system as cog
from .rules import free_energy as rules
from .rules.evaluation import BASELINE_BRIER, NEUTRAL_ACCURACY
from .rules.free_energy import FreeEnergyState, Measurement, Thresholds
from .rules.numbers import count, number

PLUGIN = Manifest(
    name="free_energy",
    version="1.0.0",
    description="Free energy F(t): one number for how surprised the agent is, its trend, and the regime it calls for.",
    config={
        "explore_above": Option(rules.EXPLORE_THRESHOLD, "F above this calls for the explore regime."),
        "exploit_below": Option(rules.EXPLOIT_THRESHOLD, "F below this calls for the exploit regime."),
        "anomaly_trend": Option(rules.ANOMALY_TREND, "An F trend above this (with more than 5 readings) is an anomaly."),
        "core_actions": Option(
            ["read_file", "write_file", "list_dir", "search_code", "run_shell", "think", "call_paid_endpoint", "create_cartridge"],
            "The actions whose trail coverage H_hivemind measures (keep it equal to plugin.hivemind.core_actions).",
        ),
    },
)
SERIES = 100  # F values the panel draws

_state: dict[str, Any] = {}


def surprises(tick: Tick, core: Sequence[str]) -> dict[str, float]:
    """H for brain, cortex, genesis, hivemind and synthesis from their observations (and evaluation's Brier of the brain)."""
    evaluation, cortex, genesis, hivemind, synthesis = (cog.observation(tick, name) for name in
                                                        ("evaluation", "cortex", "genesis", "hivemind", "synthesis"))
    brier = evaluation.get("brier")
    covered = hivemind.get("covered_actions")
    return {
        "brain": rules.brain_surprise(number(brier.get("brain") if isinstance(brier, dict) else None, BASELINE_BRIER)),
        "cortex": rules.cortex_surprise(number(cortex.get("accuracy"), NEUTRAL_ACCURACY)),
        "genesis": rules.genesis_surprise([number(genesis.get("mean_fitness"), 0.0)] if count(genesis.get("templates")) else []),
        "hivemind": rules.hivemind_surprise({a for a in covered if isinstance(a, str)} if isinstance(covered, list) else set(), core),
        "synthesis": rules.synthesis_surprise(count(synthesis.get("conflicts")), count(synthesis.get("predictions"))),
    }


def weights(tick: Tick) -> dict[str, float]:
    """Synthesis' weight of each of the four systems (0.25 for any it does not report)."""
    found = cog.observation(tick, "synthesis").get("weights")
    found = found if isinstance(found, dict) else {}
    return {name: min(max(number(found.get(name), 0.25), 0.0), 1.0) for name in rules.SYSTEMS}


def complexity(tick: Tick) -> float:
    """(experiences + templates + trails) / (experiences predicted + templates created + deposits), from the systems' counters."""
    cortex, genesis, hivemind = (cog.observation(tick, name) for name in ("cortex", "genesis", "hivemind"))
    size = count(cortex.get("experiences")) + count(genesis.get("templates")) + count(hivemind.get("trails"))
    data = count(cortex.get("predictions")) + count(genesis.get("created")) + count(hivemind.get("deposits"))
    return rules.complexity(size, data)


class FreeEnergy:
    """The stored history of F and the reading the next tick observes."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.system = cog.System.load(ctx, FreeEnergyState.from_dict, FreeEnergyState)
        self.thresholds = Thresholds(float(ctx.config["explore_above"]), float(ctx.config["exploit_below"]),
                                     float(ctx.config["anomaly_trend"]))
        self.core = [str(action) for action in ctx.config["core_actions"]]
        # Before the first reading: F of a node that knows nothing yet (not recorded in the history).
        self.current: Measurement = self.system.state.current or self.measure(Tick(0, 0.0))
        self.observed = self.observe()

    def measure(self, tick: Tick) -> Measurement:
        """F from the tick's observations, against the stored history."""
        return rules.compute(self.system.state, surprises(tick, self.core), weights(tick), complexity(tick), tick.started, self.thresholds)

    def observe(self) -> dict[str, Any]:
        """The contract's observation of the last reading, with its parts."""
        m = self.current
        return cog.rounded({"F": m.total, "trend": m.trend, "regime": m.regime.value, "surprises": m.surprises,
                            "complexity": m.complexity_term})

    def reflect(self, tick: Tick) -> None:
        """A new reading from this tick's observations, recorded."""
        self.current = self.measure(tick)
        self.system.state = rules.record(self.system.state, self.current)
        self.observed = self.observe()

    def report(self) -> dict[str, Any]:
        """The last reading in full, the extremes and the recent history."""
        state = self.system.state
        return cog.rounded({
            **self.current.to_dict(), "F": self.current.total, "readings": state.total_measurements,
            "min": state.global_min, "max": state.global_max, "history": list(state.history[-SERIES:]),
        })


def _running() -> FreeEnergy | None:
    """The running instance, if the plugin runs."""
    return _state.get("free_energy")


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("free_energy.report", free_energy_report)
    registrar.panel("free_energy", free_energy_panel, title="Free energy")


async def colony_start(ctx: PluginContext) -> None:
    free_energy = FreeEnergy(ctx)
    _state["free_energy"] = free_energy
    _state["system"] = free_energy.system


async def colony_stop(ctx: PluginContext) -> None:
    await cog.stop(_state)


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    free_energy = _running()
    return free_energy.observed if free_energy else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    free_energy = _running()
    if free_energy is None:
        return
    free_energy.reflect(tick)
    await free_energy.system.save()


def colony_metrics() -> dict[str, float]:
    free_energy = _running()
    if free_energy is None:
        return {}
    return {"F": free_energy.observed["F"], "trend": free_energy.observed["trend"],
            "readings": free_energy.system.state.total_measurements}


def free_energy_panel() -> dict[str, Any]:
    """F, its trend and regime, each system's w·H share, and F over the last readings."""
    free_energy = _running()
    if free_energy is None:
        return cog.NOT_RUNNING
    m = free_energy.current
    rows = [[name, m.weights[name], m.surprises[name], m.contribution(name)] for name in m.surprises]
    return cog.panel(
        {"F": m.total, "trend": m.trend, "complexity": m.complexity_term},
        series={"F": list(free_energy.system.state.history[-SERIES:])},
        table=(["system", "weight", "surprise H", "w·H"], rows),
        text=f"regime: {m.regime.value}",
    )


def free_energy_report() -> dict[str, Any]:
    """The last reading of F with its parts, the extremes, and the last 100 values."""
    free_energy = _running()
    return free_energy.report() if free_energy else {}
