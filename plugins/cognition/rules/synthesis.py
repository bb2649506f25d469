"""Synthesis: metacognition over the systems' votes on a step, with adaptive trust and imagination (digest §4.5 (5)).

Any plugin votes by handing a `Vote` in; the four seed systems get helpers below (the brain's lives
in `brain.py`), and a tenth system only needs a name of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .numbers import clamp

SYSTEMS = ("brain", "cortex", "genesis", "hivemind")
INITIAL_WEIGHT = 0.25  # every system's starting weight, a newcomer's too (before normalising)
MIN_CONFIDENCE = 0.1  # votes at or below this confidence are left out of coherence, accuracy and conflicts
EXPLORING_OBSERVATIONS = 10  # fewer outcomes than this: Exploring; from this many on, weights adapt
STUCK_WINDOW = 10  # the last conflicts that Stuck looks at ...
STUCK_FAILURES = 5  # ... and how many of them ended in failure to be Stuck
CONFLICTED_COHERENCE = 0.4  # coherence below this: Conflicted
EXPLOIT_CONSENSUS = 0.3  # consensus above this ...
EXPLOIT_COHERENCE = 0.7  # ... and coherence above this: Exploiting
CONFLICT_MARGIN = 0.2  # confident votes above +0.2 and below -0.2 at once are a conflict
CONFLICT_LOG_SIZE = 100
RECENT_WINDOW = 50  # a system's recent counters halve once they pass this
ACCURACY_RATE = 0.05  # w = 0.95·w + 0.05·recent accuracy, after each outcome
BRIER_RATE = 0.025  # w = 0.975·w + 0.025·(1 − recent Brier), every cycle
GENESIS_MISSING_STEP = -0.2  # genesis' vote when its best template lacks the step
CORTEX_FULL_CONFIDENCE_SAMPLES = 20  # the cortex is fully confident in an action after 20 samples
IMAGINE_STARTS = ("read_file", "search_code", "list_dir", "think")  # walks begin with an investigation
IMAGINE_ENDS = ("commit", "check_self")  # and stop at a step that finishes the work
IMAGINE_MAX_STEPS = 8
IMAGINE_MAX_PLANS = 5


class Mode(StrEnum):
    """The cognitive state synthesis reads from the votes and its history."""

    EXPLORING = "exploring"
    STUCK = "stuck"
    CONFLICTED = "conflicted"
    EXPLOITING = "exploiting"
    COHERENT = "coherent"


@dataclass(frozen=True)
class Vote:
    """One system's opinion of a step: `value` in [-1, 1] (+1 sure success), `confidence` in [0, 1]."""

    system: str
    value: float
    confidence: float
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.system, str) or not self.system:
            raise ValueError("vote: system must be a non-empty name")
        for name, low in (("value", -1.0), ("confidence", 0.0)):
            x = getattr(self, name)
            if isinstance(x, bool) or not isinstance(x, int | float) or not low <= x <= 1.0:
                raise ValueError(f"vote from {self.system}: {name} must be a number in [{low:g}, 1], not {x!r}")

    @property
    def probability(self) -> float:
        """The vote as a success probability, (value + 1) / 2, as evaluation records it."""
        return (self.value + 1.0) / 2.0

    @property
    def confident(self) -> bool:
        """Whether the vote counts for coherence, accuracy and conflicts."""
        return self.confidence > MIN_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "value": self.value, "confidence": self.confidence, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vote:
        return cls(data["system"], data["value"], data["confidence"], data.get("note", ""))


def cortex_vote(prediction: float, samples: int) -> Vote:
    """The cortex's predicted reward for the action, trusted in proportion to its samples (full at 20)."""
    return Vote("cortex", clamp(prediction, -1.0, 1.0), min(max(samples, 0) / CORTEX_FULL_CONFIDENCE_SAMPLES, 1.0))


def genesis_vote(step_type: str, template_steps: Sequence[str] | None, fitness: float, match: float) -> Vote:
    """2·fitness − 1 if the best matching template has the step, −0.2 if not, 0 with no match; confidence = match."""
    if not template_steps:
        return Vote("genesis", 0.0, 0.0, "no matching template")
    confidence = clamp(match, 0.0, 1.0)
    if step_type in template_steps:
        return Vote("genesis", clamp(2.0 * fitness - 1.0, -1.0, 1.0), confidence)
    return Vote("genesis", GENESIS_MISSING_STEP, confidence, "step not in the best template")


def hivemind_vote(valence: float, intensity: float) -> Vote:
    """The action trail's valence scaled by its intensity (capped at 1), which is also the confidence."""
    strength = clamp(intensity, 0.0, 1.0)
    return Vote("hivemind", clamp(valence, -1.0, 1.0) * strength, strength)


