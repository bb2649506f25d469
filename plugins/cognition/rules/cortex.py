"""Cortex: the symbolic predictive world model (digest §4.5 item 2): experiences, action models, causal edges, curiosity, emotion and dreams.

Every function here is pure apart from mutating the `Cortex` it is given: no I/O, no clock (`now` is
Unix seconds), randomness only from the `random.Random` passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .genesis import plain
from .numbers import clamp, finite

EXPERIENCE_CAPACITY = 2000
EDGE_CAPACITY = 5000
CURIOSITY_DECAY = 0.95
IMPORTANCE_DECAY = 0.95
EMOTION_DECAY = 0.9
RELIEF_BONUS = 0.2
RELIEF_BELOW = -0.2
MIN_OUTCOME_VALENCE = 0.1
CONFIDENCE_AFTER = 10  # predictions before confidence tracks accuracy
MODEL_RATE_SAMPLES = 50  # EMA rate is 1/min(n, 50)
MODIFIER_PRUNE = 0.01
MODIFIER_PRUNE_AFTER = 20  # samples
MIN_REWARD_SCALE = 0.1
NEW_EDGE_WEIGHT = 0.1
EDGE_KEEP = 0.99
EDGE_BOOST = 0.01
DREAM_BATCH = 100
DREAM_EDGE_DECAY = 0.95
EDGE_PRUNE_THRESHOLD = 0.05
SEQUENCE_MIN_SAMPLES = 5
SEQUENCE_HIGH = 0.85
SEQUENCE_LOW = 0.15
SEQUENCE_FULL_CONFIDENCE = 20  # samples
TAG_MIN_SAMPLES = 10
TAG_DELTA = 0.2
TAG_FULL_CONFIDENCE = 30  # samples
COUNTERFACTUAL_RATE = 0.2
COUNTERFACTUAL_DELTA = 0.3
COUNTERFACTUAL_CONFIDENCE = 0.3
CONSOLIDATE_MIN = 10  # raw experiences of one action
CONSOLIDATE_KEEP = 5  # newest raw experiences kept per consolidated action
INSIGHT_CAP = 50
MERGE_RATE_MAX = 0.5
PEER_INSIGHT_DISCOUNT = 0.5
EXPORT_EDGES = 100
EXPORT_FRONTIER = 10
EXPORT_INSIGHTS = 10
SIM_MIN_SAMPLES = 3
SIM_FULL_CONFIDENCE = 20  # samples
SIM_SPARSE_CONFIDENCE = 0.2
RISKY_VARIANCE = 0.3
EXPLORE_AROUSAL = 0.6
EXPLORE_CURIOSITY = 0.5
EXPLOIT_VALENCE = 0.3
EXPLOIT_CONFIDENCE = 0.6
AVOID_VALENCE = -0.3
SECONDS_PER_HOUR = 3600.0
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
TAG_SEPARATOR = 0xFF
MASK64 = (1 << 64) - 1
PEER_PREFIX = "[from peer "
# Step types never observed count as maximally curious (the seed's list).
KNOWN_ACTIONS: tuple[str, ...] = (
    "read_file", "search_code", "list_dir", "run_shell", "commit", "check_self",
    "create_script_endpoint", "test_script_endpoint", "cargo_check", "generate_code", "edit_code",
    "think", "discover_peers", "call_peer", "review_peer_pr", "clone_self",
)
DRIVES = ("explore", "exploit", "avoid", "neutral")


@dataclass
class Experience:
    """One observed transition: in context tags, took action, got an outcome."""

    id: int
    context_hash: int
    context_tags: list[str]
    action: str
    succeeded: bool
    reward: float
    error_tag: str | None
    surprise: float
    valence: float
    timestamp: float
    replay_count: int = 0
    abstraction_level: int = 0


@dataclass
class CausalEdge:
    """After `from_action` in a context, `to_action` followed with this weight and outcome."""

    from_action: str
    to_action: str
    context_hash: int
    weight: float
    avg_reward: float
    observation_count: int
    outcome_correlation: float


@dataclass
class ActionModel:
    """What the cortex has learned about one action."""

    success_rate: float = 0.5
    avg_reward: float = 0.0
    outcome_variance: float = 0.5
    sample_count: int = 0
    context_modifiers: dict[str, float] = field(default_factory=dict)
    temporal_effects: dict[str, float] = field(default_factory=dict)


@dataclass
class Emotion:
    """Valence, arousal, confidence and the dominant drive."""

    valence: float = 0.0
    arousal: float = 0.5
    confidence: float = 0.5
    drive: str = "explore"


@dataclass
class Insight:
    """A pattern found while dreaming (or imported from a peer)."""

    pattern: str
    confidence: float
    timestamp: float


@dataclass
class StepPrediction:
    """The simulated outcome of one plan step."""

    action: str
    predicted_success: float
    predicted_reward: float
    confidence: float


@dataclass
class Simulation:
    """A plan run through the world model before it is executed."""

    predicted_success: float
    predicted_reward: float
    confidence: float
    steps: list[StepPrediction]
    novel_steps: list[str]
    risky_steps: list[str]


@dataclass
class Cortex:
    """The whole world model; `to_dict` is its stored and exported form."""

    experiences: list[Experience] = field(default_factory=list)
    edges: dict[tuple[str, str, int], CausalEdge] = field(default_factory=dict)
    action_models: dict[str, ActionModel] = field(default_factory=dict)
    curiosity: dict[str, float] = field(default_factory=dict)
    global_curiosity: float = 0.5
    emotion: Emotion = field(default_factory=Emotion)
    feature_importance: dict[str, float] = field(default_factory=dict)
    insights: list[Insight] = field(default_factory=list)
    dream_cycles: int = 0
    total_predictions: int = 0
    correct_predictions: int = 0
    total_experiences: int = 0
    next_id: int = 0
    last_action: str | None = None
    last_context_hash: int = 0
    last_succeeded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            **vars(self),
            "experiences": [plain(e) for e in self.experiences],
            "edges": [plain(e) for e in self.edges.values()],
            "action_models": {a: plain(m) for a, m in self.action_models.items()},
            "curiosity": dict(self.curiosity),
            "emotion": plain(self.emotion),
            "feature_importance": dict(self.feature_importance),
            "insights": [plain(i) for i in self.insights],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cortex:
        """Rebuild from `to_dict` output; ValueError on malformed data."""
        try:
            edges = [_edge(e) for e in data.get("edges", [])]
            return cls(
                experiences=[_experience(e) for e in data.get("experiences", [])],
                edges={(e.from_action, e.to_action, e.context_hash): e for e in edges},
                action_models={str(k): _model(v) for k, v in data.get("action_models", {}).items()},
                curiosity=_floats(data.get("curiosity", {})),
                global_curiosity=finite(data.get("global_curiosity", 0.5)),
                emotion=_emotion(data.get("emotion", {})),
                feature_importance=_floats(data.get("feature_importance", {})),
                insights=[_insight(i) for i in data.get("insights", [])],
                dream_cycles=int(data.get("dream_cycles", 0)),
                total_predictions=int(data.get("total_predictions", 0)),
                correct_predictions=int(data.get("correct_predictions", 0)),
                total_experiences=int(data.get("total_experiences", 0)),
                next_id=int(data.get("next_id", 0)),
                last_action=None if data.get("last_action") is None else str(data["last_action"]),
                last_context_hash=int(data.get("last_context_hash", 0)),
                last_succeeded=bool(data.get("last_succeeded", False)),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad cortex state: {exc}") from exc


def hash_context(tags: list[str]) -> int:
    """FNV-1a (64 bit) over the tags' UTF-8 bytes, each tag followed by a 0xff separator; order matters."""
    h = FNV_OFFSET
    for tag in tags:
        for byte in tag.encode():
            h = ((h ^ byte) * FNV_PRIME) & MASK64
        h = ((h ^ TAG_SEPARATOR) * FNV_PRIME) & MASK64
    return h


