"""Free energy F(t): every surprise term, the total, the trend and the regime, with numbers worked by hand."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules import free_energy as fe
from colony.plugins.cognition.rules.free_energy import FreeEnergyState, Measurement, Regime

WEIGHTS = {"brain": 0.4, "cortex": 0.3, "genesis": 0.2, "hivemind": 0.1}
unit = st.floats(0.0, 1.0)


def test_constants_follow_the_digest() -> None:
    assert (fe.LAMBDA, fe.SYNTHESIS_WEIGHT, fe.HISTORY_SIZE) == (0.01, 0.1, 500)
    assert (fe.EXPLORE_THRESHOLD, fe.EXPLOIT_THRESHOLD, fe.ANOMALY_TREND, fe.ANOMALY_MIN_HISTORY) == (0.6, 0.3, 0.05, 5)
    assert len(fe.CORE_ACTIONS) == 8


def test_brain_surprise_is_brier_over_half_capped_at_one() -> None:
    assert fe.brain_surprise(0.25) == 0.5  # random guessing: 0.25 / 0.5
    assert fe.brain_surprise(0.2) == pytest.approx(0.4)  # 0.2 / 0.5
    assert fe.brain_surprise(0.9) == 1.0  # 1.8 capped


def test_cortex_surprise_is_one_minus_accuracy() -> None:
    assert fe.cortex_surprise(0.75) == 0.25


def test_genesis_surprise_is_one_minus_mean_fitness() -> None:
    assert fe.genesis_surprise([0.5, 0.7]) == pytest.approx(0.4)  # mean 0.6
    assert fe.genesis_surprise([]) == 0.8  # empty pool


def test_hivemind_surprise_counts_only_core_actions() -> None:
    covered = {"read_file", "commit", "think", "edit_code", "deploy"}  # deploy is not a core action: 4 of 8
    assert fe.hivemind_surprise(covered) == 0.5
    assert fe.hivemind_surprise(set()) == 1.0
    assert fe.hivemind_surprise(set(fe.CORE_ACTIONS)) == 0.0


def test_synthesis_surprise_is_conflict_rate() -> None:
    assert fe.synthesis_surprise(3, 12) == 0.25
    assert fe.synthesis_surprise(20, 12) == 1.0  # capped
    assert fe.synthesis_surprise(0, 0) == 0.5  # nothing predicted yet


def test_complexity_is_model_size_over_data() -> None:
    assert fe.complexity(30, 120) == 0.25
    assert fe.complexity(30, 0) == 1.0  # no data: the whole λ


def surprises() -> dict[str, float]:
    return {
        "brain": fe.brain_surprise(0.2),  # 0.4
        "cortex": fe.cortex_surprise(0.75),  # 0.25
        "genesis": fe.genesis_surprise([0.5, 0.7]),  # 0.4
        "hivemind": fe.hivemind_surprise({"read_file", "commit", "think", "edit_code"}),  # 0.5
        "synthesis": fe.synthesis_surprise(3, 12),  # 0.25
    }


def test_total_free_energy_worked_by_hand() -> None:
    m = fe.compute(FreeEnergyState(), surprises(), WEIGHTS, fe.complexity(30, 120), now=1000.0)
    # 0.4·0.4 + 0.3·0.25 + 0.2·0.4 + 0.1·0.5 + 0.1·0.25 + 0.01·0.25
    # = 0.16 + 0.075 + 0.08 + 0.05 + 0.025 + 0.0025 = 0.3925
    assert m.total == pytest.approx(0.3925)
    assert m.complexity_term == pytest.approx(0.0025)
    assert m.contribution("synthesis") == pytest.approx(0.025)  # fixed weight 0.1, not learned
    assert m.trend == 0.0  # no history
    assert m.regime is Regime.LEARN  # 0.3 ≤ 0.3925 ≤ 0.6
    assert m.timestamp == 1000.0


def test_trend_is_slope_of_last_ten_plus_current() -> None:
    # x = 0..3, y = 0.5, 0.4, 0.3, 0.2: slope −0.1
    assert fe.trend([0.5, 0.4, 0.3], 0.2) == pytest.approx(-0.1)
    # two old outliers fall outside the window of 10: 0.0, 0.1, …, 0.9 then 1.0 gives slope 0.1
    history = [50.0, 50.0] + [0.1 * i for i in range(10)]
    assert fe.trend(history, 1.0) == pytest.approx(0.1)
    assert fe.trend([0.9, 0.1], 0.5) == 0.0  # fewer than 3 stored values


@pytest.mark.parametrize(
    ("total", "f_trend", "history_len", "expected"),
    [
        (0.6, 0.0, 0, Regime.LEARN),  # not above 0.6
        (0.6001, 0.0, 0, Regime.EXPLORE),
        (0.3, 0.0, 0, Regime.LEARN),  # not below 0.3
        (0.2999, 0.0, 0, Regime.EXPLOIT),
        (0.2, 0.06, 5, Regime.EXPLOIT),  # steep trend but only 5 stored: not enough history
        (0.2, 0.06, 6, Regime.ANOMALY),
        (0.9, 0.05, 100, Regime.EXPLORE),  # a trend of exactly 0.05 is not an anomaly
    ],
)
def test_regime_thresholds(total: float, f_trend: float, history_len: int, expected: Regime) -> None:
    assert fe.regime(total, f_trend, history_len) is expected


def test_rising_f_on_long_history_is_an_anomaly() -> None:
    h = {"brain": 1.0, "cortex": 1.0, "genesis": 0.0, "hivemind": 0.0, "synthesis": 0.0}
    # total = 0.4·1 + 0.3·1 = 0.7
    six = fe.compute(FreeEnergyState(history=(0.0,) * 6), h, WEIGHTS, 0.0, now=0.0)
    # values 0,0,0,0,0,0,0.7 at x = 0..6: x̄ = 3, ȳ = 0.1
    # Σ(x−x̄)(y−ȳ) = −0.1·(−3−2−1+0+1+2) + 3·0.6 = 0.3 + 1.8 = 2.1; Σ(x−x̄)² = 28; slope 0.075
    assert six.total == pytest.approx(0.7)
    assert six.trend == pytest.approx(0.075)
    assert six.regime is Regime.ANOMALY  # 0.075 > 0.05 with 6 > 5 stored
    five = fe.compute(FreeEnergyState(history=(0.0,) * 5), h, WEIGHTS, 0.0, now=0.0)
    # values 0,0,0,0,0,0.7 at x = 0..5: Σ(x−2.5)·y = 2.5·0.7 = 1.75; Σ(x−2.5)² = 17.5; slope 0.1
    assert five.trend == pytest.approx(0.1)
    assert five.regime is Regime.EXPLORE  # steep, but 5 stored values are not enough: 0.7 > 0.6


def test_record_keeps_history_capped_and_tracks_extremes() -> None:
    state = FreeEnergyState()
    for i in range(fe.HISTORY_SIZE + 3):
        m = fe.compute(state, surprises(), WEIGHTS, float(i % 7), now=float(i))
        state = fe.record(state, m)
    assert len(state.history) == fe.HISTORY_SIZE
    assert state.total_measurements == fe.HISTORY_SIZE + 3
    assert state.global_min == pytest.approx(0.39)  # complexity 0: 0.3925 − 0.0025
    assert state.global_max == pytest.approx(0.39 + 0.06)  # complexity 6: + 0.01·6
    assert state.current == m


def test_round_trip_through_json() -> None:
    state = FreeEnergyState()
    for i in range(4):
        state = fe.record(state, fe.compute(state, surprises(), WEIGHTS, 0.5, now=float(i)))
    assert FreeEnergyState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert FreeEnergyState.from_dict(FreeEnergyState().to_dict()) == FreeEnergyState()


@pytest.mark.parametrize("bad", [{}, {"history": 3}, {"history": [], "global_min": None}, []])
def test_malformed_state_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        FreeEnergyState.from_dict(bad)  # type: ignore[arg-type]


def test_malformed_measurement_is_a_value_error() -> None:
    data = fe.compute(FreeEnergyState(), surprises(), WEIGHTS, 0.0, now=0.0).to_dict()
    with pytest.raises(ValueError):
        Measurement.from_dict(data | {"regime": "panic"})


@given(
    h=st.fixed_dictionaries({k: st.floats(allow_nan=True) for k in (*fe.SYSTEMS, "synthesis")}),
    w=st.lists(unit, min_size=4, max_size=4),
    c=st.floats(0.0, 10.0),
)
def test_total_is_bounded_by_the_weights(h: dict[str, float], w: list[float], c: float) -> None:
    weights = dict(zip(fe.SYSTEMS, w, strict=True))
    m = fe.compute(FreeEnergyState(), h, weights, c, now=0.0)
    assert all(0.0 <= v <= 1.0 for v in m.surprises.values())
    assert 0.0 <= m.total <= sum(w) + fe.SYNTHESIS_WEIGHT + fe.LAMBDA * c + 1e-9


@given(a=st.floats(-10, 10), b=st.floats(-10, 10), n=st.integers(2, 30))
def test_slope_recovers_a_line(a: float, b: float, n: int) -> None:
    assert fe.slope([a + b * i for i in range(n)]) == pytest.approx(b, abs=1e-6)


@given(total=st.floats(0, 2), f_trend=st.floats(-1, 1), n=st.integers(0, 20))
def test_regime_agrees_with_thresholds(total: float, f_trend: float, n: int) -> None:
    r = fe.regime(total, f_trend, n)
    if r is Regime.ANOMALY:
        assert f_trend > 0.05 and n > 5
    elif r is Regime.EXPLORE:
        assert total > 0.6
    elif r is Regime.EXPLOIT:
        assert total < 0.3
    else:
        assert 0.3 <= total <= 0.6
