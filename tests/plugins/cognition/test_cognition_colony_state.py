"""Ψ(t), the Bloch sphere, the temporal oscillators and fitness, with numbers worked by hand."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules import colony_state as cs
from colony.plugins.cognition.rules.colony_state import Bloch, Fitness, Oscillator, Psi, Temporal

finite = st.floats(-10, 10)

# ── Ψ ──


def test_psi_worked_by_hand() -> None:
    p = cs.psi(Psi(value=0.3), pass_at_1=[40, 60], sync_benefit=0.3, fitnesses=[0.2, 0.6], f_trend=-0.1)
    # I = 50/100 = 0.5; S = 0.3; D = std(0.2, 0.6) = 0.2; V = −(−0.1) = 0.1
    # Ψ = (0.5 · 0.4 · 0.3 · 0.2)^¼ = 0.012^¼ = 0.330975
    assert (p.intelligence, p.sync, p.diversity, p.velocity) == (0.5, 0.3, pytest.approx(0.2), 0.1)
    assert p.value == pytest.approx(0.330975, abs=1e-6)
    assert p.trend == pytest.approx(0.030975, abs=1e-6)  # against the previous 0.3


def test_psi_sync_term_is_wired_to_the_measured_benefit() -> None:
    args = {"pass_at_1": [40, 60], "fitnesses": [0.2, 0.6], "f_trend": -0.1}
    without = cs.psi(Psi(), sync_benefit=0.0, **args)
    with_sync = cs.psi(Psi(), sync_benefit=0.3, **args)
    # the seed's S was always 0; here S moves Ψ by ((0.3 + 0.1) / 0.1)^¼ = √2
    assert with_sync.value / without.value == pytest.approx(math.sqrt(2))


def test_psi_floors_and_clamps() -> None:
    alone = cs.psi(Psi(), pass_at_1=[0.0], sync_benefit=-0.4, fitnesses=[0.9], f_trend=0.2)
    # I floored to 0.01; S clamped to 0; one agent has no spread: D = 0; a rising F gives V = 0
    # Ψ = (0.01 · 0.1 · 0.1 · 0.1)^¼ = (1e-5)^¼ = 0.056234
    assert alone.value == pytest.approx(0.056234, abs=1e-6)
    assert cs.psi(Psi(), [100.0], 5.0, [0.0, 1.0], -3.0).sync == 1.0


@given(
    passes=st.lists(st.floats(0, 100), max_size=5),
    sync=st.floats(allow_nan=True),
    fits=st.lists(st.floats(0, 1), max_size=5),
    f_trend=st.floats(allow_nan=True),
)
def test_psi_stays_in_range(passes: list[float], sync: float, fits: list[float], f_trend: float) -> None:
    p = cs.psi(Psi(), passes, sync, fits, f_trend)
    assert (0.01 * 0.1**3) ** 0.25 - 1e-12 <= p.value <= (1.0 * 1.1**3) ** 0.25 + 1e-12


def test_psi_round_trip() -> None:
    p = cs.psi(Psi(), [30], 0.2, [0.1, 0.5], -0.05)
    assert Psi.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError):
        Psi.from_dict({"value": 1})


# ── Bloch sphere ──


def test_bloch_defaults_are_balanced_and_self_focused() -> None:
    b = Bloch()
    assert (b.theta, b.phi, b.exploration, b.colony_focus) == (math.pi / 2, 0.0, 0.5, 0.0)
    assert (b.regime, b.drive) == ("LEARN", "neutral")


def test_bloch_evolve_worked_by_hand() -> None:
    b = cs.evolve(Bloch(), f_trend=0.1, psi_trend=0.05)
    # dθ = 0.8·0 + 0.3·0.1 = 0.03; θ = π/2 + 0.03. Ψ rises: φ* = π, sign(π − 0) = +1; dφ = 0.2·0.05 = 0.01
    assert (b.d_theta, b.theta) == (pytest.approx(0.03), pytest.approx(math.pi / 2 + 0.03))
    assert (b.d_phi, b.phi) == (pytest.approx(0.01), pytest.approx(0.01))
    b = cs.evolve(b, f_trend=0.1, psi_trend=0.05)
    # dθ = 0.8·0.03 + 0.03 = 0.054; θ += 0.054. dφ = 0.8·0.01 + 0.01 = 0.018; φ = 0.028
    assert (b.d_theta, b.theta) == (pytest.approx(0.054), pytest.approx(math.pi / 2 + 0.084))
    assert (b.d_phi, b.phi) == (pytest.approx(0.018), pytest.approx(0.028))


def test_bloch_falling_psi_at_self_focus_only_damps() -> None:
    b = cs.evolve(Bloch(phi=0.0, d_phi=0.1), f_trend=0.0, psi_trend=-0.5)
    # φ* = 0 = φ: no push; dφ = 0.8·0.1 = 0.08
    assert (b.d_phi, b.phi) == (pytest.approx(0.08), pytest.approx(0.08))


def test_bloch_clamps_theta_and_wraps_phi() -> None:
    assert cs.evolve(Bloch(theta=0.05), f_trend=-1.0, psi_trend=0.0).theta == 0.01  # 0.05 − 0.3 clamped
    assert cs.evolve(Bloch(theta=3.1), f_trend=1.0, psi_trend=0.0).theta == pytest.approx(math.pi - 0.01)
    b = cs.evolve(Bloch(phi=6.2, d_phi=0.2), f_trend=0.0, psi_trend=0.0)
    # dφ = 0.16; 6.2 + 0.16 = 6.36 − 2π = 0.076815
    assert b.phi == pytest.approx(6.36 - math.tau)


@pytest.mark.parametrize(
    ("theta", "phi", "regime", "drive"),
    [
        (0.8 * math.pi, 0.0, "EXPLORE", "explore"),
        (0.7 * math.pi, 0.0, "LEARN", "explore"),  # 0.7 is not above 0.7, but is above the drive's 0.6
        (0.25 * math.pi, 0.0, "EXPLOIT", "exploit"),
        (0.5 * math.pi, math.pi / 2, "LEARN", "collaborate"),  # colony focus |sin π/2| = 1 > 0.5
    ],
)
def test_bloch_regime_and_drive(theta: float, phi: float, regime: str, drive: str) -> None:
    b = Bloch(theta, phi)
    assert (b.regime, b.drive) == (regime, drive)


def test_oscillator_modulation_worked_by_hand() -> None:
    mid = Bloch()  # exploration 0.5, colony 0
    assert cs.oscillator_modulation(mid, "cortex_dreaming") == 1.75  # 1 + 1.5·0.5
    assert cs.oscillator_modulation(mid, "benchmark") == 1.75  # 1 + 1.5·(1 − 0.5)
    assert cs.oscillator_modulation(mid, "peer_sync") == 1.0  # 1 + 2·0
    assert cs.oscillator_modulation(mid, "self_repair") == 1.0
    hot = Bloch(0.8 * math.pi, math.pi / 2)  # exploration 0.8, colony 1
    assert cs.oscillator_modulation(hot, "genesis_evolution") == pytest.approx(2.2)  # 1 + 1.5·0.8
    assert cs.oscillator_modulation(hot, "brain_training") == pytest.approx(1.3)  # 1 + 1.5·0.2
    assert cs.oscillator_modulation(hot, "peer_sync") == pytest.approx(3.0)  # 1 + 2·1
    assert cs.oscillator_modulation(hot, "self_repair") == 2.0  # exploring above 0.7
    assert cs.oscillator_modulation(hot, "thought_decay") == 1.0


def test_bloch_merge_rate() -> None:
    assert cs.bloch_merge_rate(0.8, 0.5) == pytest.approx(0.16)  # 0.1 · 1.6
    assert cs.bloch_merge_rate(0.05, 1.0) == pytest.approx(0.01)  # ratio 0.05 clamped to 0.1
    assert cs.bloch_merge_rate(1.0, 0.0) == pytest.approx(0.2)  # self floored at 0.01: ratio 100 clamped to 2


def test_bloch_merge_worked_by_hand() -> None:
    ours = Bloch(math.pi / 2, 0.0, 0.2, -0.4)  # (1, 0, 0)
    theirs = Bloch(math.pi / 2, math.pi / 2)  # (0, 1, 0)
    merged = cs.merge_bloch(ours, theirs, 0.5)
    # (0.5, 0.5, 0) renormalised to (√½, √½, 0): θ = π/2, φ = π/4; velocities halved
    assert (merged.theta, merged.phi) == (pytest.approx(math.pi / 2), pytest.approx(math.pi / 4))
    assert (merged.d_theta, merged.d_phi) == (pytest.approx(0.1), pytest.approx(-0.2))
    assert cs.merge_bloch(ours, theirs, 0.0) == ours
    full = cs.merge_bloch(ours, theirs, 1.0)
    assert (full.theta, full.phi) == (pytest.approx(theirs.theta), pytest.approx(theirs.phi))


bloch = st.builds(Bloch, st.floats(0.01, math.pi - 0.01), st.floats(0, math.tau, exclude_max=True), finite, finite)


@given(b=bloch, f=finite, p=finite)
def test_evolve_keeps_the_state_on_the_sphere(b: Bloch, f: float, p: float) -> None:
    out = cs.evolve(b, f, p)
    assert 0.01 <= out.theta <= math.pi - 0.01 and 0.0 <= out.phi < math.tau


@given(a=bloch, b=bloch, rate=st.floats(0, 1))
def test_merge_keeps_the_state_on_the_sphere(a: Bloch, b: Bloch, rate: float) -> None:
    out = cs.merge_bloch(a, b, rate)
    assert 0.01 <= out.theta <= math.pi - 0.01 and 0.0 <= out.phi < math.tau


@given(b=bloch)
def test_cartesian_round_trip(b: Bloch) -> None:
    back = cs.from_cartesian(*b.cartesian())
    assert back.cartesian() == pytest.approx(b.cartesian(), abs=1e-9)


def test_bloch_round_trip() -> None:
    b = cs.evolve(Bloch(), 0.2, 0.1)
    assert Bloch.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    with pytest.raises(ValueError):
        Bloch.from_dict({"theta": "nan", "phi": 0, "d_theta": 0, "d_phi": 0})


# ── Temporal oscillators ──


def test_oscillator_table_follows_the_digest() -> None:
    periods = {name: spec[:2] for name, spec in cs.OSCILLATORS.items()}
    assert periods == {
        "brain_training": (10, 3),
        "cortex_dreaming": (10, 5),
        "genesis_evolution": (20, 8),
        "peer_sync": (5, 3),
        "benchmark": (15, 5),
        "thought_decay": (10, 5),
        "self_repair": (20, 10),
        "memory_consolidation": (30, 12),
    }


def test_urgency_input_is_a_steep_sigmoid() -> None:
    weights = cs.OSCILLATORS["brain_training"][2]
    assert cs.urgency_input(weights, {}) == pytest.approx(1 / (1 + math.exp(3)))  # sigmoid(6·(0 − 0.5)) = 0.047426
    ones = dict.fromkeys(weights, 1.0)
    assert cs.urgency_input(weights, ones) == pytest.approx(1 / (1 + math.exp(-3)))  # Σw = 1: sigmoid(3) = 0.952574
    assert cs.urgency_input(weights, dict.fromkeys(weights, 7.0)) == cs.urgency_input(weights, ones)  # clamped


def test_regime_multiplier_blends_table_and_bloch() -> None:
    assert cs.regime_multiplier("learn", "brain_training", Bloch()) == 1.375  # 0.5·1 + 0.5·1.75
    assert cs.regime_multiplier("anomaly", "self_repair", Bloch()) == 2.0  # 0.5·3 + 0.5·1
    hot = Bloch(0.8 * math.pi, 0.0)
    assert cs.regime_multiplier("exploit", "cortex_dreaming", hot) == pytest.approx(1.4)  # 0.5·0.6 + 0.5·2.2


def fire_cycles(name: str, signal: float, regime: str, b: Bloch, cycles: int) -> list[int]:
    osc, fired = Oscillator(name), []
    drive = cs.urgency_input(cs.OSCILLATORS[name][2], dict.fromkeys(cs.OSCILLATORS[name][2], signal))
    for cycle in range(1, cycles + 1):
        osc, fires = cs.tick_oscillator(osc, drive, cs.regime_multiplier(regime, name, b))
        if fires:
            fired.append(cycle)
    return fired


def test_quiet_oscillator_fires_at_its_natural_period() -> None:
    # brain_training, T₀ 10, no signals, learn, balanced sphere: each cycle phase += 0.1 and
    # U += 0.047426·1.375/10 = 0.006521, so phase + 0.5·U grows 0.103261 a cycle: ≥ 1 first at cycle 10
    assert fire_cycles("brain_training", 0.0, "learn", Bloch(), 30) == [10, 20, 30]


def test_urgent_oscillator_fires_early() -> None:
    # all signals 1: U += 0.952574·1.375/10 = 0.130979, so 0.1 + 0.5·0.130979 = 0.165489 a cycle:
    # 6 cycles give 0.993, 7 give 1.158: it fires every 7 cycles
    assert fire_cycles("brain_training", 1.0, "learn", Bloch(), 21) == [7, 14, 21]


def test_refractory_period_holds_firing_back() -> None:
    # peer_sync, T₀ 5, R 3, anomaly, full colony focus: multiplier 0.5·2 + 0.5·(1 + 2·1) = 2.5
    # per cycle 0.2 + 0.5·0.952574·2.5/5 = 0.438144: ready after 3 cycles (1.314).
    # After a firing, cycles 1–3 are refractory, so the next can only come 4 cycles later.
    colony = Bloch(math.pi / 2, math.pi / 2)
    assert fire_cycles("peer_sync", 1.0, "anomaly", colony, 12) == [3, 7, 11]


def test_tick_reports_fires_and_keeps_the_last_fifty() -> None:
    state, fired = Temporal(), []
    for _ in range(200):
        state, now = cs.tick(state, {}, "learn", Bloch())
        fired.extend(now)
    assert state.cycle == 200
    assert set(fired) == set(cs.OSCILLATORS)  # with no signals at all, every operation still fires
    assert all(o.total_fires > 0 for o in state.oscillators)
    assert len(state.recent_fires) == cs.MAX_RECENT_FIRES
    assert state.recent_fires[-1][0] <= 200


def test_temporal_round_trip() -> None:
    state = Temporal()
    for _ in range(12):
        state, _ = cs.tick(state, {"brain_surprise": 0.7}, "explore", Bloch())
    assert Temporal.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    data = state.to_dict()
    data["oscillators"] = [o for o in data["oscillators"] if o["name"] != "benchmark"] + [
        {"name": "retired_op", "phase": 0.5, "urgency": 0.0, "cycles_since_fire": None, "total_fires": 0}
    ]
    restored = Temporal.from_dict(data)
    assert [o.name for o in restored.oscillators] == list(cs.OSCILLATORS)
    assert restored.oscillators[4] == Oscillator("benchmark")
    with pytest.raises(ValueError):
        Temporal.from_dict({"oscillators": [{"name": "peer_sync"}], "cycle": 1, "recent_fires": []})


@given(signals=st.dictionaries(st.sampled_from(["brain_surprise", "sync_benefit", "fe_total"]), st.floats()))
def test_oscillators_never_fire_inside_refractory(signals: dict[str, float]) -> None:
    state, last = Temporal(), {}
    for cycle in range(1, 40):
        state, fired = cs.tick(state, signals, "anomaly", Bloch(0.9 * math.pi, math.pi / 2))
        for op in fired:
            if op in last:
                assert cycle - last[op] > cs.OSCILLATORS[op][1]
            last[op] = cycle


# ── Fitness ──


def test_fitness_weights_follow_the_digest() -> None:
    assert cs.FITNESS_WEIGHTS == {
        "economic": 0.20,
        "execution": 0.25,
        "evolution": 0.15,
        "coordination": 0.10,
        "introspection": 0.10,
        "prediction": 0.20,
    }
    assert sum(cs.FITNESS_WEIGHTS.values()) == pytest.approx(1.0)


def test_fitness_components_worked_by_hand() -> None:
    assert cs.economic_fitness(10, 2) == 0.5  # 5 payments per endpoint: 5 / (5 + 5)
    assert cs.economic_fitness(3, 0) == 0.375  # endpoints floored at 1: 3 / 8
    assert cs.execution_fitness(0, 0, 0) == 0.15
    assert cs.execution_fitness(3, 1, 0) == pytest.approx(0.63)  # rate 3/4, confidence 4/5: 0.15·0.2 + 0.75·0.8
    assert cs.execution_fitness(0, 5, 0) == 0.0  # trivial completions are not successes
    assert cs.evolution_fitness(5, 50) == 0.5  # 10 commits per 100 cycles: 10 / (10 + 10)
    assert cs.evolution_fitness(5, 19) == 0.1  # under 20 cycles
    assert cs.coordination_fitness(4, 3) == pytest.approx(0.36)  # rate 0.75, confidence 0.4: 0.1·0.6 + 0.75·0.4
    assert cs.coordination_fitness(4, 9) == pytest.approx(0.46)  # successes capped at attempts: 0.06 + 1·0.4
    assert cs.coordination_fitness(0, 0) == 0.1
    assert cs.introspection_fitness(10, 0, 0) == pytest.approx(0.2)  # 0.1 + 0.2·10/(10 + 10)
    assert cs.introspection_fitness(5, 4, 3) == 0.75
    assert cs.introspection_fitness(0, 0, 0) == 0.1
    assert cs.prediction_fitness(0.8, 10) == pytest.approx(0.45)  # confidence 0.5: 0.1·0.5 + 0.8·0.5
    assert cs.prediction_fitness(0.8, 4) == 0.1  # under 5 predictions


def test_fitness_total_worked_by_hand() -> None:
    parts = {
        "economic": 0.5,
        "execution": 0.63,
        "evolution": 0.5,
        "coordination": 0.36,
        "introspection": 0.2,
        "prediction": 0.45,
    }
    f = cs.measure_fitness(Fitness(), parts)
    # 0.2·0.5 + 0.25·0.63 + 0.15·0.5 + 0.1·0.36 + 0.1·0.2 + 0.2·0.45
    # = 0.1 + 0.1575 + 0.075 + 0.036 + 0.02 + 0.09 = 0.4785
    assert f.total == pytest.approx(0.4785)
    assert f.history == (f.total,)
    assert f.trend == 0.0  # no history yet
    rising = Fitness(history=(0.1, 0.2, 0.3))
    # 0.1, 0.2, 0.3, then 0.4785: x̄ 1.5, Σ(x−x̄)y = −0.15 − 0.1 + 0.15 + 0.71775 = 0.61775; Σ(x−x̄)² = 5
    assert cs.measure_fitness(rising, parts).trend == pytest.approx(0.12355)


def test_fitness_history_is_capped_and_round_trips() -> None:
    f = Fitness()
    for i in range(cs.FITNESS_HISTORY_SIZE + 5):
        f = cs.measure_fitness(f, dict.fromkeys(cs.FITNESS_WEIGHTS, (i % 10) / 10))
    assert len(f.history) == cs.FITNESS_HISTORY_SIZE
    assert Fitness.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    with pytest.raises(ValueError):
        Fitness.from_dict({"components": 1, "total": 0, "trend": 0, "history": []})


@given(st.fixed_dictionaries({k: st.floats(allow_nan=True) for k in cs.FITNESS_WEIGHTS}))
def test_fitness_total_is_a_probability(parts: dict[str, float]) -> None:
    assert 0.0 <= cs.measure_fitness(Fitness(), parts).total <= 1.0 + 1e-12


@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_fitness_components_are_probabilities(a: int, b: int, c: int) -> None:
    values = [
        cs.economic_fitness(a, b),
        cs.execution_fitness(a, b, c),
        cs.evolution_fitness(a, b),
        cs.coordination_fitness(a, b),
        cs.introspection_fitness(a, b, c),
        cs.prediction_fitness(c / 100, a),
    ]
    assert all(0.0 <= v <= 1.0 for v in values)