def predict_action(cortex: Cortex, action: str, tags: list[str]) -> float:
    """Expected reward of `action` with these tags after the last action, in [-1, 1]; 0 for an unknown action."""
    model = cortex.action_models.get(action)
    if model is None:
        return 0.0
    predicted = model.success_rate * max(model.avg_reward, MIN_REWARD_SCALE)
    predicted += sum(model.context_modifiers.get(tag, 0.0) for tag in tags)
    if cortex.last_action is not None:
        predicted += model.temporal_effects.get(cortex.last_action, 0.0)
    return clamp(predicted, -1.0, 1.0)


def prediction_accuracy(cortex: Cortex) -> float:
    """Share of checked predictions whose predicted sign matched the actual outcome (0.5 before any)."""
    if cortex.total_predictions == 0:
        return 0.5
    return cortex.correct_predictions / cortex.total_predictions


def record(
    cortex: Cortex,
    action: str,
    tags: list[str],
    succeeded: bool,
    reward: float,
    now: float,
    error_tag: str | None = None,
) -> Experience:
    """Learn from one executed step and return the stored experience."""
    known = action in cortex.action_models
    predicted = predict_action(cortex, action, tags)
    surprise = abs(predicted - reward)
    _update_emotion(cortex, succeeded, reward, surprise)
    # The seed scored `(reward > 0) == succeeded`, true by construction; we score the prediction
    # made before the outcome was known, and only where there was a model to predict with.
    if known:
        cortex.total_predictions += 1
        cortex.correct_predictions += (predicted > 0.0) == succeeded
    exp = Experience(
        id=cortex.next_id,
        context_hash=hash_context(tags),
        context_tags=list(tags),
        action=action,
        succeeded=succeeded,
        reward=reward,
        error_tag=error_tag,
        surprise=surprise,
        valence=cortex.emotion.valence,
        timestamp=now,
    )
    cortex.next_id += 1
    cortex.total_experiences += 1
    if len(cortex.experiences) >= EXPERIENCE_CAPACITY:
        victim = min(range(len(cortex.experiences)), key=lambda i: _replay_value(cortex.experiences[i], now))
        del cortex.experiences[victim]
    cortex.experiences.append(exp)
    _update_action_model(cortex, action, tags, succeeded, reward)
    if cortex.last_action is not None:
        _update_edge(cortex, cortex.last_action, action, cortex.last_context_hash, succeeded, reward)
    old = cortex.curiosity.get(action, 0.5)
    cortex.curiosity[action] = CURIOSITY_DECAY * old + (1 - CURIOSITY_DECAY) * surprise
    for tag in tags:
        old = cortex.feature_importance.get(tag, 0.0)
        cortex.feature_importance[tag] = IMPORTANCE_DECAY * old + (1 - IMPORTANCE_DECAY) * surprise
    cortex.global_curiosity = sum(cortex.curiosity.values()) / len(cortex.curiosity)
    cortex.last_action = action
    cortex.last_context_hash = exp.context_hash
    cortex.last_succeeded = succeeded
    return exp


