"""Evaluation: Brier scores, the Murphy decomposition, adaptation gain and sync benefit, with numbers worked by hand."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules import evaluation as ev
from colony.plugins.cognition.rules.evaluation import EvaluationState


def add(state: EvaluationState, system: str, preds: list[tuple[float, bool]], conf: float = 0.8, t: float = 0.0):
    for p, actual in preds:
        state = ev.record_prediction(state, system, p, conf, actual, now=t)
    return state


def test_constants_follow_the_digest() -> None:
    assert (ev.MAX_RECORDS, ev.RECENT_WINDOW, ev.CALIBRATION_BINS, ev.MIN_CONFIDENCE) == (2000, 100, 10, 0.1)
    assert (ev.BASELINE_BRIER, ev.SYNC_EMA, ev.SYNC_MIN_NEW, ev.SYNC_FALLBACK_WINDOW) == (0.25, 0.1, 5, 30)


def test_vote_probability() -> None:
    assert ev.vote_probability(0.6) == pytest.approx(0.8)  # (0.6 + 1) / 2
    assert (ev.vote_probability(-1.0), ev.vote_probability(1.0), ev.vote_probability(3.0)) == (0.0, 1.0, 1.0)


def test_brier_and_accuracy_worked_by_hand() -> None:
    state = add(EvaluationState(), "brain", [(0.9, True), (0.2, False), (0.6, False), (0.7, True)])
    state = add(state, "brain", [(0.0, True)], conf=0.1)  # confidence not above 0.1: not scored
    # (0.1² + 0.2² + 0.6² + 0.3²) / 4 = (0.01 + 0.04 + 0.36 + 0.09) / 4 = 0.125
    assert ev.brier_score(state, "brain") == pytest.approx(0.125)
    # right way: 0.9→yes ✓, 0.2→no ✓, 0.6→yes but no ✗, 0.7→yes ✓: 3/4
    assert ev.accuracy(state, "brain") == 0.75
    assert ev.brier_score(state, "cortex") == 0.25  # nothing recorded: random baseline
    assert ev.accuracy(state, "cortex") == 0.5


def test_recent_brier_covers_the_last_hundred() -> None:
    state = add(EvaluationState(), "cortex", [(0.0, True)] * 5 + [(1.0, True)] * 100)
    assert ev.brier_score(state, "cortex") == pytest.approx(5 / 105)  # five errors of 1 over 105
    assert ev.brier_score(state, "cortex", recent=True) == 0.0  # the last 100 are perfect
    assert ev.accuracy(state, "cortex", recent=True) == 1.0


def test_records_are_capped_and_clamped() -> None:
    state = add(EvaluationState(), "brain", [(0.5, True)] * ev.MAX_RECORDS)
    state = ev.record_prediction(state, "genesis", 1.7, -2.0, False, now=9.0, context="x" * 500)
    assert len(state.records) == ev.MAX_RECORDS
    assert state.total_recorded == ev.MAX_RECORDS + 1
    newest = state.records[-1]
    assert (newest.predicted_prob, newest.confidence, len(newest.context)) == (1.0, 0.0, 100)


def murphy_state() -> EvaluationState:
    # 4 forecasts of 0.2 (1 success) and 6 forecasts of 0.8 (5 successes)
    return add(EvaluationState(), "brain", [(0.2, True)] + [(0.2, False)] * 3 + [(0.8, True)] * 5 + [(0.8, False)])


def test_murphy_decomposition_worked_by_hand() -> None:
    m = ev.murphy(murphy_state(), "brain")
    # base rate ō = 6/10 = 0.6; uncertainty = 0.6·0.4 = 0.24
    # bin 2: n 4, p̄ 0.2, ō₂ 0.25: reliability 0.4·0.05² = 0.001, resolution 0.4·(0.25−0.6)² = 0.049
    # bin 8: n 6, p̄ 0.8, ō₈ 5/6: reliability 0.6·(1/30)² = 0.000667, resolution 0.6·(5/6−0.6)² = 0.032667
    # Brier: (0.8² + 3·0.2² + 5·0.2² + 0.8²) / 10 = (0.64 + 0.12 + 0.2 + 0.64) / 10 = 0.16
    assert m.n == 10
    assert m.uncertainty == pytest.approx(0.24)
    assert m.reliability == pytest.approx(0.001 + 0.6 / 900)
    assert m.resolution == pytest.approx(0.049 + 0.6 * (5 / 6 - 0.6) ** 2)
    assert m.brier == pytest.approx(0.16)
    # forecasts are constant within each bin, so Murphy's identity is exact
    assert m.reliability - m.resolution + m.uncertainty == pytest.approx(m.brier)


def test_murphy_needs_ten_scored_records() -> None:
    state = add(EvaluationState(), "brain", [(0.9, True)] * 9)
    assert ev.murphy(state, "brain") == ev.Murphy(0.25, 0.0, 0.0, 0.0, 9)


def test_calibration_curve_bins_and_puts_certainty_in_the_top_bin() -> None:
    state = add(murphy_state(), "brain", [(1.0, True)])
    curve = ev.calibration_curve(state, "brain")
    assert [b.count for b in curve] == [0, 0, 4, 0, 0, 0, 0, 0, 6, 1]  # p = 1 lands in [0.9, 1.0] (the seed dropped it)
    assert (curve[2].predicted_mean, curve[2].actual_rate) == (pytest.approx(0.2), 0.25)
    assert (curve[0].predicted_mean, curve[0].actual_rate) == (0.05, 0.0)  # empty bin: its midpoint


def ensemble_steps(n: int) -> EvaluationState:
    state = EvaluationState()
    for step in range(n):
        for system, p in (("brain", 0.9), ("cortex", 0.5), ("genesis", 0.5), ("hivemind", 0.1)):
            state = ev.record_prediction(state, system, p, 0.8, True, now=float(step))
    return state


def test_adaptation_gain_uses_the_live_weights() -> None:
    weights = {"brain": 0.7, "cortex": 0.1, "genesis": 0.1, "hivemind": 0.1}
    gain = ev.adaptation_gain(ensemble_steps(10), weights)
    # uniform: (0.9 + 0.5 + 0.5 + 0.1) / 4 = 0.5, error (1 − 0.5)² = 0.25
    # adapted: 0.7·0.9 + 0.1·0.5 + 0.1·0.5 + 0.1·0.1 = 0.74, error (1 − 0.74)² = 0.0676
    assert gain.uniform_brier == pytest.approx(0.25)
    assert gain.adapted_brier == pytest.approx(0.0676)
    assert gain.gain == pytest.approx(0.1824)  # not 0: the seed compared uniform with uniform
    assert not gain.significant  # 10 records per system is not more than 50
    assert ev.adaptation_gain(ensemble_steps(51), weights).significant


def test_adaptation_gain_needs_ten_records_per_system() -> None:
    gain = ev.adaptation_gain(ensemble_steps(9), {s: 0.25 for s in ev.VOTING_SYSTEMS})
    assert (gain.adapted_brier, gain.uniform_brier, gain.gain, gain.n) == (0.25, 0.25, 0.0, 9)


def test_sync_benefit_worked_by_hand() -> None:
    state = add(EvaluationState(), "brain", [(0.9, True)] * 15 + [(0.9, False)] * 15)
    state = ev.pre_sync_snapshot(state, now=100.0)
    assert state.sync.accuracy_before == 0.5  # 15 right of the last 30
    state = ev.post_sync_measurement(add(state, "brain", [(0.9, True)] * 10))
    # 10 new ≥ 5, all right: after 1.0, delta 0.5, average 0.9·0 + 0.1·0.5 = 0.05
    assert (state.sync.accuracy_after, state.sync.sync_delta) == (1.0, 0.5)
    assert state.sync.avg_sync_benefit == pytest.approx(0.05)
    # records: 15 right, 15 wrong, 10 right. Last 30 = 5 right, 15 wrong, 10 right: 15/30 = 0.5
    state = ev.pre_sync_snapshot(state, now=200.0)
    assert state.sync.accuracy_before == 0.5
    # 3 new wrong ones (< 5): fall back to the last 30 = 2 right, 15 wrong, 10 right, 3 wrong: 12/30 = 0.4
    state = ev.post_sync_measurement(add(state, "brain", [(0.9, False)] * 3))
    assert state.sync.accuracy_after == pytest.approx(0.4)
    assert state.sync.sync_delta == pytest.approx(-0.1)
    assert state.sync.avg_sync_benefit == pytest.approx(0.9 * 0.05 + 0.1 * -0.1)  # 0.035
    assert state.sync.syncs_measured == 2
    assert state.sync.snapshots == ((100.0, 0.5), (200.0, 0.5))


def test_sync_benefit_still_measures_new_records_once_the_buffer_is_full() -> None:
    state = add(EvaluationState(), "brain", [(0.9, False)] * ev.MAX_RECORDS)
    state = ev.pre_sync_snapshot(state, now=0.0)
    state = ev.post_sync_measurement(add(state, "brain", [(0.9, True)] * 5))
    # the 5 new records are all right: 1.0 (comparing buffer lengths would see 0 new and give 5/30)
    assert state.sync.accuracy_after == 1.0


def test_imagination_usage() -> None:
    state = ev.record_imagination(EvaluationState(), 5, False, None)
    state = ev.record_imagination(state, 3, True, True)
    state = ev.record_imagination(state, 2, True, False)
    im = state.imagination
    assert (im.total_imagined, im.influenced_plans, im.influenced_successes) == (10, 2, 1)
    assert (im.hit_rate, im.success_rate) == (0.2, 0.5)


def test_round_trip_through_json() -> None:
    state = ev.pre_sync_snapshot(murphy_state(), now=5.0)
    state = ev.record_imagination(ev.post_sync_measurement(state), 4, True, True)
    assert EvaluationState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize("bad", [{}, {"records": [{"system": "brain"}]}, {"records": 5}, []])
def test_malformed_state_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        EvaluationState.from_dict(bad)  # type: ignore[arg-type]


prediction = st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True), st.booleans())


@given(st.lists(prediction, max_size=60))
def test_scores_stay_in_range(preds: list[tuple[float, float, bool]]) -> None:
    state = EvaluationState()
    for i, (p, c, y) in enumerate(preds):
        state = ev.record_prediction(state, "brain", p, c, y, now=float(i))
    assert 0.0 <= ev.brier_score(state, "brain") <= 1.0
    assert 0.0 <= ev.accuracy(state, "brain") <= 1.0
    m = ev.murphy(state, "brain")
    assert m.reliability >= 0.0 and m.resolution >= 0.0 and 0.0 <= m.uncertainty <= 0.25
    state = ev.post_sync_measurement(ev.pre_sync_snapshot(state, now=0.0))
    assert -1.0 <= state.sync.avg_sync_benefit <= 1.0
