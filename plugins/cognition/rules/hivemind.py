"""Hivemind: stigmergy (digest §4.5 item 4): pheromone trails with deposit, evaporation, peer reputation and peer import.

Every function here is pure apart from mutating the `Hivemind` it is given: no I/O, no clock (`now` is
Unix seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .genesis import extract_keywords, jaccard, plain
from .numbers import clamp, finite

MAX_TRAILS = 500
DEPOSIT_STRENGTH = 0.3
MAX_INTENSITY = 3.0
VALENCE_KEEP = 0.7  # an existing trail keeps this share of its valence on a deposit
PHEROMONE_DECAY = 0.95
PRUNE_THRESHOLD = 0.01
STEP_VALENCE = 0.5
STEP_GOAL_KEYWORDS = 3
NEUTRAL_REPUTATION = 0.5
REPUTATION_RATE = 0.1
REPUTATION_RAMP = 10  # interactions before a peer's reputation moves at the full rate
IMPORT_REINFORCE = 0.3
IMPORT_VALENCE_KEEP = 0.8
PEER_ACTIVITY_TTL = 3600.0
GOAL_OVERLAP = 0.5
EXPORT_TRAILS = 100
CATEGORIES = ("file", "action", "error", "goal", "sequence")


@dataclass
class Trail:
    """A pheromone on a resource: valence in [-1, 1] (repellent to attractant) and a fading intensity."""

    resource: str
    category: str
    valence: float
    intensity: float
    source_agent: str
    timestamp: float
    reinforcement_count: int = 1


@dataclass
class PeerActivity:
    """What a peer is working on, for goal de-duplication."""

    instance_id: str
    active_goal: str | None
    goal_keywords: list[str]
    fitness: float
    drive: str
    updated_at: float


@dataclass
class Reputation:
    """How far a peer's trails are trusted (score in [0, 1])."""

    score: float = NEUTRAL_REPUTATION
    interactions: int = 0
    prediction_accuracy: float | None = None
    fitness: float | None = None


