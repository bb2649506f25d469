"""Free energy F(t): one number for the agent's total surprise, its trend and its regime (digest §4.5 (9))."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

LAMBDA = 0.01  # weight of the complexity penalty
SYNTHESIS_WEIGHT = 0.1  # synthesis is the observer, so its weight is fixed rather than learned
BRIER_SCALE = 0.5  # H_brain = Brier / 0.5, so a random brain (Brier 0.25) scores 0.5
EMPTY_POOL_SURPRISE = 0.8  # H_genesis with no templates
NO_PREDICTIONS_SURPRISE = 0.5  # H_synthesis before synthesis has predicted anything
CORE_ACTIONS = (
    "read_file",
    "edit_code",
    "cargo_check",
    "commit",
    "search_code",
    "run_shell",
    "think",
    "generate_code",
)
EXPLORE_THRESHOLD = 0.6  # F above this: explore
EXPLOIT_THRESHOLD = 0.3  # F below this: exploit
ANOMALY_TREND = 0.05  # a slope above this is an anomaly ...
ANOMALY_MIN_HISTORY = 5  # ... once more than this many values are stored
TREND_WINDOW = 10  # stored values the trend regresses over (plus the current one)
TREND_MIN_HISTORY = 3  # fewer stored values than this: trend 0
HISTORY_SIZE = 500
SYSTEMS = ("brain", "cortex", "genesis", "hivemind")  # the systems whose weights synthesis learns


class Regime(StrEnum):
    """What F says the agent should do."""

    EXPLORE = "explore"
    LEARN = "learn"
    EXPLOIT = "exploit"
    ANOMALY = "anomaly"


def unit_interval(x: float) -> float:
    """Clamp to [0, 1]; anything not a finite number counts as 0."""
    return min(max(x, 0.0), 1.0) if x == x else 0.0


def brain_surprise(brier: float) -> float:
    """H_brain = min(Brier / 0.5, 1)."""
    return unit_interval(brier / BRIER_SCALE)


def cortex_surprise(accuracy: float) -> float:
    """H_cortex = 1 − the cortex's prediction accuracy (checked against outcomes)."""
    return unit_interval(1.0 - accuracy)


def genesis_surprise(template_fitnesses: Sequence[float]) -> float:
    """H_genesis = 1 − mean template fitness, or 0.8 when the pool is empty."""
    if not template_fitnesses:
        return EMPTY_POOL_SURPRISE
    return unit_interval(1.0 - sum(template_fitnesses) / len(template_fitnesses))


def hivemind_surprise(actions_with_trails: Collection[str], core: Sequence[str] = CORE_ACTIONS) -> float:
    """H_hivemind = 1 − the fraction of the core actions (the seed's 8 by default) that have an action trail."""
    if not core:
        return 0.0
    covered = sum(1 for action in core if action in actions_with_trails)
    return 1.0 - covered / len(core)


def synthesis_surprise(conflicts: int, predictions: int) -> float:
    """H_synthesis = min(conflicts / predictions, 1), or 0.5 before any prediction."""
    if predictions <= 0:
        return NO_PREDICTIONS_SURPRISE
    return unit_interval(conflicts / predictions)