def _replay_value(exp: Experience, now: float) -> float:
    """Surprise discounted by age in hours: what eviction drops first and dreams replay first."""
    return exp.surprise / (1.0 + (now - exp.timestamp) / SECONDS_PER_HOUR)


def _update_emotion(cortex: Cortex, succeeded: bool, reward: float, surprise: float) -> None:
    """Move valence and arousal toward this outcome and pick the dominant drive."""
    emotion = cortex.emotion
    outcome = max(reward, MIN_OUTCOME_VALENCE) if succeeded else min(reward, -MIN_OUTCOME_VALENCE)
    relief = RELIEF_BONUS if succeeded and emotion.valence < RELIEF_BELOW else 0.0
    emotion.valence = clamp(EMOTION_DECAY * emotion.valence + (1 - EMOTION_DECAY) * outcome + relief, -1.0, 1.0)
    emotion.arousal = clamp(EMOTION_DECAY * emotion.arousal + (1 - EMOTION_DECAY) * surprise, 0.0, 1.0)
    if cortex.total_predictions > CONFIDENCE_AFTER:
        emotion.confidence = prediction_accuracy(cortex)
    if emotion.arousal > EXPLORE_AROUSAL and cortex.global_curiosity > EXPLORE_CURIOSITY:
        emotion.drive = "explore"
    elif emotion.valence > EXPLOIT_VALENCE and emotion.confidence > EXPLOIT_CONFIDENCE:
        emotion.drive = "exploit"
    elif emotion.valence < AVOID_VALENCE:
        emotion.drive = "avoid"
    else:
        emotion.drive = "neutral"


