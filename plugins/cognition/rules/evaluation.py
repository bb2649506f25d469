"""Evaluation: prediction records, Brier scores, the Murphy decomposition and the benefit of peer sync (§4.5 (7))."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

MAX_RECORDS = 2000
RECENT_WINDOW = 100  # records behind the "recent" Brier score and accuracy
MIN_CONFIDENCE = 0.1  # records at or below this confidence are not scored
BASELINE_BRIER = 0.25  # the Brier score of always saying 0.5, reported when there is nothing to score
NEUTRAL_ACCURACY = 0.5  # accuracy reported when there is nothing to score
CALIBRATION_BINS = 10
MIN_DECOMPOSITION = 10  # fewer scored records than this: no decomposition
CONTEXT_CHARS = 100
VOTING_SYSTEMS = ("brain", "cortex", "genesis", "hivemind")
UNIFORM_WEIGHT = 1 / len(VOTING_SYSTEMS)
MIN_ADAPTATION = 10  # each voting system needs this many records before adapted and uniform weights are compared
SIGNIFICANT_GAIN = 0.01  # a gain above this ...
SIGNIFICANT_N = 50  # ... with more than this many records per system is significant
SYNC_FALLBACK_WINDOW = 30  # records behind the pre-sync accuracy, and after sync when too few are new
SYNC_MIN_NEW = 5  # new records needed to measure only what was predicted after the sync
SYNC_EMA = 0.1  # avg_sync_benefit = 0.9·avg + 0.1·delta
MAX_SYNC_SNAPSHOTS = 50


def vote_probability(vote: float) -> float:
    """A vote in [−1, 1] as a probability of success: (vote + 1) / 2."""
    return _unit((vote + 1.0) / 2.0)


def _unit(x: float) -> float:
    """Clamp to [0, 1]; anything not a finite number counts as 0."""
    return min(max(x, 0.0), 1.0) if x == x else 0.0


@dataclass(frozen=True)
class PredictionRecord:
    """One system's prediction for one step, and what happened."""

    system: str
    predicted_prob: float
    confidence: float
    actual: bool
    timestamp: float
    context: str = ""

    @property
    def correct(self) -> bool:
        """Whether the prediction pointed the right way (p > 0.5 means success)."""
        return (self.predicted_prob > 0.5) == self.actual

    @property
    def squared_error(self) -> float:
        """(p − y)²."""
        return (self.predicted_prob - float(self.actual)) ** 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "system": self.system,
            "predicted_prob": self.predicted_prob,
            "confidence": self.confidence,
            "actual": self.actual,
            "timestamp": self.timestamp,
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionRecord:
        """Inverse of `to_dict`, clamping as `record_prediction` does."""
        return cls(
            system=str(data["system"]),
            predicted_prob=_unit(float(data["predicted_prob"])),
            confidence=_unit(float(data["confidence"])),
            actual=bool(data["actual"]),
            timestamp=float(data["timestamp"]),
            context=str(data.get("context", ""))[:CONTEXT_CHARS],
        )


ROW_FIELDS = ("system", "predicted_prob", "confidence", "actual", "timestamp", "context")


def record_row(record: PredictionRecord) -> list[Any]:
    """A record as a compact row, its fields in `ROW_FIELDS` order (the stored form: far cheaper to pack than dicts)."""
    return [record.system, record.predicted_prob, record.confidence, record.actual, record.timestamp, record.context]


