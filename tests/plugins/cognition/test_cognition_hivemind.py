"""Pheromone deposit, evaporation, reputation and peer import with numbers worked by hand (digest §4.5 item 4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.cognition.rules import hivemind as hm


def test_deposit_new_then_reinforce() -> None:
    h = hm.Hivemind()
    t = hm.deposit(h, "edit_code", "action", 0.5, "me", 1.0)
    assert (t.intensity, t.valence, t.reinforcement_count) == (0.3, 0.5, 1)
    hm.deposit(h, "edit_code", "action", -0.5, "peer", 2.0)
    # intensity 0.3 + 0.3 = 0.6; valence 0.7*0.5 + 0.3*-0.5 = 0.2
    assert t.intensity == pytest.approx(0.6) and t.valence == pytest.approx(0.2)
    assert (t.reinforcement_count, t.timestamp, h.total_deposits) == (2, 2.0, 2)
    for _ in range(20):
        hm.deposit(h, "edit_code", "action", 1.0, "me", 3.0)
    assert t.intensity == 3.0  # capped
    with pytest.raises(ValueError):
        hm.deposit(h, "x", "nonsense", 0.1, "me", 0.0)


def test_deposit_step_marks_action_file_and_three_keywords() -> None:
    h = hm.Hivemind()
    hm.deposit_step(h, "edit_code", "src/a.py", ["one", "two", "three", "four"], False, "me", 0.0)
    assert sorted(h.trails) == sorted([("edit_code", "action"), ("src/a.py", "file"), ("one", "goal"), ("two", "goal"), ("three", "goal")])
    assert hm.smell(h, "src/a.py", "file") == (-0.5, 0.3)


def test_evaporation_and_prune() -> None:
    h = hm.Hivemind()
    hm.deposit(h, "a", "action", 0.5, "me", 0.0)
    hm.evaporate(h)
    # 0.3 * 0.95 = 0.285
    assert h.trails[("a", "action")].intensity == pytest.approx(0.285)
    # 0.3 * 0.95^n < 0.01 first at n = 67 (0.95^66 = 0.0339 -> 0.0102; 0.95^67 -> 0.0097)
    for _ in range(65):
        assert hm.evaporate(h) == 0
    assert hm.evaporate(h) == 1 and h.trails == {}


def test_capacity_evicts_weakest() -> None:
    h = hm.Hivemind()
    for i in range(hm.MAX_TRAILS):
        hm.deposit(h, f"r{i}", "file", 0.1, "me", 0.0)
        hm.deposit(h, f"r{i}", "file", 0.1, "me", 0.0)
    h.trails[("r3", "file")].intensity = 0.2
    hm.deposit(h, "new", "file", 0.1, "me", 0.0)
    # the new trail (0.3) is not the weakest; r3 (0.2) goes
    assert len(h.trails) == hm.MAX_TRAILS and ("r3", "file") not in h.trails


def test_reputation_ramp() -> None:
    h = hm.Hivemind()
    rep = hm.update_reputation(h, "p", 0.9, 0.7)
    # rate 0.1 * min(1/10, 1) = 0.01; score 0.99*0.5 + 0.01*0.8 = 0.503
    assert rep.score == pytest.approx(0.503)
    assert hm.reputation_weight(h, "unknown") == 0.5


def test_import_weighted_by_reputation() -> None:
    h = hm.Hivemind()
    hm.deposit(h, "a", "action", 0.5, "me", 0.0)  # intensity 0.3, valence 0.5
    trails = [
        {"resource": "a", "category": "action", "valence": -1.0, "intensity": 2.0, "source_agent": "p", "timestamp": 0},
        {"resource": "b", "category": "file", "valence": 0.4, "intensity": 1.0, "source_agent": "p", "timestamp": 0},
        {"resource": "c", "category": "file", "valence": 0.4, "intensity": 0.01, "source_agent": "p", "timestamp": 0},
    ]
    assert hm.import_peer_trails(h, "p", trails) == 2
    # weight 0.5: a gets 0.3 + 0.3*(2*0.5) = 0.6, valence 0.8*0.5 + 0.2*-1 = 0.2; b new at 1*0.5; c 0.005 < 0.01 skipped
    assert hm.smell(h, "a", "action") == pytest.approx((0.2, 0.6))
    assert hm.smell(h, "b", "file") == pytest.approx((0.4, 0.5))
    assert hm.smell(h, "c", "file") is None and h.trails[("b", "file")].source_agent == "p"
    with pytest.raises(ValueError):
        hm.import_peer_trails(h, "p", [{"resource": "x", "category": "action", "valence": "nan", "intensity": 1, "source_agent": "p", "timestamp": 0}])


def test_zero_reputation_peer_changes_nothing() -> None:
    h = hm.Hivemind()
    h.reputations["p"] = hm.Reputation(score=0.0)
    hm.import_peer_trails(h, "p", [{"resource": "a", "category": "action", "valence": 1, "intensity": 3, "source_agent": "p", "timestamp": 0}])
    assert h.trails == {}


def test_attractants_repellents_coverage_overlap() -> None:
    h = hm.Hivemind()
    hm.deposit(h, "good", "file", 0.9, "me", 0.0)
    hm.deposit(h, "bad", "file", -0.8, "me", 0.0)
    hm.deposit(h, "read_file", "action", 0.5, "me", 0.0)
    assert [t.resource for t in hm.attractants(h, "file", 5)] == ["good"]
    assert [t.resource for t in hm.repellents(h, "file", 5)] == ["bad"]
    assert hm.action_coverage(h, ("read_file", "commit")) == 0.5
    hm.update_peer_activity(h, "p", "Fix compile errors in benchmark module", 0.6, "exploit", 0.0)
    assert hm.goal_overlap(h, "fix compile errors benchmark module") == "p"
    assert hm.goal_overlap(h, "create payment endpoint") is None
    hm.update_peer_activity(h, "q", None, 0.1, "neutral", 3600.0)
    assert list(h.peer_activities) == ["q"]  # p is an hour old


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(hm.CATEGORIES), st.floats(-5, 5), st.booleans()), max_size=60))
def test_properties(ops: list[tuple[str, str, float, bool]]) -> None:
    h = hm.Hivemind()
    for resource, category, valence, evaporate in ops:
        hm.deposit(h, resource, category, valence, "me", 0.0)
        if evaporate:
            hm.evaporate(h)
        for t in h.trails.values():
            assert -1.0 <= t.valence <= 1.0 and hm.PRUNE_THRESHOLD <= t.intensity <= hm.MAX_INTENSITY
    assert hm.Hivemind.from_dict(h.to_dict()).to_dict() == h.to_dict()