def _update_action_model(cortex: Cortex, action: str, tags: list[str], succeeded: bool, reward: float) -> None:
    """EMA update of the action's success, reward, variance, context modifiers and temporal effects."""
    model = cortex.action_models.setdefault(action, ActionModel())
    model.sample_count += 1
    alpha = 1.0 / min(model.sample_count, MODEL_RATE_SAMPLES)
    success = 1.0 if succeeded else 0.0
    model.success_rate = (1 - alpha) * model.success_rate + alpha * success
    model.avg_reward = (1 - alpha) * model.avg_reward + alpha * reward
    diff = reward - model.avg_reward
    model.outcome_variance = (1 - alpha) * model.outcome_variance + alpha * diff * diff
    delta = success - model.success_rate
    for tag in tags:
        value = (1 - alpha) * model.context_modifiers.get(tag, 0.0) + alpha * delta
        if abs(value) < MODIFIER_PRUNE and model.sample_count > MODIFIER_PRUNE_AFTER:
            model.context_modifiers.pop(tag, None)
        else:
            model.context_modifiers[tag] = value
    if cortex.last_action is not None:
        prev = cortex.last_action
        model.temporal_effects[prev] = (1 - alpha) * model.temporal_effects.get(prev, 0.0) + alpha * delta


def _update_edge(cortex: Cortex, prev: str, action: str, context: int, succeeded: bool, reward: float) -> None:
    """Strengthen (or create, below capacity) the edge prev -> action in the previous step's context."""
    key = (prev, action, context)
    edge = cortex.edges.get(key)
    if edge is None:
        if len(cortex.edges) < EDGE_CAPACITY:
            cortex.edges[key] = CausalEdge(prev, action, context, NEW_EDGE_WEIGHT, reward, 1, 0.0)
        return
    edge.observation_count += 1
    alpha = 1.0 / min(edge.observation_count, MODEL_RATE_SAMPLES)
    edge.weight = EDGE_KEEP * edge.weight + EDGE_BOOST
    edge.avg_reward = (1 - alpha) * edge.avg_reward + alpha * reward
    sample = (1.0 if succeeded else -1.0) * (1.0 if cortex.last_succeeded else -1.0)
    edge.outcome_correlation = (1 - alpha) * edge.outcome_correlation + alpha * sample


def simulate_plan(cortex: Cortex, actions: list[str]) -> Simulation:
    """Predict a plan step by step: product of success chances, mean confidence, novel and risky steps."""
    success, reward, confidence = 1.0, 0.0, 0.0
    steps: list[StepPrediction] = []
    novel: list[str] = []
    risky: list[str] = []
    prev = cortex.last_action
    for action in actions:
        model = cortex.action_models.get(action)
        if model is None:
            novel.append(action)
            step = StepPrediction(action, 0.5, 0.0, 0.0)
        elif model.sample_count < SIM_MIN_SAMPLES:
            novel.append(action)
            step = StepPrediction(action, model.success_rate, model.avg_reward, SIM_SPARSE_CONFIDENCE)
        else:
            p = model.success_rate
            if prev is not None and prev in model.temporal_effects:
                p = clamp(p + model.temporal_effects[prev], 0.0, 1.0)
            if model.outcome_variance > RISKY_VARIANCE:
                risky.append(action)
            step = StepPrediction(action, p, model.avg_reward, min(model.sample_count / SIM_FULL_CONFIDENCE, 1.0))
        success *= step.predicted_success
        reward += step.predicted_reward * step.predicted_success
        confidence += step.confidence
        steps.append(step)
        prev = action
    mean_confidence = confidence / len(steps) if steps else 0.0
    return Simulation(success, reward, mean_confidence, steps, novel, risky)