@dataclass
class Hivemind:
    """The pheromone field, peers' activities and reputations; `to_dict` is its stored form."""

    trails: dict[tuple[str, str], Trail] = field(default_factory=dict)
    peer_activities: dict[str, PeerActivity] = field(default_factory=dict)
    reputations: dict[str, Reputation] = field(default_factory=dict)
    total_deposits: int = 0
    evaporation_cycles: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "trails": [plain(t) for t in self.trails.values()],
            "peer_activities": [plain(a) for a in self.peer_activities.values()],
            "reputations": {peer: plain(r) for peer, r in self.reputations.items()},
            "total_deposits": self.total_deposits,
            "evaporation_cycles": self.evaporation_cycles,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hivemind:
        """Rebuild from `to_dict` output; ValueError on malformed data."""
        try:
            trails = [trail_from_dict(t) for t in data.get("trails", [])]
            activities = [_activity(a) for a in data.get("peer_activities", [])]
            return cls(
                trails={(t.resource, t.category): t for t in trails},
                peer_activities={a.instance_id: a for a in activities},
                reputations={str(p): _reputation(r) for p, r in data.get("reputations", {}).items()},
                total_deposits=int(data.get("total_deposits", 0)),
                evaporation_cycles=int(data.get("evaporation_cycles", 0)),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad hivemind state: {exc}") from exc


def trail_from_dict(d: dict[str, Any]) -> Trail:
    """One trail from plain data, valence clamped to [-1, 1] and intensity to [0, 3] (ValueError when malformed)."""
    category = str(d["category"])
    if category not in CATEGORIES:
        raise ValueError(f"unknown trail category {category!r}")
    return Trail(
        resource=str(d["resource"]),
        category=category,
        valence=clamp(finite(d["valence"]), -1.0, 1.0),
        intensity=clamp(finite(d["intensity"]), 0.0, MAX_INTENSITY),
        source_agent=str(d["source_agent"]),
        timestamp=finite(d["timestamp"]),
        reinforcement_count=max(int(d.get("reinforcement_count", 1)), 0),
    )


def deposit(hive: Hivemind, resource: str, category: str, valence: float, source_agent: str, now: float) -> Trail:
    """Lay a pheromone: a new trail starts at intensity 0.3; an existing one gains 0.3 (≤ 3) and blends valence 0.7/0.3."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown trail category {category!r}")
    valence = clamp(valence, -1.0, 1.0)
    hive.total_deposits += 1
    trail = hive.trails.get((resource, category))
    if trail is not None:
        trail.intensity = min(trail.intensity + DEPOSIT_STRENGTH, MAX_INTENSITY)
        trail.valence = VALENCE_KEEP * trail.valence + (1 - VALENCE_KEEP) * valence
        trail.reinforcement_count += 1
        trail.timestamp = now
        return trail
    trail = Trail(resource, category, valence, DEPOSIT_STRENGTH, source_agent, now)
    hive.trails[(resource, category)] = trail
    if len(hive.trails) > MAX_TRAILS:
        weakest = min(hive.trails, key=lambda key: hive.trails[key].intensity)
        del hive.trails[weakest]
    return trail


def deposit_step(hive: Hivemind, action: str, file_path: str | None, goal_keywords: list[str], succeeded: bool,
                 source_agent: str, now: float) -> None:
    """After a step: ±0.5 on the action, on its file, and on the goal's first three keywords."""
    valence = STEP_VALENCE if succeeded else -STEP_VALENCE
    deposit(hive, action, "action", valence, source_agent, now)
    if file_path:
        deposit(hive, file_path, "file", valence, source_agent, now)
    for keyword in goal_keywords[:STEP_GOAL_KEYWORDS]:
        deposit(hive, keyword, "goal", valence, source_agent, now)


def evaporate(hive: Hivemind) -> int:
    """Multiply every intensity by 0.95 and drop trails under 0.01; return how many were dropped."""
    hive.evaporation_cycles += 1
    for trail in hive.trails.values():
        trail.intensity *= PHEROMONE_DECAY
    faded = [key for key, trail in hive.trails.items() if trail.intensity < PRUNE_THRESHOLD]
    for key in faded:
        del hive.trails[key]
    return len(faded)


def smell(hive: Hivemind, resource: str, category: str) -> tuple[float, float] | None:
    """(valence, intensity) of the trail on a resource, or None."""
    trail = hive.trails.get((resource, category))
    return None if trail is None else (trail.valence, trail.intensity)


def attractants(hive: Hivemind, category: str, top_n: int) -> list[Trail]:
    """Positive trails of a category, strongest valence × intensity first."""
    trails = [t for t in hive.trails.values() if t.category == category and t.valence > 0]
    return sorted(trails, key=lambda t: t.valence * t.intensity, reverse=True)[:top_n]


def repellents(hive: Hivemind, category: str, top_n: int) -> list[Trail]:
    """Negative trails of a category, strongest |valence| × intensity first."""
    trails = [t for t in hive.trails.values() if t.category == category and t.valence < 0]
    return sorted(trails, key=lambda t: -t.valence * t.intensity, reverse=True)[:top_n]


def action_coverage(hive: Hivemind, actions: tuple[str, ...] | list[str]) -> float:
    """Share of `actions` that have an action trail (0 for no actions)."""
    if not actions:
        return 0.0
    return sum((a, "action") in hive.trails for a in actions) / len(actions)


def update_reputation(hive: Hivemind, peer_id: str, prediction_accuracy: float | None, fitness: float | None) -> Reputation:
    """Move a peer's score toward the mean of its known accuracy and fitness at rate 0.1 × min(interactions/10, 1)."""
    rep = hive.reputations.setdefault(peer_id, Reputation())
    rep.interactions += 1
    if prediction_accuracy is not None:
        rep.prediction_accuracy = clamp(prediction_accuracy, 0.0, 1.0)
    if fitness is not None:
        rep.fitness = clamp(fitness, 0.0, 1.0)
    signals = [s for s in (rep.prediction_accuracy, rep.fitness) if s is not None]
    if signals:
        rate = REPUTATION_RATE * min(rep.interactions / REPUTATION_RAMP, 1.0)
        rep.score = (1 - rate) * rep.score + rate * sum(signals) / len(signals)
    return rep


def reputation_weight(hive: Hivemind, peer_id: str) -> float:
    """A peer's reputation score, 0.5 for a peer never rated."""
    rep = hive.reputations.get(peer_id)
    return NEUTRAL_REPUTATION if rep is None else rep.score


def export(hive: Hivemind, top_n: int = EXPORT_TRAILS) -> list[dict[str, Any]]:
    """The strongest trails, for peers to import."""
    trails = sorted(hive.trails.values(), key=lambda t: t.intensity, reverse=True)[:top_n]
    return [plain(t) for t in trails]


def import_peer_trails(hive: Hivemind, peer_id: str, trails: list[dict[str, Any]]) -> int:
    """Import a peer's exported trails weighted by its reputation (the hivemind's merge); return how many were taken.

    Weighted intensity under 0.01 is skipped; an existing trail gains 0.3 × it (≤ 3) and blends valence 0.8/0.2;
    a new trail is added at the weighted intensity while there is room. ValueError on malformed trails.
    """
    try:
        peer_trails = [trail_from_dict(t) for t in trails]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad peer trails: {exc}") from exc
    weight = reputation_weight(hive, peer_id)
    taken = 0
    for peer in peer_trails:
        weighted = peer.intensity * weight
        if weighted < PRUNE_THRESHOLD:
            continue
        trail = hive.trails.get((peer.resource, peer.category))
        if trail is not None:
            trail.intensity = min(trail.intensity + IMPORT_REINFORCE * weighted, MAX_INTENSITY)
            trail.valence = IMPORT_VALENCE_KEEP * trail.valence + (1 - IMPORT_VALENCE_KEEP) * peer.valence
            trail.reinforcement_count += 1
        elif len(hive.trails) < MAX_TRAILS:
            peer.intensity = weighted
            peer.source_agent = peer_id
            hive.trails[(peer.resource, peer.category)] = peer
        else:
            continue
        taken += 1
    return taken


def update_peer_activity(hive: Hivemind, peer_id: str, active_goal: str | None, fitness: float, drive: str, now: float) -> None:
    """Note what a peer works on; forget activities older than an hour."""
    keywords = extract_keywords(active_goal) if active_goal else []
    hive.peer_activities[peer_id] = PeerActivity(peer_id, active_goal, keywords, fitness, drive, now)
    hive.peer_activities = {p: a for p, a in hive.peer_activities.items() if now - a.updated_at < PEER_ACTIVITY_TTL}


def goal_overlap(hive: Hivemind, goal: str) -> str | None:
    """The first peer already working on a goal whose keyword Jaccard with `goal` exceeds 0.5."""
    keywords = extract_keywords(goal)
    for activity in hive.peer_activities.values():
        if activity.active_goal and jaccard(keywords, activity.goal_keywords) > GOAL_OVERLAP:
            return activity.instance_id
    return None


def _optional(value: Any) -> float | None:
    return None if value is None else finite(value)


def _activity(d: dict[str, Any]) -> PeerActivity:
    goal = d.get("active_goal")
    return PeerActivity(str(d["instance_id"]), None if goal is None else str(goal), [str(k) for k in d["goal_keywords"]],
                        finite(d["fitness"]), str(d["drive"]), finite(d["updated_at"]))


def _reputation(d: dict[str, Any]) -> Reputation:
    return Reputation(clamp(finite(d["score"]), 0.0, 1.0), max(int(d["interactions"]), 0),
                      _optional(d.get("prediction_accuracy")), _optional(d.get("fitness")))
