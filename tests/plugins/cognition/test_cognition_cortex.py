"""Cortex update rules with numbers worked by hand (digest §4.5 item 2)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.cognition.rules import cortex as cx


def test_hash_context_is_fnv1a_with_separator() -> None:
    # No tags: the FNV-1a offset basis. One tag "a" (0x61): xor, multiply, then the 0xff separator.
    assert cx.hash_context([]) == 0xCBF29CE484222325
    h = ((0xCBF29CE484222325 ^ 0x61) * 0x100000001B3) % 2**64
    h = ((h ^ 0xFF) * 0x100000001B3) % 2**64
    assert cx.hash_context(["a"]) == h
    assert cx.hash_context(["a", "b"]) != cx.hash_context(["b", "a"])


def test_first_record_updates_model_emotion_and_curiosity() -> None:
    c = cx.Cortex()
    exp = cx.record(c, "read_file", ["ext:py"], True, 1.0, now=100.0)
    # Unknown action predicts 0 -> surprise |0 - 1| = 1.
    assert exp.surprise == 1.0
    # valence = 0.9*0 + 0.1*max(1, 0.1) = 0.1; arousal = 0.9*0.5 + 0.1*1 = 0.55
    assert c.emotion.valence == pytest.approx(0.1)
    assert c.emotion.arousal == pytest.approx(0.55)
    # n=1 -> alpha 1: success 1, reward 1, variance (1-1)^2 = 0, modifier 1*(1-1) = 0
    m = c.action_models["read_file"]
    assert (m.success_rate, m.avg_reward, m.outcome_variance, m.context_modifiers) == (1.0, 1.0, 0.0, {"ext:py": 0.0})
    # curiosity 0.95*0.5 + 0.05*1 = 0.525; importance 0.95*0 + 0.05*1 = 0.05
    assert c.curiosity["read_file"] == pytest.approx(0.525)
    assert c.global_curiosity == pytest.approx(0.525)
    assert c.feature_importance["ext:py"] == pytest.approx(0.05)
    # No model existed, so nothing was predicted and nothing is scored.
    assert c.total_predictions == 0


def test_prediction_formula() -> None:
    c = cx.Cortex()
    c.action_models["edit_code"] = cx.ActionModel(success_rate=0.8, avg_reward=0.05, context_modifiers={"ext:py": 0.1}, temporal_effects={"read_file": -0.2})
    # 0.8 * max(0.05, 0.1) = 0.08, + 0.1 modifier = 0.18
    assert cx.predict_action(c, "edit_code", ["ext:py", "other"]) == pytest.approx(0.18)
    c.last_action = "read_file"
    # 0.18 - 0.2 temporal = -0.02
    assert cx.predict_action(c, "edit_code", ["ext:py"]) == pytest.approx(-0.02)
    c.action_models["edit_code"].context_modifiers["big"] = 5.0
    assert cx.predict_action(c, "edit_code", ["big"]) == 1.0  # clamped
    assert cx.predict_action(c, "never_seen", []) == 0.0


def test_second_record_ema_and_edge() -> None:
    c = cx.Cortex()
    cx.record(c, "a", [], True, 1.0, now=0.0)
    cx.record(c, "a", [], False, -0.5, now=1.0)
    m = c.action_models["a"]
    # alpha = 1/2: success 0.5*1 + 0.5*0 = 0.5; reward 0.5*1 + 0.5*-0.5 = 0.25; variance 0.5*0 + 0.5*(-0.75)^2 = 0.28125
    assert m.success_rate == 0.5 and m.avg_reward == 0.25
    assert m.outcome_variance == pytest.approx(0.28125)
    # temporal effect of a->a: 0.5*0 + 0.5*(0 - 0.5) = -0.25
    assert m.temporal_effects["a"] == pytest.approx(-0.25)
    # New edge a->a starts at weight 0.1 with the reward seen.
    (edge,) = c.edges.values()
    assert (edge.weight, edge.avg_reward, edge.observation_count) == (0.1, -0.5, 1)
    cx.record(c, "a", [], True, 1.0, now=2.0)
    # weight 0.99*0.1 + 0.01 = 0.109; alpha 1/2: reward 0.5*-0.5 + 0.5*1 = 0.25; correlation (+1 * -1) -> 0.5*0 + 0.5*-1
    assert edge.weight == pytest.approx(0.109)
    assert edge.avg_reward == pytest.approx(0.25)
    assert edge.outcome_correlation == pytest.approx(-0.5)


def test_accuracy_checks_predictions_against_outcomes_not_rewards() -> None:
    # The seed counted (reward > 0) == succeeded, which holds by construction (+1 on success,
    # -0.5 on failure): 3/3 here. We check the sign of the reward predicted before the outcome.
    c = cx.Cortex()
    cx.record(c, "a", [], True, 1.0, now=0.0)  # no model yet: nothing predicted, nothing scored
    cx.record(c, "a", [], True, 1.0, now=1.0)  # predicts 1*max(1, 0.1) = 1 > 0, succeeded: right
    cx.record(c, "a", [], False, -0.5, now=2.0)  # model still 1.0/1.0, predicts 1 > 0, failed: wrong
    assert (c.correct_predictions, c.total_predictions) == (1, 2)
    assert cx.prediction_accuracy(c) == 0.5
    assert cx.prediction_accuracy(cx.Cortex()) == 0.5


def test_relief_and_drives() -> None:
    c = cx.Cortex()
    c.emotion.valence = -0.5
    cx.record(c, "a", [], True, 1.0, now=0.0)
    # 0.9*-0.5 + 0.1*1 + 0.2 relief = -0.15
    assert c.emotion.valence == pytest.approx(-0.15)
    c.emotion.valence = -0.9
    cx.record(c, "b", [], False, -0.5, now=0.0)
    # 0.9*-0.9 + 0.1*-0.5 = -0.86 < -0.3 -> avoid (arousal 0.9*0.55+0.1*0.5 = 0.545 is not > 0.6)
    assert c.emotion.valence == pytest.approx(-0.86)
    assert c.emotion.drive == "avoid"


def test_eviction_drops_least_surprise_per_age() -> None:
    c = cx.Cortex()
    for i in range(cx.EXPERIENCE_CAPACITY):
        c.experiences.append(cx.Experience(i, 0, [], "x", True, 1.0, None, surprise=0.5, valence=0.0, timestamp=0.0))
    # Experience 7 is as surprising but one hour older: 0.5/(1+2) < 0.5/(1+1).
    c.experiences[7].timestamp = -3600.0
    cx.record(c, "y", [], True, 1.0, now=3600.0)
    assert len(c.experiences) == cx.EXPERIENCE_CAPACITY
    assert 7 not in [e.id for e in c.experiences]


def test_simulate_plan() -> None:
    c = cx.Cortex()
    c.action_models["a"] = cx.ActionModel(success_rate=0.8, avg_reward=1.0, outcome_variance=0.4, sample_count=10)
    c.action_models["b"] = cx.ActionModel(success_rate=0.6, avg_reward=0.5, sample_count=2)
    sim = cx.simulate_plan(c, ["a", "b", "zzz"])
    # success 0.8 * 0.6 * 0.5 = 0.24; reward 1*0.8 + 0.5*0.6 + 0 = 1.1; confidence (10/20 + 0.2 + 0)/3 = 0.2333
    assert sim.predicted_success == pytest.approx(0.24)
    assert sim.predicted_reward == pytest.approx(1.1)
    assert sim.confidence == pytest.approx(0.7 / 3)
    assert sim.novel_steps == ["b", "zzz"] and sim.risky_steps == ["a"]


def test_dream_sequences_consolidation_and_edge_decay() -> None:
    c = cx.Cortex()
    for t in range(12):
        cx.record(c, "read_file", ["goal:x"], True, 1.0, now=float(t))
    edge = next(iter(c.edges.values()))
    weight = edge.weight
    found = cx.dream(c, now=100.0, rng=random.Random(0))
    # 11 read_file->read_file pairs, all successes: one insight with confidence min(11/20, 1) = 0.55
    assert any("succeeds 100%" in i.pattern and i.confidence == pytest.approx(0.55) for i in found)
    assert edge.weight == pytest.approx(weight * 0.95)
    # 12 raw experiences -> 5 newest kept + 1 level-1 pattern
    assert [e.abstraction_level for e in c.experiences].count(1) == 1
    assert len(c.experiences) == 6
    assert c.dream_cycles == 1
    assert cx.dream(cx.Cortex(), 0.0, random.Random(0)) == []


def test_curiosity_frontier_lists_unknown_actions_at_one() -> None:
    c = cx.Cortex()
    cx.record(c, "read_file", [], True, 1.0, now=0.0)
    frontier = dict(cx.curiosity_frontier(c, 50))
    assert frontier["commit"] == 1.0 and "read_file" in frontier


def _trained(action: str, succeeded: bool, n: int) -> cx.Cortex:
    c = cx.Cortex()
    for t in range(n):
        cx.record(c, action, [], succeeded, 1.0 if succeeded else -0.5, now=float(t))
    return c


def test_merge_blends_by_sample_count() -> None:
    ours = _trained("a", False, 10)
    theirs = cx.export(_trained("a", True, 10), "peer")
    before = ours.action_models["a"].success_rate
    cx.merge(ours, theirs, 0.5, now=0.0)
    # weights: ours 0.5*10/20 = 0.25, theirs 0.5*10/20 = 0.25 -> mean of both rates
    assert ours.action_models["a"].success_rate == pytest.approx((before + 1.0) / 2)
    assert ours.insights == []


def test_merge_caps_rate_and_strips_peer_prefixes() -> None:
    ours = cx.Cortex()
    snapshot = {"action_models": {}, "top_edges": [], "insights": [{"pattern": "[from peer x] [from peer y] p", "confidence": 0.8, "timestamp": 0}], "source_id": "z"}
    cx.merge(ours, snapshot, 0.9, now=5.0)
    assert ours.insights[0].pattern == "[from peer z] p"
    assert ours.insights[0].confidence == pytest.approx(0.4)


def test_merge_rejects_hostile_snapshot() -> None:
    with pytest.raises(ValueError):
        cx.merge(cx.Cortex(), {"action_models": {"a": {"success_rate": "nan", "avg_reward": 0, "outcome_variance": 0, "sample_count": 1}}}, 0.3, 0.0)
    with pytest.raises(ValueError):
        cx.Cortex.from_dict({"experiences": [{"id": 1}]})


actions = st.sampled_from(["a", "b", "c"])
steps = st.lists(st.tuples(actions, st.booleans(), st.lists(st.sampled_from(["t1", "t2"]), max_size=2)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(steps)
def test_properties(history: list[tuple[str, bool, list[str]]]) -> None:
    c = cx.Cortex()
    for t, (action, ok, tags) in enumerate(history):
        cx.record(c, action, tags, ok, 1.0 if ok else -0.5, now=float(t))
        assert -1.0 <= cx.predict_action(c, action, tags) <= 1.0
        assert -1.0 <= c.emotion.valence <= 1.0 and 0.0 <= c.emotion.arousal <= 1.0
        assert 0.0 <= cx.prediction_accuracy(c) <= 1.0
    cx.dream(c, float(len(history)), random.Random(1))
    assert cx.Cortex.from_dict(c.to_dict()).to_dict() == c.to_dict()
    other = cx.export(_trained("b", True, 3), "peer")
    same = cx.Cortex.from_dict(c.to_dict())
    cx.merge(same, other, 0.0, now=0.0)
    assert same.to_dict() == c.to_dict()