def curiosity_frontier(cortex: Cortex, top_n: int) -> list[tuple[str, float]]:
    """Actions ranked by curiosity; known step types never tried count as 1.0."""
    scores = list(cortex.curiosity.items())
    scores += [(a, 1.0) for a in KNOWN_ACTIONS if a not in cortex.action_models]
    scores.sort(key=lambda item: item[1], reverse=True)
    return scores[:top_n]


def dream(cortex: Cortex, now: float, rng: random.Random) -> list[Insight]:
    """Replay, extract sequence/context/counterfactual insights, decay edges, consolidate; return the new insights."""
    if not cortex.experiences:
        return []
    cortex.dream_cycles += 1
    exps = cortex.experiences
    for exp in sorted(exps, key=lambda e: _replay_value(e, now), reverse=True)[:DREAM_BATCH]:
        exp.replay_count += 1
    found = _sequence_insights(exps, now) + _context_insights(exps, now) + _counterfactuals(cortex, now, rng)
    for edge in cortex.edges.values():
        edge.weight *= DREAM_EDGE_DECAY
    cortex.edges = {k: e for k, e in cortex.edges.items() if e.weight >= EDGE_PRUNE_THRESHOLD}
    _consolidate(cortex, now)
    cortex.insights = (cortex.insights + found)[-INSIGHT_CAP:]
    return found


def _sequence_insights(exps: list[Experience], now: float) -> list[Insight]:
    """A->B pairs seen at least 5 times whose B almost always succeeds (> 85 %) or fails (< 15 %)."""
    outcomes: dict[tuple[str, str], list[bool]] = {}
    for a, b in zip(exps, exps[1:]):
        outcomes.setdefault((a.action, b.action), []).append(b.succeeded)
    found = []
    for (first, then), seen in outcomes.items():
        if len(seen) < SEQUENCE_MIN_SAMPLES:
            continue
        rate = sum(seen) / len(seen)
        confidence = min(len(seen) / SEQUENCE_FULL_CONFIDENCE, 1.0)
        if rate > SEQUENCE_HIGH:
            found.append(Insight(f"{first} followed by {then} succeeds {rate:.0%} of the time ({len(seen)} observations)", confidence, now))
        elif rate < SEQUENCE_LOW:
            found.append(Insight(f"{first} followed by {then} fails {1 - rate:.0%} of the time: avoid this sequence", confidence, now))
    return found


def _context_insights(exps: list[Experience], now: float) -> list[Insight]:
    """Tags seen at least 10 times whose success rate differs from the base rate by more than 0.2."""
    counts: dict[str, list[int]] = {}
    for exp in exps:
        for tag in exp.context_tags:
            seen = counts.setdefault(tag, [0, 0])
            seen[0] += exp.succeeded
            seen[1] += 1
    base = sum(e.succeeded for e in exps) / len(exps)
    found = []
    for tag, (wins, total) in counts.items():
        delta = wins / total - base
        if total >= TAG_MIN_SAMPLES and abs(delta) > TAG_DELTA:
            direction = "boosts" if delta > 0 else "hurts"
            found.append(Insight(f"context '{tag}' {direction} success by {abs(delta):.0%} ({total} observations)", min(total / TAG_FULL_CONFIDENCE, 1.0), now))
    return found