def complexity(model_size: int, data_observed: int) -> float:
    """(experiences + templates + trails) / (experiences processed + templates created + deposits); 1 with no data."""
    if data_observed <= 0:
        return 1.0
    return max(model_size, 0) / data_observed


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of `values` against their index; 0 when it is undefined."""
    n = len(values)
    if n < 2:
        return 0.0
    x_mean = (n - 1) / 2
    y_mean = sum(values) / n
    num = sum((i - x_mean) * (y - y_mean) for i, y in enumerate(values))
    den = sum((i - x_mean) ** 2 for i in range(n))
    result = num / den
    return result if result == result and abs(result) != float("inf") else 0.0


def trend(history: Sequence[float], current: float) -> float:
    """dF/dt: slope over the last 10 stored values plus the current one (0 with fewer than 3 stored)."""
    if len(history) < TREND_MIN_HISTORY:
        return 0.0
    return slope([*history[-TREND_WINDOW:], current])


@dataclass(frozen=True)
class Thresholds:
    """Where the regimes begin: explore above, exploit below, anomaly for a steeper trend."""

    explore: float = EXPLORE_THRESHOLD
    exploit: float = EXPLOIT_THRESHOLD
    anomaly: float = ANOMALY_TREND


def regime(total: float, f_trend: float, history_len: int, thresholds: Thresholds = Thresholds()) -> Regime:
    """Anomaly if F climbs fast on enough history, else explore above 0.6, exploit below 0.3, learn between."""
    if f_trend > thresholds.anomaly and history_len > ANOMALY_MIN_HISTORY:
        return Regime.ANOMALY
    if total > thresholds.explore:
        return Regime.EXPLORE
    if total < thresholds.exploit:
        return Regime.EXPLOIT
    return Regime.LEARN


@dataclass(frozen=True)
class Measurement:
    """F at one moment: per-system surprise H, the weight each got, the complexity term, regime and trend."""

    total: float
    surprises: dict[str, float]
    weights: dict[str, float]
    complexity_term: float
    trend: float
    regime: Regime
    timestamp: float

    def contribution(self, system: str) -> float:
        """w · H for one system."""
        return self.weights[system] * self.surprises[system]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "total": self.total,
            "surprises": dict(self.surprises),
            "weights": dict(self.weights),
            "complexity_term": self.complexity_term,
            "trend": self.trend,
            "regime": self.regime.value,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            return cls(
                total=float(data["total"]),
                surprises={str(k): float(v) for k, v in data["surprises"].items()},
                weights={str(k): float(v) for k, v in data["weights"].items()},
                complexity_term=float(data["complexity_term"]),
                trend=float(data["trend"]),
                regime=Regime(data["regime"]),
                timestamp=float(data["timestamp"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed free energy measurement: {exc!r}") from exc


@dataclass(frozen=True)
class FreeEnergyState:
    """The stored history of F (newest last, at most 500), its extremes and the latest measurement."""

    history: tuple[float, ...] = ()
    global_min: float | None = None
    global_max: float | None = None
    total_measurements: int = 0
    current: Measurement | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "history": list(self.history),
            "global_min": self.global_min,
            "global_max": self.global_max,
            "total_measurements": self.total_measurements,
            "current": self.current.to_dict() if self.current else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FreeEnergyState:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            current = data["current"]
            return cls(
                history=tuple(float(v) for v in data["history"])[-HISTORY_SIZE:],
                global_min=None if data["global_min"] is None else float(data["global_min"]),
                global_max=None if data["global_max"] is None else float(data["global_max"]),
                total_measurements=int(data["total_measurements"]),
                current=None if current is None else Measurement.from_dict(current),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed free energy state: {exc!r}") from exc


def compute(
    state: FreeEnergyState,
    surprises: Mapping[str, float],
    weights: Mapping[str, float],
    complexity_value: float,
    now: float,
    thresholds: Thresholds = Thresholds(),
) -> Measurement:
    """F = Σ w·H over brain, cortex, genesis, hivemind (w from synthesis) + 0.1·H_synthesis + λ·complexity."""
    h = {system: unit_interval(surprises[system]) for system in (*SYSTEMS, "synthesis")}
    w = {system: float(weights[system]) for system in SYSTEMS} | {"synthesis": SYNTHESIS_WEIGHT}
    complexity_term = LAMBDA * complexity_value
    total = sum(w[s] * h[s] for s in h) + complexity_term
    f_trend = trend(state.history, total)
    return Measurement(
        total=total,
        surprises=h,
        weights=w,
        complexity_term=complexity_term,
        trend=f_trend,
        regime=regime(total, f_trend, len(state.history), thresholds),
        timestamp=now,
    )


def record(state: FreeEnergyState, measurement: Measurement) -> FreeEnergyState:
    """Append a measurement to the history (capped at 500) and update the extremes."""
    total = measurement.total
    return FreeEnergyState(
        history=(*state.history, total)[-HISTORY_SIZE:],
        global_min=total if state.global_min is None else min(state.global_min, total),
        global_max=total if state.global_max is None else max(state.global_max, total),
        total_measurements=state.total_measurements + 1,
        current=measurement,
    )