@dataclass(frozen=True)
class Record:
    """How often a system's confident votes called the outcome right, in all and recently."""

    total: int = 0
    correct: int = 0
    recent_total: float = 0.0
    recent_correct: float = 0.0

    @property
    def recent_accuracy(self) -> float | None:
        return self.recent_correct / self.recent_total if self.recent_total else None

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "correct": self.correct, "recent_total": self.recent_total,
                "recent_correct": self.recent_correct}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        return cls(int(data["total"]), int(data["correct"]), float(data["recent_total"]), float(data["recent_correct"]))


@dataclass(frozen=True)
class Conflict:
    """Confident votes that disagreed on a step, the one closest to the outcome, and the outcome."""

    systems: tuple[str, ...]
    winner: str
    succeeded: bool

    def to_dict(self) -> dict[str, Any]:
        return {"systems": list(self.systems), "winner": self.winner, "succeeded": self.succeeded}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conflict:
        return cls(tuple(data["systems"]), data["winner"], bool(data["succeeded"]))


@dataclass(frozen=True)
class SynthesisState:
    """Trust in each system, their track records, and the recent conflicts."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(SYSTEMS, INITIAL_WEIGHT))
    records: Mapping[str, Record] = field(default_factory=dict)
    observations: int = 0
    conflicts: tuple[Conflict, ...] = ()
    conflict_count: int = 0  # every conflict ever, for free energy's H_synthesis; the log keeps the last 100

    def weight(self, system: str) -> float:
        """A system's weight; one that never voted yet starts where the seed systems did."""
        return self.weights.get(system, INITIAL_WEIGHT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "records": {name: r.to_dict() for name, r in self.records.items()},
            "observations": self.observations,
            "conflicts": [c.to_dict() for c in self.conflicts],
            "conflict_count": self.conflict_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthesisState:
        return cls(
            weights={str(k): float(v) for k, v in data["weights"].items()},
            records={str(k): Record.from_dict(v) for k, v in data["records"].items()},
            observations=int(data["observations"]),
            conflicts=tuple(Conflict.from_dict(c) for c in data["conflicts"]),
            conflict_count=int(data["conflict_count"]),
        )


@dataclass(frozen=True)
class Assessment:
    """What the votes on one step add up to."""

    consensus: float
    coherence: float
    mode: Mode

    def to_dict(self) -> dict[str, Any]:
        return {"consensus": self.consensus, "coherence": self.coherence, "mode": str(self.mode)}


def consensus(state: SynthesisState, votes: Sequence[Vote]) -> float:
    """Σ(v·c·w) / Σ(c·w): the confidence- and trust-weighted mean vote (0 when nobody is confident)."""
    _check_unique(votes)
    total = sum(v.confidence * state.weight(v.system) for v in votes)
    if total <= 0:
        return 0.0
    return sum(v.value * v.confidence * state.weight(v.system) for v in votes) / total


def coherence(votes: Sequence[Vote]) -> float:
    """max(0, 1 − population std of the confident votes); 1 when fewer than two are confident."""
    values = [v.value for v in votes if v.confident]
    if len(values) < 2:
        return 1.0
    mean = sum(values) / len(values)
    return max(0.0, 1.0 - math.sqrt(sum((x - mean) ** 2 for x in values) / len(values)))


def is_stuck(state: SynthesisState) -> bool:
    """Whether at least 5 of the last 10 conflicts ended in failure."""
    return sum(1 for c in state.conflicts[-STUCK_WINDOW:] if not c.succeeded) >= STUCK_FAILURES


def assess(state: SynthesisState, votes: Sequence[Vote]) -> Assessment:
    """Consensus, coherence and the cognitive mode for a step about to run."""
    agreed, spread = consensus(state, votes), coherence(votes)
    if state.observations < EXPLORING_OBSERVATIONS:
        mode = Mode.EXPLORING
    elif is_stuck(state):
        mode = Mode.STUCK
    elif spread < CONFLICTED_COHERENCE:
        mode = Mode.CONFLICTED
    elif agreed > EXPLOIT_CONSENSUS and spread > EXPLOIT_COHERENCE:
        mode = Mode.EXPLOITING
    else:
        mode = Mode.COHERENT
    return Assessment(agreed, spread, mode)


def record_outcome(state: SynthesisState, votes: Sequence[Vote], succeeded: bool) -> SynthesisState:
    """Score each confident vote against the outcome, log a conflict, and (after 10 outcomes) shift trust toward the accurate."""
    _check_unique(votes)
    confident = [v for v in votes if v.confident and v.value != 0]  # a zero vote calls neither outcome
    records = dict(state.records)
    for vote in confident:
        records[vote.system] = _score(records.get(vote.system, Record()), (vote.value > 0) == succeeded)
    conflicts, count = state.conflicts, state.conflict_count
    if any(v.value > CONFLICT_MARGIN for v in confident) and any(v.value < -CONFLICT_MARGIN for v in confident):
        target = 1.0 if succeeded else -1.0
        winner = min(confident, key=lambda v: abs(target - v.value)).system
        conflicts = (*conflicts, Conflict(tuple(v.system for v in confident), winner, succeeded))[-CONFLICT_LOG_SIZE:]
        count += 1
    weights = {**{v.system: state.weight(v.system) for v in votes}, **state.weights}
    observations = state.observations + 1
    if observations >= EXPLORING_OBSERVATIONS:
        weights = _normalise({
            name: _blend(w, records[name].recent_accuracy, ACCURACY_RATE) if name in records else w
            for name, w in weights.items()
        })
    return replace(state, weights=weights, records=records, observations=observations, conflicts=conflicts,
                   conflict_count=count)


def adapt_to_brier(state: SynthesisState, brier: Mapping[str, float]) -> SynthesisState:
    """The per-cycle step: w = 0.975·w + 0.025·(1 − recent Brier) for each system evaluation scored, then normalise."""
    weights = {
        name: _blend(w, 1.0 - clamp(brier[name], 0.0, 1.0), BRIER_RATE) if name in brier else w
        for name, w in state.weights.items()
    }
    return replace(state, weights=_normalise(weights))


def _score(record: Record, correct: bool) -> Record:
    """One more vote in the record; the recent window halves once it passes 50."""
    recent_total, recent_correct = record.recent_total + 1, record.recent_correct + correct
    if recent_total > RECENT_WINDOW:
        recent_total, recent_correct = recent_total / 2, recent_correct / 2
    return Record(record.total + 1, record.correct + correct, recent_total, recent_correct)


def _blend(weight: float, target: float | None, rate: float) -> float:
    return weight if target is None else (1.0 - rate) * weight + rate * target


def _normalise(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights scaled to sum to 1 (uniform if they sum to nothing)."""
    total = sum(weights.values())
    if total <= 0:
        return {name: 1.0 / len(weights) for name in weights}
    return {name: w / total for name, w in weights.items()}


def _check_unique(votes: Iterable[Vote]) -> None:
    seen: set[str] = set()
    for vote in votes:
        if vote.system in seen:
            raise ValueError(f"synthesis: {vote.system} voted twice on one step")
        seen.add(vote.system)


# Imagination: plans proposed without an LLM, from the cortex's causal graph and genesis' templates.


@dataclass(frozen=True)
class ImaginedPlan:
    """A proposed sequence of step types, where it came from and how promising it looks."""

    steps: tuple[str, ...]
    source: str  # "walk", "reverse" or "template"
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "source": self.source, "score": self.score}


def imagine(
    edges: Iterable[Mapping[str, Any]],
    templates: Iterable[Mapping[str, Any]] = (),
    curiosity: Mapping[str, float] | None = None,
) -> list[ImaginedPlan]:
    """Up to 5 plans, best first: greedy causal walks, a walk back from commit, and the best template with the most curious action.

    `edges` are the cortex's causal edges `{"from", "to", "weight", "avg_reward"}`, `templates` genesis'
    `{"step_types", "fitness"}`, `curiosity` the cortex's per-action curiosity.
    """
    scores: dict[tuple[str, str], float] = {}
    for edge in edges:
        key, score = (edge["from"], edge["to"]), edge["avg_reward"] * edge["weight"]
        scores[key] = max(score, scores.get(key, score))  # one edge per context: keep the best
    plans = [_walk(scores, start, forward=True) for start in IMAGINE_STARTS]
    plans.append(_walk(scores, "commit", forward=False))
    plans.append(_curious_template(templates, curiosity or {}))
    found: dict[tuple[str, ...], ImaginedPlan] = {}
    for plan in sorted((p for p in plans if p is not None), key=lambda p: -p.score):
        found.setdefault(plan.steps, plan)
    return list(found.values())[:IMAGINE_MAX_PLANS]


def _walk(scores: Mapping[tuple[str, str], float], start: str, forward: bool) -> ImaginedPlan | None:
    """Follow the best positive edge from `start` (forward) or into it (backward), never revisiting, up to 8 steps."""
    path, gains = [start], []
    while len(path) < IMAGINE_MAX_STEPS and not (forward and path[-1] in IMAGINE_ENDS and len(path) > 1):
        options = []
        for (a, b), score in scores.items():
            here, there = (a, b) if forward else (b, a)
            if here == path[-1] and there not in path and score > 0:
                options.append((score, there))
        if not options:
            break
        score, there = max(options)  # ties go to the later name, so the walk is deterministic
        path.append(there)
        gains.append(score)
    if not gains:
        return None
    steps = tuple(path) if forward else tuple(reversed(path))
    return ImaginedPlan(steps, "walk" if forward else "reverse", sum(gains) / len(gains))


def _curious_template(templates: Iterable[Mapping[str, Any]], curiosity: Mapping[str, float]) -> ImaginedPlan | None:
    """The fittest template with the most curious action put in the middle."""
    pool = [t for t in templates if t.get("step_types")]
    if not pool or not curiosity:
        return None
    best = max(pool, key=lambda t: t["fitness"])
    action = max(sorted(curiosity), key=lambda a: curiosity[a])
    steps = list(best["step_types"])
    steps.insert(len(steps) // 2, action)
    return ImaginedPlan(tuple(steps), "template", float(best["fitness"]))