def _counterfactuals(cortex: Cortex, now: float, rng: random.Random) -> list[Insight]:
    """For about 20 % of experiences, would another known action have been predicted > 0.3 better or worse?"""
    found = []
    actions = sorted(cortex.action_models)
    for exp in cortex.experiences:
        if rng.random() >= COUNTERFACTUAL_RATE:
            continue
        alternatives = [a for a in actions if a != exp.action]
        if not alternatives:
            continue
        alt = rng.choice(alternatives)
        predicted = predict_action(cortex, alt, exp.context_tags)
        if abs(predicted - exp.reward) > COUNTERFACTUAL_DELTA:
            verdict = "better" if predicted > exp.reward else "worse"
            found.append(Insight(f"counterfactual: {alt} instead of {exp.action} would have been {verdict} (predicted {predicted:.2f} vs actual {exp.reward:.2f})", COUNTERFACTUAL_CONFIDENCE, now))
    return found


def _consolidate(cortex: Cortex, now: float) -> None:
    """Actions with 10+ raw experiences become one level-1 pattern; only their newest 5 raw ones stay."""
    groups: dict[str, list[Experience]] = {}
    for exp in cortex.experiences:
        if exp.abstraction_level == 0:
            groups.setdefault(exp.action, []).append(exp)
    dropped: set[int] = set()
    patterns = []
    for action, group in groups.items():
        if len(group) < CONSOLIDATE_MIN:
            continue
        n = len(group)
        tag_counts: dict[str, int] = {}
        for exp in group:
            for tag in exp.context_tags:
                tag_counts[tag] = tag_counts.get(tag, 0) + 1
        common = [tag for tag, count in tag_counts.items() if count > n // 2]
        avg_reward = sum(e.reward for e in group) / n
        patterns.append(Experience(
            id=cortex.next_id,
            context_hash=hash_context(common),
            context_tags=common,
            action=action,
            succeeded=sum(e.succeeded for e in group) > n // 2,
            reward=avg_reward,
            error_tag=None,
            surprise=sum(e.surprise for e in group) / n,
            valence=clamp(avg_reward, -1.0, 1.0),
            timestamp=now,
            abstraction_level=1,
        ))
        cortex.next_id += 1
        newest_first = sorted(group, key=lambda e: e.timestamp, reverse=True)
        dropped.update(e.id for e in newest_first[CONSOLIDATE_KEEP:])
    cortex.experiences = [e for e in cortex.experiences if e.id not in dropped] + patterns


def export(cortex: Cortex, source_id: str) -> dict[str, Any]:
    """The snapshot peers merge: action models, top 100 edges, curiosity frontier, last 10 insights."""
    edges = sorted(cortex.edges.values(), key=lambda e: e.weight, reverse=True)[:EXPORT_EDGES]
    return {
        "action_models": {a: plain(m) for a, m in cortex.action_models.items()},
        "top_edges": [plain(e) for e in edges],
        "curiosity_frontier": [list(item) for item in curiosity_frontier(cortex, EXPORT_FRONTIER)],
        "insights": [plain(i) for i in reversed(cortex.insights[-EXPORT_INSIGHTS:])],
        "source_id": source_id,
        "total_experiences": cortex.total_experiences,
    }


def merge(ours: Cortex, theirs: dict[str, Any], rate: float, now: float) -> None:
    """Blend a peer's `export` into ours at `rate` (capped at 0.5; 0 changes nothing); ValueError on a malformed snapshot."""
    rate = clamp(rate, 0.0, MERGE_RATE_MAX)
    try:
        models = {str(a): _model(m) for a, m in theirs.get("action_models", {}).items()}
        edges = [_edge(e) for e in theirs.get("top_edges", [])]
        insights = [_insight(i) for i in theirs.get("insights", [])]
        source = str(theirs.get("source_id", "?"))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad cortex snapshot: {exc}") from exc
    if rate == 0.0:
        return
    for action, peer in models.items():
        local = ours.action_models.setdefault(action, ActionModel())
        total = local.sample_count + peer.sample_count
        if total > 0:
            w_local = (1 - rate) * local.sample_count / total
            w_peer = rate * peer.sample_count / total
            if w_local + w_peer > 0:
                local.success_rate = (local.success_rate * w_local + peer.success_rate * w_peer) / (w_local + w_peer)
                local.avg_reward = (local.avg_reward * w_local + peer.avg_reward * w_peer) / (w_local + w_peer)
        for tag, value in peer.context_modifiers.items():
            local.context_modifiers[tag] = (1 - rate) * local.context_modifiers.get(tag, 0.0) + rate * value
        for prev, value in peer.temporal_effects.items():
            local.temporal_effects[prev] = (1 - rate) * local.temporal_effects.get(prev, 0.0) + rate * value
    for peer_edge in edges:
        match = next((e for e in ours.edges.values() if (e.from_action, e.to_action) == (peer_edge.from_action, peer_edge.to_action)), None)
        if match is not None:
            match.weight = (1 - rate) * match.weight + rate * peer_edge.weight
            match.avg_reward = (1 - rate) * match.avg_reward + rate * peer_edge.avg_reward
        elif len(ours.edges) < EDGE_CAPACITY:
            peer_edge.weight *= rate
            ours.edges.setdefault((peer_edge.from_action, peer_edge.to_action, peer_edge.context_hash), peer_edge)
    for insight in insights:
        pattern = insight.pattern
        # Strip earlier "[from peer x] " prefixes so re-shared insights do not grow on every sync.
        while pattern.startswith(PEER_PREFIX) and "] " in pattern:
            pattern = pattern.split("] ", 1)[1]
        ours.insights.append(Insight(f"{PEER_PREFIX}{source}] {pattern}", insight.confidence * PEER_INSIGHT_DISCOUNT, now))
    ours.insights = ours.insights[-INSIGHT_CAP:]


def _floats(data: dict[str, Any]) -> dict[str, float]:
    return {str(k): finite(v) for k, v in data.items()}


def _experience(d: dict[str, Any]) -> Experience:
    return Experience(
        id=int(d["id"]),
        context_hash=int(d["context_hash"]) & MASK64,
        context_tags=[str(t) for t in d["context_tags"]],
        action=str(d["action"]),
        succeeded=bool(d["succeeded"]),
        reward=finite(d["reward"]),
        error_tag=None if d.get("error_tag") is None else str(d["error_tag"]),
        surprise=finite(d["surprise"]),
        valence=finite(d["valence"]),
        timestamp=finite(d["timestamp"]),
        replay_count=int(d.get("replay_count", 0)),
        abstraction_level=int(d.get("abstraction_level", 0)),
    )


def _edge(d: dict[str, Any]) -> CausalEdge:
    return CausalEdge(
        from_action=str(d["from_action"]),
        to_action=str(d["to_action"]),
        context_hash=int(d["context_hash"]) & MASK64,
        weight=finite(d["weight"]),
        avg_reward=finite(d["avg_reward"]),
        observation_count=int(d["observation_count"]),
        outcome_correlation=finite(d["outcome_correlation"]),
    )


def _model(d: dict[str, Any]) -> ActionModel:
    return ActionModel(
        success_rate=finite(d["success_rate"]),
        avg_reward=finite(d["avg_reward"]),
        outcome_variance=finite(d["outcome_variance"]),
        sample_count=max(int(d["sample_count"]), 0),
        context_modifiers=_floats(d.get("context_modifiers", {})),
        temporal_effects=_floats(d.get("temporal_effects", {})),
    )


def _emotion(d: dict[str, Any]) -> Emotion:
    drive = str(d.get("drive", "explore"))
    if drive not in DRIVES:
        raise ValueError(f"unknown drive {drive!r}")
    return Emotion(finite(d.get("valence", 0.0)), finite(d.get("arousal", 0.5)), finite(d.get("confidence", 0.5)), drive)


def _insight(d: dict[str, Any]) -> Insight:
    return Insight(str(d["pattern"]), finite(d["confidence"]), finite(d["timestamp"]))