def record_from_row(row: Any) -> PredictionRecord:
    """Inverse of `record_row`, clamping as `record_prediction` does; a malformed row raises ValueError."""
    if not isinstance(row, list | tuple) or len(row) != len(ROW_FIELDS):
        raise ValueError(f"a prediction row has {len(ROW_FIELDS)} fields")
    try:
        return PredictionRecord.from_dict(dict(zip(ROW_FIELDS, row, strict=True)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed prediction row: {exc!r}") from exc


@dataclass(frozen=True)
class SyncBenefit:
    """Accuracy before and after the last peer sync, and the running benefit of syncing."""

    accuracy_before: float = NEUTRAL_ACCURACY
    accuracy_after: float = NEUTRAL_ACCURACY
    sync_delta: float = 0.0
    syncs_measured: int = 0
    avg_sync_benefit: float = 0.0
    pre_sync_recorded: int = 0  # `total_recorded` at the pre-sync snapshot
    snapshots: tuple[tuple[float, float], ...] = ()  # (time, accuracy before sync), newest last
    pending: bool = False  # a snapshot was taken and its post-sync measurement is still to come


@dataclass(frozen=True)
class Imagination:
    """How often synthesis's imagined plans shaped the real plan, and how those plans went."""

    total_imagined: int = 0
    influenced_plans: int = 0
    influenced_successes: int = 0

    @property
    def hit_rate(self) -> float:
        """Influenced plans per imagined plan."""
        return self.influenced_plans / self.total_imagined if self.total_imagined else 0.0

    @property
    def success_rate(self) -> float:
        """Share of influenced plans that succeeded."""
        return self.influenced_successes / self.influenced_plans if self.influenced_plans else 0.0


@dataclass(frozen=True)
class EvaluationState:
    """The last 2 000 prediction records, the sync-benefit tracker and imagination usage."""

    records: tuple[PredictionRecord, ...] = ()
    total_recorded: int = 0  # every record ever made, so counts survive the ring buffer
    sync: SyncBenefit = SyncBenefit()
    imagination: Imagination = Imagination()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        sync = self.sync
        return {
            "records": [r.to_dict() for r in self.records],
            "total_recorded": self.total_recorded,
            "sync": {
                "accuracy_before": sync.accuracy_before,
                "accuracy_after": sync.accuracy_after,
                "sync_delta": sync.sync_delta,
                "syncs_measured": sync.syncs_measured,
                "avg_sync_benefit": sync.avg_sync_benefit,
                "pre_sync_recorded": sync.pre_sync_recorded,
                "snapshots": [list(s) for s in sync.snapshots],
                "pending": sync.pending,
            },
            "imagination": {
                "total_imagined": self.imagination.total_imagined,
                "influenced_plans": self.imagination.influenced_plans,
                "influenced_successes": self.imagination.influenced_successes,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationState:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            sync, imagination = data["sync"], data["imagination"]
            return cls(
                records=tuple(PredictionRecord.from_dict(r) for r in data["records"])[-MAX_RECORDS:],
                total_recorded=int(data["total_recorded"]),
                sync=SyncBenefit(
                    accuracy_before=float(sync["accuracy_before"]),
                    accuracy_after=float(sync["accuracy_after"]),
                    sync_delta=float(sync["sync_delta"]),
                    syncs_measured=int(sync["syncs_measured"]),
                    avg_sync_benefit=float(sync["avg_sync_benefit"]),
                    pre_sync_recorded=int(sync["pre_sync_recorded"]),
                    snapshots=tuple((float(t), float(a)) for t, a in sync["snapshots"])[-MAX_SYNC_SNAPSHOTS:],
                    pending=bool(sync.get("pending", False)),
                ),
                imagination=Imagination(
                    total_imagined=int(imagination["total_imagined"]),
                    influenced_plans=int(imagination["influenced_plans"]),
                    influenced_successes=int(imagination["influenced_successes"]),
                ),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed evaluation state: {exc!r}") from exc


def record_prediction(
    state: EvaluationState,
    system: str,
    predicted_prob: float,
    confidence: float,
    actual: bool,
    now: float,
    context: str = "",
) -> EvaluationState:
    """Store one prediction (probability and confidence clamped to [0, 1]), dropping the oldest past 2 000."""
    record = PredictionRecord(system, _unit(predicted_prob), _unit(confidence), actual, now, context[:CONTEXT_CHARS])
    return replace(state, records=(*state.records, record)[-MAX_RECORDS:], total_recorded=state.total_recorded + 1)


def record_predictions(
    state: EvaluationState, predictions: Iterable[tuple[str, float, float, bool, float, str]]
) -> EvaluationState:
    """Store several `(system, predicted_prob, confidence, actual, now, context)` at once, as `record_prediction` does each."""
    new = tuple(
        PredictionRecord(system, _unit(p), _unit(c), actual, now, context[:CONTEXT_CHARS])
        for system, p, c, actual, now, context in predictions
    )
    if not new:
        return state
    return replace(state, records=(*state.records, *new)[-MAX_RECORDS:], total_recorded=state.total_recorded + len(new))


def records_since_snapshot(state: EvaluationState) -> int:
    """Records made since the last pre-sync snapshot (every record ever made when there was none)."""
    return state.total_recorded - state.sync.pre_sync_recorded


def scored(state: EvaluationState, system: str, recent: bool = False) -> list[PredictionRecord]:
    """The system's records with confidence above 0.1, oldest first (only the last 100 when `recent`)."""
    records = [r for r in state.records if r.system == system and r.confidence > MIN_CONFIDENCE]
    return records[-RECENT_WINDOW:] if recent else records


def brier_score(state: EvaluationState, system: str, recent: bool = False) -> float:
    """Mean (p − y)² over the scored records; 0.25 when there are none."""
    records = scored(state, system, recent)
    if not records:
        return BASELINE_BRIER
    return sum(r.squared_error for r in records) / len(records)


def brier_scores(state: EvaluationState, systems: Iterable[str] = VOTING_SYSTEMS, recent: bool = False) -> dict[str, float]:
    """`brier_score` of every system with records, and of `systems` (0.25 when they have none), in one pass."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in reversed(state.records):
        if r.confidence <= MIN_CONFIDENCE:
            continue
        n = counts.get(r.system, 0)
        if recent and n >= RECENT_WINDOW:
            continue
        counts[r.system] = n + 1
        sums[r.system] = sums.get(r.system, 0.0) + r.squared_error
    names = dict.fromkeys((*systems, *sorted(counts)))
    return {s: sums[s] / counts[s] if s in counts else BASELINE_BRIER for s in names}


class RecentBrier:
    """`brier_scores(state, recent=True)` kept up to date record by record, for a caller that asks after every step."""

    def __init__(self, state: EvaluationState) -> None:
        self.errors: dict[str, deque[tuple[int, float]]] = {}  # system -> (record number, squared error), the last 100 scored
        self.total = state.total_recorded - len(state.records)
        self.add(state.records)

    def add(self, records: Iterable[PredictionRecord]) -> None:
        """Count records made after the ones seen so far, oldest first."""
        for r in records:
            self.total += 1
            if r.confidence > MIN_CONFIDENCE:
                self.errors.setdefault(r.system, deque(maxlen=RECENT_WINDOW)).append((self.total, r.squared_error))

    def scores(self, systems: Iterable[str] = VOTING_SYSTEMS) -> dict[str, float]:
        """The recent Brier score of `systems` and of every system with records still in the 2 000 kept."""
        oldest = self.total - MAX_RECORDS  # records numbered above this are still kept
        kept = {s: [e for n, e in errors if n > oldest] for s, errors in self.errors.items()}
        names = dict.fromkeys((*systems, *sorted(s for s, e in kept.items() if e)))
        return {s: sum(kept[s]) / len(kept[s]) if kept.get(s) else BASELINE_BRIER for s in names}


def accuracy(state: EvaluationState, system: str, recent: bool = False) -> float:
    """Share of scored records that pointed the right way; 0.5 when there are none."""
    return _accuracy(scored(state, system, recent))


def _accuracy(records: Sequence[PredictionRecord]) -> float:
    """Share of `records` that pointed the right way; 0.5 when empty."""
    if not records:
        return NEUTRAL_ACCURACY
    return sum(r.correct for r in records) / len(records)


def _bin(p: float) -> int:
    """The calibration bin of a probability: ⌊10p⌋, with p = 1 in the top bin."""
    return min(int(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)


@dataclass(frozen=True)
class CalibrationBin:
    """Predictions in [low, high): their mean, the observed success rate and how many there were."""

    low: float
    high: float
    predicted_mean: float
    actual_rate: float
    count: int


def calibration_curve(state: EvaluationState, system: str) -> list[CalibrationBin]:
    """Ten bins over [0, 1]; an empty bin reports its midpoint and an actual rate of 0."""
    groups: list[list[PredictionRecord]] = [[] for _ in range(CALIBRATION_BINS)]
    for r in scored(state, system):
        groups[_bin(r.predicted_prob)].append(r)
    curve = []
    for i, group in enumerate(groups):
        low, high = i / CALIBRATION_BINS, (i + 1) / CALIBRATION_BINS
        if group:
            mean = sum(r.predicted_prob for r in group) / len(group)
            rate = sum(r.actual for r in group) / len(group)
        else:
            mean, rate = (low + high) / 2, 0.0
        curve.append(CalibrationBin(low, high, mean, rate, len(group)))
    return curve


@dataclass(frozen=True)
class Murphy:
    """Murphy's decomposition of the Brier score: BS ≈ reliability − resolution + uncertainty."""

    brier: float
    reliability: float  # Σ (n_k/N)(p̄_k − ō_k)²: lower is better calibrated
    resolution: float  # Σ (n_k/N)(ō_k − ō)²: higher tells outcomes apart better
    uncertainty: float  # ō(1 − ō): how hard the outcomes are to predict at all
    n: int


def murphy(state: EvaluationState, system: str) -> Murphy:
    """Decompose the system's Brier score over 10 bins; with fewer than 10 scored records, Brier 0.25 and zeros."""
    curve = calibration_curve(state, system)
    n = sum(b.count for b in curve)
    if n < MIN_DECOMPOSITION:
        return Murphy(BASELINE_BRIER, 0.0, 0.0, 0.0, n)
    base_rate = sum(b.actual_rate * b.count for b in curve) / n
    filled = [b for b in curve if b.count]
    return Murphy(
        brier=brier_score(state, system),
        reliability=sum(b.count / n * (b.predicted_mean - b.actual_rate) ** 2 for b in filled),
        resolution=sum(b.count / n * (b.actual_rate - base_rate) ** 2 for b in filled),
        uncertainty=base_rate * (1.0 - base_rate),
        n=n,
    )


def ensemble_brier(records: Iterable[PredictionRecord], weights: Mapping[str, float]) -> float:
    """Brier score of the weighted vote of the four voting systems, records grouped by timestamp (one step each)."""
    steps: dict[float, dict[str, PredictionRecord]] = defaultdict(dict)
    for r in records:
        if r.system in VOTING_SYSTEMS:
            steps[r.timestamp].setdefault(r.system, r)
    errors = []
    for votes in steps.values():
        weight_sum = sum(weights[s] for s in votes)
        if weight_sum > 0:
            p = sum(r.predicted_prob * weights[s] for s, r in votes.items()) / weight_sum
            actual = next(iter(votes.values())).actual
            errors.append((p - float(actual)) ** 2)
    return sum(errors) / len(errors) if errors else BASELINE_BRIER


@dataclass(frozen=True)
class AdaptationGain:
    """Whether synthesis's learned weights predict better than uniform ones."""

    adapted_brier: float
    uniform_brier: float
    n: int  # records of the least-recorded voting system

    @property
    def gain(self) -> float:
        """Uniform Brier − adapted Brier (positive: adaptation helps)."""
        return self.uniform_brier - self.adapted_brier

    @property
    def significant(self) -> bool:
        """Gain above 0.01 with more than 50 records per system."""
        return self.gain > SIGNIFICANT_GAIN and self.n > SIGNIFICANT_N


def adaptation_gain(state: EvaluationState, weights: Mapping[str, float]) -> AdaptationGain:
    """Compare the ensemble Brier under synthesis's current `weights` with uniform weights.

    The seed loaded the weights from a fresh in-memory database, so it always compared uniform with uniform;
    here the live weights are a parameter.
    """
    n = min(sum(1 for r in state.records if r.system == s) for s in VOTING_SYSTEMS)
    if n < MIN_ADAPTATION:
        return AdaptationGain(BASELINE_BRIER, BASELINE_BRIER, n)
    uniform = {s: UNIFORM_WEIGHT for s in VOTING_SYSTEMS}
    return AdaptationGain(ensemble_brier(state.records, weights), ensemble_brier(state.records, uniform), n)


def pre_sync_snapshot(state: EvaluationState, now: float) -> EvaluationState:
    """Before a peer sync: remember the accuracy of the last 30 records and how many records exist."""
    before = _accuracy(state.records[-SYNC_FALLBACK_WINDOW:])
    sync = replace(
        state.sync,
        accuracy_before=before,
        pre_sync_recorded=state.total_recorded,
        snapshots=(*state.sync.snapshots, (now, before))[-MAX_SYNC_SNAPSHOTS:],
        pending=True,
    )
    return replace(state, sync=sync)


def post_sync_measurement(state: EvaluationState) -> EvaluationState:
    """After a peer sync: accuracy of the records made since (the last 30 if fewer than 5), delta and its EMA.

    New records are counted with the lifetime counter, so the measurement still works once the buffer is full
    (the seed compared buffer lengths, which stop growing at 2 000).
    """
    new = min(state.total_recorded - state.sync.pre_sync_recorded, len(state.records))
    window = new if new >= SYNC_MIN_NEW else SYNC_FALLBACK_WINDOW
    after = _accuracy(state.records[-window:])
    delta = after - state.sync.accuracy_before
    sync = replace(
        state.sync,
        accuracy_after=after,
        sync_delta=delta,
        syncs_measured=state.sync.syncs_measured + 1,
        avg_sync_benefit=(1.0 - SYNC_EMA) * state.sync.avg_sync_benefit + SYNC_EMA * delta,
        pending=False,
    )
    return replace(state, sync=sync)


def record_imagination(
    state: EvaluationState, imagined: int, influenced: bool, succeeded: bool | None
) -> EvaluationState:
    """Count imagined plans, and whether they shaped the real plan and it succeeded."""
    im = state.imagination
    return replace(
        state,
        imagination=Imagination(
            total_imagined=im.total_imagined + max(imagined, 0),
            influenced_plans=im.influenced_plans + influenced,
            influenced_successes=im.influenced_successes + (influenced and succeeded is True),
        ),
    )
