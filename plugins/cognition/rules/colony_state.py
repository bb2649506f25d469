"""Colony-level quantities: Ψ(t), the Bloch-sphere state, the temporal oscillators and fitness (digest §4.5)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from colony.plugins.cognition.rules.free_energy import Regime, trend
from colony.plugins.cognition.rules.free_energy import unit_interval as _unit

# ── Ψ(t) ──────────────────────────────────────────────────────────────

INTELLIGENCE_FLOOR = 0.01  # I never drops below this, so one term cannot zero Ψ
PSI_OFFSET = 0.1  # added to S, D and V for the same reason
PSI_EXPONENT = 0.25  # Ψ is the geometric mean of four terms
PASS_SCALE = 100.0  # pass@1 is a percentage


@dataclass(frozen=True)
class Psi:
    """Ψ(t), its four terms and its change since the last reading."""

    value: float = 0.0
    trend: float = 0.0
    intelligence: float = 0.0
    sync: float = 0.0
    diversity: float = 0.0
    velocity: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Plain JSON data."""
        return {k: getattr(self, k) for k in ("value", "trend", "intelligence", "sync", "diversity", "velocity")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Psi:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            return cls(**{k: float(data[k]) for k in cls().to_dict()})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed psi: {exc!r}") from exc


def population_std(values: Sequence[float]) -> float:
    """Standard deviation over the whole population (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def psi(
    previous: Psi,
    pass_at_1: Sequence[float],
    sync_benefit: float,
    fitnesses: Sequence[float],
    f_trend: float,
) -> Psi:
    """Ψ = (max(I, 0.01)·(S + 0.1)·(D + 0.1)·(V + 0.1))^¼, trend = Ψ − previous Ψ.

    I = mean pass@1 of self and peers / 100, S = clamp(sync_benefit, 0, 1) — evaluation's measured
    `avg_sync_benefit`, which the seed never wired (its S was always 0) — D = min(std of self and peer
    fitness, 1), V = clamp(−F trend, 0, 1).
    """
    intelligence = sum(pass_at_1) / len(pass_at_1) / PASS_SCALE if pass_at_1 else 0.0
    sync = _unit(sync_benefit)
    diversity = min(population_std(fitnesses), 1.0)
    velocity = _unit(-f_trend)
    product = (
        max(intelligence, INTELLIGENCE_FLOOR) * (sync + PSI_OFFSET) * (diversity + PSI_OFFSET) * (velocity + PSI_OFFSET)
    )
    value = product**PSI_EXPONENT
    return Psi(value, value - previous.value, intelligence, sync, diversity, velocity)


# ── Bloch sphere ──────────────────────────────────────────────────────

DAMPING = 0.8  # velocity carried over per cycle
F_GAIN = 0.3  # α: how hard the F trend pushes θ
PSI_GAIN = 0.2  # β: how hard the Ψ trend pushes φ
THETA_MARGIN = 0.01  # θ stays in [0.01, π − 0.01]
EXPLORE_ABOVE = 0.7  # exploration above this: EXPLORE regime
EXPLOIT_BELOW = 0.3  # exploration below this: EXPLOIT regime
DRIVE_EXPLORE_ABOVE = 0.6
DRIVE_EXPLOIT_BELOW = 0.3
COLLABORATE_ABOVE = 0.5  # colony focus above this: collaborate
EXPLORE_OPS_GAIN = 1.5  # cortex_dreaming, genesis_evolution: ×(1 + 1.5·explore)
EXPLOIT_OPS_GAIN = 1.5  # benchmark, brain_training: ×(1 + 1.5·(1 − explore))
PEER_SYNC_GAIN = 2.0  # peer_sync: ×(1 + 2·colony)
SELF_REPAIR_BOOST = 2.0  # self_repair ×2 when exploring hard
BLOCH_MERGE_RATE = 0.1  # base peer merge rate, scaled by relative fitness
FITNESS_RATIO_MIN, FITNESS_RATIO_MAX = 0.1, 2.0
SELF_FITNESS_FLOOR = 0.01
MERGE_VELOCITY_DAMPING = 0.5


@dataclass(frozen=True)
class Bloch:
    """A point on the sphere: θ from exploit (0) to explore (π), φ from self (0) to colony (π), and their velocities."""

    theta: float = math.pi / 2
    phi: float = 0.0
    d_theta: float = 0.0
    d_phi: float = 0.0

    @property
    def exploration(self) -> float:
        """θ / π."""
        return self.theta / math.pi

    @property
    def colony_focus(self) -> float:
        """|sin φ|."""
        return abs(math.sin(self.phi))

    @property
    def regime(self) -> str:
        """EXPLORE above 0.7 exploration, EXPLOIT below 0.3, LEARN between."""
        e = self.exploration
        return "EXPLORE" if e > EXPLORE_ABOVE else "EXPLOIT" if e < EXPLOIT_BELOW else "LEARN"

    @property
    def drive(self) -> str:
        """explore, exploit, collaborate or neutral."""
        e = self.exploration
        if e > DRIVE_EXPLORE_ABOVE:
            return "explore"
        if e < DRIVE_EXPLOIT_BELOW:
            return "exploit"
        return "collaborate" if self.colony_focus > COLLABORATE_ABOVE else "neutral"

    def cartesian(self) -> tuple[float, float, float]:
        """(sin θ cos φ, sin θ sin φ, cos θ)."""
        return (
            math.sin(self.theta) * math.cos(self.phi),
            math.sin(self.theta) * math.sin(self.phi),
            math.cos(self.theta),
        )

    def to_dict(self) -> dict[str, float]:
        """Plain JSON data."""
        return {"theta": self.theta, "phi": self.phi, "d_theta": self.d_theta, "d_phi": self.d_phi}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bloch:
        """Inverse of `to_dict`, putting θ and φ back in range; malformed data raises ValueError."""
        try:
            theta, phi, d_theta, d_phi = (float(data[k]) for k in ("theta", "phi", "d_theta", "d_phi"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed bloch state: {exc!r}") from exc
        if not all(math.isfinite(v) for v in (theta, phi, d_theta, d_phi)):
            raise ValueError("bloch state must be finite")
        return cls(_clamp_theta(theta), _wrap_phi(phi), d_theta, d_phi)


def _clamp_theta(theta: float) -> float:
    """Keep θ off the poles: [0.01, π − 0.01]."""
    return min(max(theta, THETA_MARGIN), math.pi - THETA_MARGIN)


def _wrap_phi(phi: float) -> float:
    """φ mod 2π in [0, 2π) (a tiny negative φ rounds to 2π under %, so that maps to 0)."""
    wrapped = phi % math.tau
    return 0.0 if wrapped >= math.tau else wrapped


def from_cartesian(x: float, y: float, z: float) -> Bloch:
    """The point in direction (x, y, z), at rest; the zero vector maps to θ = π/2, φ = 0."""
    r = max(math.sqrt(x * x + y * y + z * z), 1e-10)
    return Bloch(_clamp_theta(math.acos(min(max(z / r, -1.0), 1.0))), _wrap_phi(math.atan2(y / r, x / r)))


def evolve(state: Bloch, f_trend: float, psi_trend: float, dt: float = 1.0) -> Bloch:
    """One cycle: dθ ← 0.8dθ + 0.3·F_trend; dφ ← 0.8dφ + 0.2·|Ψ_trend|·sign(φ* − φ), φ* = π if Ψ rises else 0."""
    target_phi = math.pi if psi_trend > 0 else 0.0
    direction = math.copysign(1.0, target_phi - state.phi) if target_phi != state.phi else 0.0
    d_theta = DAMPING * state.d_theta + F_GAIN * f_trend * dt
    d_phi = DAMPING * state.d_phi + PSI_GAIN * abs(psi_trend) * direction * dt
    return Bloch(_clamp_theta(state.theta + d_theta * dt), _wrap_phi(state.phi + d_phi * dt), d_theta, d_phi)


def oscillator_modulation(state: Bloch, op: str) -> float:
    """How much faster an operation should run in this state (1 for operations the sphere does not steer)."""
    explore, colony = state.exploration, state.colony_focus
    if op in ("cortex_dreaming", "genesis_evolution"):
        return 1.0 + EXPLORE_OPS_GAIN * explore
    if op in ("benchmark", "brain_training"):
        return 1.0 + EXPLOIT_OPS_GAIN * (1.0 - explore)
    if op == "peer_sync":
        return 1.0 + PEER_SYNC_GAIN * colony
    if op == "self_repair":
        return SELF_REPAIR_BOOST if explore > EXPLORE_ABOVE else 1.0
    return 1.0


def bloch_merge_rate(peer_fitness: float, self_fitness: float) -> float:
    """0.1 × clamp(peer fitness / self fitness, 0.1, 2)."""
    ratio = peer_fitness / max(self_fitness, SELF_FITNESS_FLOOR)
    return BLOCH_MERGE_RATE * min(max(ratio, FITNESS_RATIO_MIN), FITNESS_RATIO_MAX)


def merge_bloch(ours: Bloch, theirs: Bloch, rate: float) -> Bloch:
    """Blend toward a peer's point in Cartesian space at `rate`, renormalise, and halve our velocities.

    rate 0 leaves our state as it is; rate 1 takes the peer's position.
    """
    rate = _unit(rate)
    if rate == 0:
        return ours
    mixed = [a * (1.0 - rate) + b * rate for a, b in zip(ours.cartesian(), theirs.cartesian(), strict=True)]
    point = from_cartesian(*mixed)
    return Bloch(
        point.theta, point.phi, ours.d_theta * MERGE_VELOCITY_DAMPING, ours.d_phi * MERGE_VELOCITY_DAMPING
    )


# ── Temporal oscillators ─────────────────────────────────────────────

URGENCY_COUPLING = 0.5  # α in the firing rule phase + α·U ≥ 1
URGENCY_STEEPNESS = 6.0  # urgency input = sigmoid(6·(Σ wᵢsᵢ − 0.5))
URGENCY_MIDPOINT = 0.5
REGIME_SHARE = 0.5  # regime_mult = 0.5·table(F regime, op) + 0.5·Bloch modulation
MAX_RECENT_FIRES = 50

# name: (natural period T₀, refractory R, input signal weights)
OSCILLATORS: dict[str, tuple[int, int, dict[str, float]]] = {
    "brain_training": (10, 3, {"brain_surprise": 0.4, "loss_pressure": 0.3, "arousal": 0.2, "fe_trend": 0.1}),
    "cortex_dreaming": (
        10,
        5,
        {"cortex_surprise": 0.3, "curiosity": 0.3, "experience_pressure": 0.2, "arousal": 0.2},
    ),
    "genesis_evolution": (
        20,
        8,
        {"genesis_surprise": 0.3, "fe_total": 0.2, "template_pressure": 0.3, "staleness": 0.2},
    ),
    "peer_sync": (5, 3, {"sync_benefit": 0.4, "hivemind_surprise": 0.2, "peer_pressure": 0.2, "fe_trend": 0.2}),
    "benchmark": (15, 5, {"time_pressure": 0.5, "training_progress": 0.3, "fe_trend": 0.2}),
    "thought_decay": (10, 5, {"thought_pressure": 0.6, "consolidation_staleness": 0.2, "fe_total": 0.2}),
    "self_repair": (
        20,
        10,
        {"brain_divergence": 0.3, "hivemind_surprise": 0.2, "genesis_surprise": 0.2, "synthesis_surprise": 0.3},
    ),
    "memory_consolidation": (30, 12, {"thought_pressure": 0.4, "experience_pressure": 0.3, "fe_total": 0.3}),
}

# table(F regime, op); the learn regime and any op not listed are 1
REGIME_TABLE: dict[str, dict[str, float]] = {
    Regime.ANOMALY: {
        "brain_training": 2.0,
        "cortex_dreaming": 2.0,
        "genesis_evolution": 1.5,
        "peer_sync": 2.0,
        "benchmark": 1.0,
        "thought_decay": 1.5,
        "self_repair": 3.0,
        "memory_consolidation": 1.5,
    },
    Regime.EXPLORE: {
        "brain_training": 1.0,
        "cortex_dreaming": 1.5,
        "genesis_evolution": 0.6,
        "peer_sync": 1.5,
        "benchmark": 0.5,
        "thought_decay": 0.8,
        "self_repair": 1.0,
        "memory_consolidation": 0.8,
    },
    Regime.EXPLOIT: {
        "brain_training": 0.8,
        "cortex_dreaming": 0.6,
        "genesis_evolution": 1.5,
        "peer_sync": 0.8,
        "benchmark": 1.5,
        "thought_decay": 1.0,
        "self_repair": 0.8,
        "memory_consolidation": 1.2,
    },
}


def urgency_input(weights: Mapping[str, float], signals: Mapping[str, float]) -> float:
    """sigmoid(6·(Σ wᵢsᵢ − 0.5)), each signal clamped to [0, 1] and missing ones 0."""
    x = sum(w * _unit(signals.get(name, 0.0)) for name, w in weights.items())
    return 1.0 / (1.0 + math.exp(-URGENCY_STEEPNESS * (x - URGENCY_MIDPOINT)))


def regime_multiplier(regime: str, op: str, bloch: Bloch) -> float:
    """0.5·table(F regime, op) + 0.5·Bloch modulation(op)."""
    table = REGIME_TABLE.get(regime, {}).get(op, 1.0)
    return REGIME_SHARE * table + (1.0 - REGIME_SHARE) * oscillator_modulation(bloch, op)


@dataclass(frozen=True)
class Oscillator:
    """One scheduled operation: phase, accumulated urgency, and the cycles since it last fired."""

    name: str
    phase: float = 0.0
    urgency: float = 0.0
    cycles_since_fire: int | None = None  # None: never fired, so not refractory
    total_fires: int = 0

    @property
    def natural_period(self) -> int:
        """T₀ in cycles."""
        return OSCILLATORS[self.name][0]

    @property
    def refractory(self) -> int:
        """Cycles after a firing during which it cannot fire again."""
        return OSCILLATORS[self.name][1]


def tick_oscillator(osc: Oscillator, drive: float, multiplier: float) -> tuple[Oscillator, bool]:
    """One cycle: phase += 1/T₀, U += drive·mult/T₀; fire and reset when not refractory and phase + 0.5·U ≥ 1."""
    period = osc.natural_period
    since = None if osc.cycles_since_fire is None else osc.cycles_since_fire + 1
    phase = osc.phase + 1.0 / period
    urgency = osc.urgency + drive * multiplier / period
    refractory = since is not None and since <= osc.refractory
    if not refractory and phase + URGENCY_COUPLING * urgency >= 1.0:
        return Oscillator(osc.name, 0.0, 0.0, 0, osc.total_fires + 1), True
    return Oscillator(osc.name, phase, urgency, since, osc.total_fires), False


@dataclass(frozen=True)
class Temporal:
    """All eight oscillators, the cycle count and the last 50 firings as (cycle, op)."""

    oscillators: tuple[Oscillator, ...] = tuple(Oscillator(name) for name in OSCILLATORS)
    cycle: int = 0
    recent_fires: tuple[tuple[int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "oscillators": [
                {
                    "name": o.name,
                    "phase": o.phase,
                    "urgency": o.urgency,
                    "cycles_since_fire": o.cycles_since_fire,
                    "total_fires": o.total_fires,
                }
                for o in self.oscillators
            ],
            "cycle": self.cycle,
            "recent_fires": [[c, op] for c, op in self.recent_fires],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Temporal:
        """Inverse of `to_dict`; unknown oscillators are dropped and missing ones start fresh."""
        try:
            saved = {o["name"]: o for o in data["oscillators"]}
            oscillators = tuple(
                Oscillator(
                    name,
                    float(saved[name]["phase"]),
                    float(saved[name]["urgency"]),
                    None if saved[name]["cycles_since_fire"] is None else int(saved[name]["cycles_since_fire"]),
                    int(saved[name]["total_fires"]),
                )
                if name in saved
                else Oscillator(name)
                for name in OSCILLATORS
            )
            fires = tuple((int(c), str(op)) for c, op in data["recent_fires"])[-MAX_RECENT_FIRES:]
            return cls(oscillators, int(data["cycle"]), fires)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed temporal state: {exc!r}") from exc


def tick(
    state: Temporal, signals: Mapping[str, float], regime: str, bloch: Bloch
) -> tuple[Temporal, tuple[str, ...]]:
    """Advance every oscillator one cycle; return the new state and the operations that fire now."""
    cycle = state.cycle + 1
    oscillators, fired = [], []
    for osc in state.oscillators:
        weights = OSCILLATORS[osc.name][2]
        osc, fires = tick_oscillator(osc, urgency_input(weights, signals), regime_multiplier(regime, osc.name, bloch))
        oscillators.append(osc)
        if fires:
            fired.append(osc.name)
    recent = (*state.recent_fires, *((cycle, op) for op in fired))[-MAX_RECENT_FIRES:]
    return Temporal(tuple(oscillators), cycle, recent), tuple(fired)


# ── Fitness ──────────────────────────────────────────────────────────

FITNESS_WEIGHTS = {
    "economic": 0.20,
    "execution": 0.25,
    "evolution": 0.15,
    "coordination": 0.10,
    "introspection": 0.10,
    "prediction": 0.20,
}
FITNESS_HISTORY_SIZE = 200
ECONOMIC_MIDPOINT = 5.0  # payments per endpoint for an economic score of 0.5
EXECUTION_PRIOR = 0.15  # execution score before any plan, blended out over the first 5
EXECUTION_RAMP = 5
EVOLUTION_MIN_CYCLES = 20
EVOLUTION_PRIOR = 0.1
EVOLUTION_MIDPOINT = 10.0  # commits per 100 cycles for an evolution score of 0.5
COORDINATION_PRIOR = 0.1
COORDINATION_RAMP = 10
INTROSPECTION_PRIOR = 0.1
INTROSPECTION_BELIEF_CREDIT = 0.2  # most credit for unverifiable beliefs, reached slowly
INTROSPECTION_MIDPOINT = 10.0
PREDICTION_PRIOR = 0.1
PREDICTION_MIN = 5
PREDICTION_RAMP = 20


def saturate(x: float, midpoint: float) -> float:
    """x / (x + midpoint): 0 at 0, 0.5 at the midpoint, toward 1 beyond."""
    return x / (x + midpoint) if x > 0 else 0.0


def _ramp(prior: float, rate: float, n: int, full: int) -> float:
    """Blend from `prior` to `rate` as n evidence grows to `full`."""
    confidence = min(n / full, 1.0)
    return prior * (1.0 - confidence) + rate * confidence


def economic_fitness(payments: int, endpoints: int) -> float:
    """Payments per endpoint, saturating at midpoint 5."""
    return saturate(max(payments, 0) / max(endpoints, 1), ECONOMIC_MIDPOINT)


def execution_fitness(completed: int, completed_trivial: int, failed: int) -> float:
    """Plan success rate (trivial completions are not successes), ramped from 0.15 over the first 5 plans."""
    total = completed + completed_trivial + failed
    if total < 1:
        return EXECUTION_PRIOR
    return _ramp(EXECUTION_PRIOR, completed / total, total, EXECUTION_RAMP)


def evolution_fitness(commits: int, cycles: int) -> float:
    """Commits per 100 cycles, saturating at midpoint 10; 0.1 before 20 cycles."""
    if cycles < EVOLUTION_MIN_CYCLES:
        return EVOLUTION_PRIOR
    return saturate(max(commits, 0) / cycles * 100.0, EVOLUTION_MIDPOINT)


def coordination_fitness(attempted: int, succeeded: int) -> float:
    """Peer-call success rate, ramped from 0.1 over the first 10 calls."""
    if attempted < 1:
        return COORDINATION_PRIOR
    rate = min(max(succeeded, 0), attempted) / attempted
    return _ramp(COORDINATION_PRIOR, rate, attempted, COORDINATION_RAMP)


def introspection_fitness(beliefs: int, verifiable: int, correct: int) -> float:
    """Share of verifiable beliefs that match reality; small credit for unverifiable ones; 0.1 with none."""
    if beliefs < 1:
        return INTROSPECTION_PRIOR
    if verifiable < 1:
        return INTROSPECTION_PRIOR + INTROSPECTION_BELIEF_CREDIT * saturate(beliefs, INTROSPECTION_MIDPOINT)
    return min(max(correct, 0), verifiable) / verifiable


def prediction_fitness(accuracy: float, predictions: int) -> float:
    """Cortex accuracy, ramped from 0.1 over the first 20 predictions; 0.1 under 5."""
    if predictions < PREDICTION_MIN:
        return PREDICTION_PRIOR
    return _ramp(PREDICTION_PRIOR, _unit(accuracy), predictions, PREDICTION_RAMP)


@dataclass(frozen=True)
class Fitness:
    """The latest fitness (weighted components, total, trend) and the history of totals (newest last, at most 200)."""

    components: tuple[tuple[str, float], ...] = ()
    total: float = 0.0
    trend: float = 0.0
    history: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "components": dict(self.components),
            "total": self.total,
            "trend": self.trend,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fitness:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            return cls(
                tuple((str(k), float(v)) for k, v in data["components"].items()),
                float(data["total"]),
                float(data["trend"]),
                tuple(float(v) for v in data["history"])[-FITNESS_HISTORY_SIZE:],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed fitness: {exc!r}") from exc


def measure_fitness(state: Fitness, components: Mapping[str, float]) -> Fitness:
    """Total = Σ weight·component (each clamped to [0, 1]); trend as for F; the total joins the history."""
    parts = tuple((name, _unit(components[name])) for name in FITNESS_WEIGHTS)
    total = sum(FITNESS_WEIGHTS[name] * value for name, value in parts)
    return Fitness(parts, total, trend(state.history, total), (*state.history, total)[-FITNESS_HISTORY_SIZE:])
