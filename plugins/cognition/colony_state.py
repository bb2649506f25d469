"""colony_state: Ψ(t), the Bloch sphere, the temporal oscillators and fitness, and `cognition.overview` of every system (digest §4.5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Tick

from . import system as cog
from .rules import colony_state as rules
from .rules.colony_state import Bloch, Fitness, Psi, Temporal
from .rules.numbers import clamp, count, is_number, number

PLUGIN = Manifest(
    name="colony_state",
    version="1.0.0",
    description="The colony-level quantities: Ψ, the Bloch sphere, the temporal oscillators that schedule cognitive work, and fitness.",
    config={
        "max_peers": Option(50, "Peers whose fitness and pass@1 Ψ remembers (the least recently merged are forgotten)."),
    },
)

EVENT_FIRED = "cognition.fired"
CHANGE_ACTIONS = frozenset({"write_file", "create_cartridge", "deploy_cartridge"})  # steps that change the node: evolution
PEER_ACTIONS = frozenset({"call_paid_endpoint", "discover_peers"})  # steps that reach other agents: coordination
MAX_PEER_NAME = 200
# Signal scales: how much of a quantity saturates an oscillator's input at 1.
EXPERIENCE_SCALE = 2000  # the cortex's capacity
TEMPLATE_SCALE = 200  # the gene pool's capacity
STALE_TICKS = 100  # ticks without a new genesis generation
PEER_TICKS = 50  # ticks without a peer merge
LOSS_SCALE = 15.0  # the brain's running loss (digest: brain_surprise = min(loss/15, 1))
TRAINING_SCALE = 5000  # brain training steps: the gate wakes at this many
BENCHMARK_HOURS = 6.0  # hours since the last benchmark (digest: time_pressure)
TREND_SCALE = 10.0  # an F trend of +0.1 per tick saturates fe_trend

_state: dict[str, Any] = {}


@dataclass
class Counters:
    """The node's own numbers behind fitness and the oscillators' signals."""

    ticks: int = 0
    payments: int = 0
    received: int = 0  # atomic units of the payment asset
    changes: int = 0
    peer_calls: int = 0
    peer_calls_ok: int = 0
    last_merge: int = 0  # tick count at the last peer merge
    generation: int = 0  # genesis' generation as last seen ...
    generation_seen: int = 0  # ... and the tick count when it last changed


@dataclass
class Peer:
    """What a peer told us at the last merge: its fitness and benchmark pass@1 (None: it has none)."""

    fitness: float
    pass_at_1: float | None
    at: int  # our tick count then


@dataclass
class Colony:
    """Everything colony_state stores."""

    psi: Psi = field(default_factory=Psi)
    bloch: Bloch = field(default_factory=Bloch)
    temporal: Temporal = field(default_factory=Temporal)
    fitness: Fitness = field(default_factory=Fitness)
    counters: Counters = field(default_factory=Counters)
    peers: dict[str, Peer] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the store."""
        return {
            "psi": self.psi.to_dict(), "bloch": self.bloch.to_dict(), "temporal": self.temporal.to_dict(),
            "fitness": self.fitness.to_dict(), "counters": vars(self.counters).copy(),
            "peers": {name: vars(peer).copy() for name, peer in self.peers.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Colony:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            counters = Counters(**{f.name: _count(data["counters"].get(f.name, 0)) for f in fields(Counters)})
            peers = {str(name): _peer(value) for name, value in data["peers"].items()}
            return cls(Psi.from_dict(data["psi"]), Bloch.from_dict(data["bloch"]), Temporal.from_dict(data["temporal"]),
                       Fitness.from_dict(data["fitness"]), counters, peers)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed colony state: {exc!r}") from exc


def _count(value: Any) -> int:
    """A stored count, or ValueError."""
    if not is_number(value) or value < 0 or int(value) != value:
        raise ValueError(f"not a count: {value!r}")
    return int(value)


def _unit(value: Any) -> float:
    """A number in [0, 1], or ValueError."""
    if not is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"not a number in [0, 1]: {value!r}")
    return float(value)


def _peer(data: Any) -> Peer:
    """A peer's figures from stored or exported data, or ValueError."""
    pass_at_1 = data["pass_at_1"]
    if pass_at_1 is not None and not (is_number(pass_at_1) and 0 <= pass_at_1 <= 100):
        raise ValueError(f"pass@1 is not a percentage: {pass_at_1!r}")
    return Peer(_unit(data["fitness"]), None if pass_at_1 is None else float(pass_at_1), _count(data["at"]))


def signals(tick: Tick, counters: Counters) -> dict[str, float]:
    """The oscillators' input signals (each in [0, 1]) from this tick's observations and the node's counters."""
    fe, cortex, genesis, brain, evaluation, benchmark = (
        cog.observation(tick, name) for name in ("free_energy", "cortex", "genesis", "brain", "evaluation", "benchmark"))
    h = fe.get("surprises") if isinstance(fe.get("surprises"), dict) else {}
    return {name: clamp(value, 0.0, 1.0) for name, value in {
        "brain_surprise": number(h.get("brain")),
        "cortex_surprise": number(h.get("cortex")),
        "genesis_surprise": number(h.get("genesis")),
        "hivemind_surprise": number(h.get("hivemind")),
        "synthesis_surprise": number(h.get("synthesis")),
        "loss_pressure": number(brain.get("running_loss")) / LOSS_SCALE,
        "training_progress": number(brain.get("train_steps")) / TRAINING_SCALE,
        "brain_divergence": number(brain.get("divergence")),
        "arousal": number(cortex.get("arousal")),
        "curiosity": number(cortex.get("curiosity")),
        "experience_pressure": number(cortex.get("experiences")) / EXPERIENCE_SCALE,
        "template_pressure": number(genesis.get("templates")) / TEMPLATE_SCALE,
        "staleness": (counters.ticks - counters.generation_seen) / STALE_TICKS,
        "fe_total": number(fe.get("F")),
        "fe_trend": number(fe.get("trend")) * TREND_SCALE,
        "sync_benefit": number(evaluation.get("sync_benefit")),
        "peer_pressure": (counters.ticks - counters.last_merge) / PEER_TICKS,
        "time_pressure": number(benchmark.get("hours_since"), 0.0) / BENCHMARK_HOURS,
    }.items()}


def fitness_components(tick: Tick, counters: Counters, endpoints: int) -> dict[str, float]:
    """The six fitness components from the node's real numbers; a component with no numbers yet keeps its prior."""
    plans, cortex = cog.observation(tick, "feedback").get("plans"), cog.observation(tick, "cortex")
    plans = plans if isinstance(plans, dict) else {}
    predictions = cortex.get("predictions", cortex.get("experiences"))
    return {
        "economic": rules.economic_fitness(counters.payments, endpoints),
        "execution": rules.execution_fitness(count(plans.get("completed")), count(plans.get("completed_trivial")),
                                             count(plans.get("failed"))),
        "evolution": rules.evolution_fitness(counters.changes, counters.ticks),
        "coordination": rules.coordination_fitness(counters.peer_calls, counters.peer_calls_ok),
        "introspection": rules.introspection_fitness(0, 0, 0),  # colony keeps no beliefs to verify yet: the prior
        "prediction": rules.prediction_fitness(number(cortex.get("accuracy"), 0.5), count(predictions)),
    }


class ColonyState:
    """The stored colony quantities, and what the last tick showed of every system."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.system = cog.System.load(ctx, Colony.from_dict, Colony)
        self.max_peers = max(1, int(ctx.config["max_peers"]))
        self.fired: tuple[str, ...] = ()
        self.tick = 0
        self.systems: dict[str, Any] = {}
        self.observed = self.observe()

    @property
    def state(self) -> Colony:
        """The live colony state."""
        return self.system.state

    def observe(self) -> dict[str, Any]:
        """The contract's observation: Ψ and its trend, fitness, the sphere and the operations fired last tick."""
        state = self.state
        return cog.rounded({"psi": state.psi.value, "psi_trend": state.psi.trend, "fitness": state.fitness.total,
                            "bloch": self.bloch(), "fired": list(self.fired)})

    def bloch(self) -> dict[str, Any]:
        """θ, φ, exploration and the sphere's regime."""
        b = self.state.bloch
        return {"theta": b.theta, "phi": b.phi, "exploration": b.exploration, "regime": b.regime}

    def count(self, tick: Tick) -> None:
        """The tick's steps and genesis' generation, into the counters."""
        counters = self.state.counters
        counters.ticks += 1
        for step in cog.learning_steps(tick):
            ok = step.status == "ok"
            counters.changes += int(ok and step.action in CHANGE_ACTIONS)
            if step.action in PEER_ACTIONS:
                counters.peer_calls += 1
                counters.peer_calls_ok += int(ok)
        generation = cog.observation(tick, "genesis").get("generation")
        if is_number(generation) and int(generation) != counters.generation:
            counters.generation, counters.generation_seen = int(generation), counters.ticks

    def reflect(self, tick: Tick) -> None:
        """One cycle: counters, fitness, Ψ, the sphere, then the oscillators; remember every system seen."""
        self.count(tick)
        state = self.state
        fe = cog.observation(tick, "free_energy")
        f_trend = number(fe.get("trend"))
        state.fitness = rules.measure_fitness(state.fitness, fitness_components(tick, state.counters, self.endpoints()))
        own_pass = cog.observation(tick, "benchmark").get("pass_at_1")
        passes = [float(own_pass)] if is_number(own_pass) else []
        passes += [p.pass_at_1 for p in state.peers.values() if p.pass_at_1 is not None]
        fitnesses = [state.fitness.total, *(p.fitness for p in state.peers.values())]
        sync = number(cog.observation(tick, "evaluation").get("sync_benefit"))
        state.psi = rules.psi(state.psi, passes, sync, fitnesses, f_trend)
        state.bloch = rules.evolve(state.bloch, f_trend, state.psi.trend)
        regime = fe.get("regime") if isinstance(fe.get("regime"), str) else "learn"
        state.temporal, self.fired = rules.tick(state.temporal, signals(tick, state.counters), regime, state.bloch)
        if self.fired:
            self.ctx.publish(EVENT_FIRED, {"tick": tick.number, "ops": list(self.fired)})
        self.remember(tick)
        self.observed = self.observe()

    def remember(self, tick: Tick) -> None:
        """Every plugin's observation this tick, and every voter that made no observation (a third-party system)."""
        self.tick = tick.number
        systems: dict[str, Any] = {name: seen for name, seen in tick.observations.items() if isinstance(seen, dict)}
        for step in tick.steps:
            for name, vote in cog.votes(step.appraisals).items():
                systems.setdefault(name, {"vote": round(vote.value, cog.PLACES), "confidence": round(vote.confidence, cog.PLACES)})
        self.systems = systems

    def endpoints(self) -> int:
        """Priced routes this node serves: what it can earn from."""
        return sum(1 for reg in self.ctx.registrations("route") if reg.meta.get("price") is not None)

    def overview(self) -> dict[str, Any]:
        """The contract's `cognition.overview`."""
        fe = self.systems.get("free_energy", {})
        return {
            "tick": self.tick,
            "systems": self.systems,
            "F": number(fe.get("F")),
            "regime": fe.get("regime") if isinstance(fe.get("regime"), str) else "",
            **{key: self.observed[key] for key in ("psi", "psi_trend", "fitness", "bloch", "fired")},
        }

    def merge(self, peer: str, data: Any, rate: float) -> bool:
        """Remember the peer's fitness and pass@1, and move our point on the sphere towards its point."""
        return self.system.merge(peer[:MAX_PEER_NAME], data, rate, lambda ours, d, r: self._merge(ours, peer[:MAX_PEER_NAME], d, r))

    def _merge(self, ours: Colony, peer: str, data: Any, rate: float) -> Colony:
        """A peer's export into (a copy of) our state; malformed data raises."""
        point = data.get("bloch") if isinstance(data, dict) else None
        if not isinstance(point, dict) or not all(is_number(point.get(k)) for k in ("theta", "phi")):
            raise ValueError("a colony_state export has a 'bloch' object with numbers theta and phi")
        theirs = Bloch.from_dict({"theta": point["theta"], "phi": point["phi"], "d_theta": 0.0, "d_phi": 0.0})
        ours.peers[peer] = _peer({**data, "at": ours.counters.ticks})
        ours.peers = dict(sorted(ours.peers.items(), key=lambda item: item[1].at)[-self.max_peers:])
        if rate > 0:
            ours.bloch = rules.merge_bloch(ours.bloch, theirs, rules.bloch_merge_rate(ours.peers[peer].fitness, ours.fitness.total))
        ours.counters.last_merge = ours.counters.ticks
        return ours


def _running() -> ColonyState | None:
    """The running instance, if the plugin runs."""
    return _state.get("colony_state")


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("cognition.overview", cognition_overview)
    registrar.rpc("cognition.colony", cognition_colony)
    registrar.panel("colony_state", psi_panel, title="Ψ, Bloch, oscillators")


async def colony_start(ctx: PluginContext) -> None:
    colony = ColonyState(ctx)
    _state["colony_state"] = colony
    _state["system"] = colony.system


async def colony_stop(ctx: PluginContext) -> None:
    await cog.stop(_state)


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    colony = _running()
    return colony.observed if colony else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    colony = _running()
    if colony is None:
        return
    colony.reflect(tick)
    await colony.system.save()


def colony_payment_settled(receipt: dict[str, Any]) -> None:
    colony = _running()
    if colony is None:
        return
    counters = colony.state.counters
    counters.payments += 1
    amount = receipt.get("amount") if isinstance(receipt, dict) else None
    if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
        counters.received += amount
    colony.system.dirty = True  # saved with the next tick, or at stop


def colony_export_state(peer: str) -> dict[str, Any] | None:
    """Our point on the sphere, fitness and pass@1: what a peer needs for its Ψ and its Bloch merge (digest §4.5)."""
    colony = _running()
    if colony is None:
        return None
    bloch = colony.state.bloch
    own_pass = colony.systems.get("benchmark", {}).get("pass_at_1")
    return {"bloch": {"theta": bloch.theta, "phi": bloch.phi}, "fitness": colony.state.fitness.total,
            "pass_at_1": float(own_pass) if is_number(own_pass) and 0 <= own_pass <= 100 else None,
            "psi": colony.state.psi.value}


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    colony = _running()
    if colony is not None and colony.merge(str(peer), state, rate):
        colony.observed = colony.observe()


def colony_metrics() -> dict[str, float]:
    colony = _running()
    if colony is None:
        return {}
    seen = colony.observed
    return {"psi": seen["psi"], "psi_trend": seen["psi_trend"], "fitness": seen["fitness"],
            "exploration": seen["bloch"]["exploration"], "peers": len(colony.state.peers)}


def psi_panel() -> dict[str, Any]:
    """Ψ, fitness and the sphere as gauges, fitness over time, and each oscillator's phase and urgency."""
    colony = _running()
    if colony is None:
        return cog.NOT_RUNNING
    state = colony.state
    rows = [[o.name, o.phase, o.urgency, o.total_fires] for o in state.temporal.oscillators]
    gauges = {"psi": state.psi.value, "psi trend": state.psi.trend, "fitness": state.fitness.total,
              "theta": state.bloch.theta, "phi": state.bloch.phi, "exploration": state.bloch.exploration,
              "colony focus": state.bloch.colony_focus, "peers": len(state.peers)}
    text = f"sphere: {state.bloch.regime}, drive {state.bloch.drive}; fired: {', '.join(colony.fired) or 'nothing'}"
    return cog.panel(gauges, series={"fitness": list(state.fitness.history[-100:])},
                     table=(["oscillator", "phase", "urgency", "fires"], rows), text=text)


def cognition_overview() -> dict[str, Any]:
    """Every system's latest observation, with F, its regime, Ψ, fitness, the Bloch sphere and the operations fired."""
    colony = _running()
    if colony is None:
        return {}
    return colony.overview()


def cognition_colony() -> dict[str, Any]:
    """Ψ with its four terms, the sphere, each oscillator, fitness with its components, the node's counters and its peers."""
    colony = _running()
    if colony is None:
        return {}
    state = colony.state
    bloch = state.bloch
    return cog.rounded({
        "psi": state.psi.to_dict(),
        "bloch": {**bloch.to_dict(), "exploration": bloch.exploration, "colony_focus": bloch.colony_focus,
                  "regime": bloch.regime, "drive": bloch.drive},
        "temporal": state.temporal.to_dict(),
        "fitness": {"total": state.fitness.total, "trend": state.fitness.trend, "components": dict(state.fitness.components)},
        "counters": vars(state.counters).copy(),
        "peers": {name: vars(peer).copy() for name, peer in state.peers.items()},
    })
