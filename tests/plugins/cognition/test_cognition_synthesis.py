"""Synthesis: votes, consensus, coherence, modes, adaptive weights and imagination, with numbers worked by hand."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules.synthesis import (
    Conflict,
    Mode,
    Record,
    SynthesisState,
    Vote,
    adapt_to_brier,
    assess,
    coherence,
    consensus,
    cortex_vote,
    genesis_vote,
    hivemind_vote,
    imagine,
    record_outcome,
)

BRAIN, CORTEX = Vote("brain", 0.6, 0.8), Vote("cortex", -0.4, 0.5)


def test_consensus_weights_votes_by_confidence_and_trust() -> None:
    # all weights 0.25; genesis has no confidence, so it adds nothing:
    # Σ v·c·w = 0.25·(0.6·0.8 − 0.4·0.5 + 0) = 0.25·0.28 = 0.07;  Σ c·w = 0.25·(0.8 + 0.5) = 0.325
    votes = [BRAIN, CORTEX, Vote("genesis", 0.2, 0.0)]
    assert consensus(SynthesisState(), votes) == pytest.approx(0.07 / 0.325)
    # trust matters: brain 0.7, cortex 0.1 → (0.6·0.8·0.7 − 0.4·0.5·0.1) / (0.8·0.7 + 0.5·0.1) = 0.316 / 0.61
    trusted = SynthesisState(weights={"brain": 0.7, "cortex": 0.1, "genesis": 0.1, "hivemind": 0.1})
    assert consensus(trusted, [BRAIN, CORTEX]) == pytest.approx(0.316 / 0.61)
    assert consensus(SynthesisState(), [Vote("brain", 0.9, 0.0)]) == 0.0


def test_coherence_is_one_minus_the_spread_of_confident_votes() -> None:
    # confident values 0.6 and −0.4: mean 0.1, deviations ±0.5, population std 0.5 → 1 − 0.5
    assert coherence([BRAIN, CORTEX, Vote("genesis", 1.0, 0.1)]) == pytest.approx(0.5)
    # +1 and −1: std 1 → 0;  one confident vote: nothing disagrees → 1
    assert coherence([Vote("a", 1.0, 1.0), Vote("b", -1.0, 1.0)]) == 0.0
    assert coherence([BRAIN]) == 1.0


def _after(observations: int, conflicts: tuple[Conflict, ...] = ()) -> SynthesisState:
    return SynthesisState(observations=observations, conflicts=conflicts)


def test_modes() -> None:
    agree = [Vote("brain", 0.6, 0.9), Vote("cortex", 0.6, 0.9)]
    assert assess(_after(9), agree).mode is Mode.EXPLORING  # fewer than 10 outcomes
    assert assess(_after(10), agree).mode is Mode.EXPLOITING  # consensus 0.6 > 0.3, coherence 1 > 0.7
    # 0.9 and −0.5: mean 0.2, std 0.7 → coherence 0.3 < 0.4
    assert assess(_after(10), [Vote("brain", 0.9, 0.9), Vote("cortex", -0.5, 0.9)]).mode is Mode.CONFLICTED
    # consensus 0.2 is not above 0.3
    assert assess(_after(10), [Vote("brain", 0.2, 0.9), Vote("cortex", 0.2, 0.9)]).mode is Mode.COHERENT
    # 5 of the last 10 conflicts failed: stuck (it wins over the votes' own agreement); 4 is not enough
    failed, won = Conflict(("brain", "cortex"), "brain", False), Conflict(("brain", "cortex"), "brain", True)
    assert assess(_after(10, (failed,) * 5 + (won,) * 5), agree).mode is Mode.STUCK
    assert assess(_after(10, (failed,) * 5 + (won,) * 6), agree).mode is Mode.EXPLOITING  # one failure left the window


def test_record_outcome_scores_logs_the_conflict_and_adapts_weights_from_the_tenth_outcome() -> None:
    state = record_outcome(_after(8), [BRAIN, CORTEX], succeeded=True)
    assert state.observations == 9 and state.weights == SynthesisState().weights  # still exploring: no adaptation
    state = record_outcome(_after(9), [BRAIN, CORTEX], succeeded=True)
    # brain said success (right): 1/1; cortex said failure (wrong): 0/1
    assert state.records["brain"] == Record(1, 1, 1.0, 1.0) and state.records["cortex"] == Record(1, 0, 1.0, 0.0)
    # 0.6 > 0.2 and −0.4 < −0.2: a conflict; outcome +1, brain is 0.4 away, cortex 1.4 → brain wins
    assert state.conflicts == (Conflict(("brain", "cortex"), "brain", True),) and state.conflict_count == 1
    # brain 0.95·0.25 + 0.05·1 = 0.2875, cortex 0.95·0.25 + 0.05·0 = 0.2375, the others keep 0.25;
    # the sum is 1.025, so each is divided by it
    assert state.weights["brain"] == pytest.approx(0.2875 / 1.025)
    assert state.weights["cortex"] == pytest.approx(0.2375 / 1.025)
    assert state.weights["genesis"] == pytest.approx(0.25 / 1.025)
    assert sum(state.weights.values()) == pytest.approx(1.0)


def test_unconfident_and_zero_votes_are_not_scored() -> None:
    state = record_outcome(SynthesisState(), [Vote("brain", 0.9, 0.1), Vote("cortex", 0.0, 1.0)], succeeded=False)
    assert state.records == {} and state.conflict_count == 0 and state.observations == 1


def test_recent_window_halves_past_fifty() -> None:
    state = SynthesisState(records={"brain": Record(50, 40, 50.0, 40.0)})
    state = record_outcome(state, [Vote("brain", 0.5, 0.9)], succeeded=True)
    # 51 / 41 passes 50 → 25.5 / 20.5; the lifetime counters keep counting
    assert state.records["brain"] == Record(51, 41, 25.5, 20.5)


def test_conflict_log_keeps_the_last_hundred() -> None:
    state = SynthesisState(conflicts=(Conflict(("a", "b"), "a", True),) * 100, conflict_count=100)
    state = record_outcome(state, [BRAIN, CORTEX], succeeded=False)
    # outcome −1: cortex (−0.4) is 0.6 away, brain 1.6 → cortex wins
    assert len(state.conflicts) == 100 and state.conflicts[-1] == Conflict(("brain", "cortex"), "cortex", False)
    assert state.conflict_count == 101


def test_brier_adaptation() -> None:
    state = adapt_to_brier(SynthesisState(), {"brain": 0.1, "cortex": 0.3})
    # brain 0.975·0.25 + 0.025·0.9 = 0.26625; cortex 0.24375 + 0.025·0.7 = 0.26125; others 0.25; sum 1.0275
    assert state.weights["brain"] == pytest.approx(0.26625 / 1.0275)
    assert state.weights["cortex"] == pytest.approx(0.26125 / 1.0275)
    assert state.weights["hivemind"] == pytest.approx(0.25 / 1.0275)


def test_a_tenth_system_votes_and_earns_trust() -> None:
    newcomer = Vote("curiosity", 1.0, 1.0, "third-party")
    # it starts at weight 0.25: (1·1·0.25 + 0.6·0.8·0.25) / (1·0.25 + 0.8·0.25) = 1.48 / 1.8
    assert consensus(SynthesisState(), [newcomer, BRAIN]) == pytest.approx(1.48 / 1.8)
    state = record_outcome(_after(9), [newcomer], succeeded=True)
    # five weights: 0.25 ×4 and 0.95·0.25 + 0.05 = 0.2875 for the newcomer; sum 1.2875
    assert state.weights["curiosity"] == pytest.approx(0.2875 / 1.2875)
    assert state.records["curiosity"].correct == 1


def test_seed_system_votes() -> None:
    assert cortex_vote(0.5, 10) == Vote("cortex", 0.5, 0.5)  # confidence 10/20
    assert cortex_vote(3.0, 40) == Vote("cortex", 1.0, 1.0)  # clamped; confidence capped at 1
    vote = genesis_vote("commit", ["read_file", "commit"], 0.8, 0.6)
    assert (vote.value, vote.confidence) == (pytest.approx(0.6), 0.6)  # 2·0.8 − 1, confidence = match
    assert genesis_vote("think", ["read_file", "commit"], 0.8, 0.6).value == -0.2
    assert genesis_vote("think", None, 0.8, 0.6).confidence == 0.0
    assert hivemind_vote(-0.8, 2.0) == Vote("hivemind", -0.8, 1.0)  # intensity capped at 1
    vote = hivemind_vote(0.5, 0.4)
    assert (vote.value, vote.confidence) == (pytest.approx(0.2), 0.4)  # 0.5 · 0.4


@pytest.mark.parametrize("value, confidence", [(1.5, 0.5), (0.5, -0.1), (math.nan, 0.5), (0.5, math.inf), (True, 0.5)])
def test_bad_votes_are_refused(value: float, confidence: float) -> None:
    with pytest.raises(ValueError, match="vote from x"):
        Vote("x", value, confidence)


def test_a_system_votes_once_per_step() -> None:
    with pytest.raises(ValueError, match="voted twice"):
        record_outcome(SynthesisState(), [BRAIN, BRAIN], succeeded=True)


EDGES = [
    {"from": "read_file", "to": "edit_code", "weight": 0.5, "avg_reward": 0.8},  # 0.4
    {"from": "read_file", "to": "think", "weight": 0.5, "avg_reward": 0.2},  # 0.1
    {"from": "edit_code", "to": "commit", "weight": 0.2, "avg_reward": 1.0},  # 0.2
    {"from": "edit_code", "to": "commit", "weight": 0.1, "avg_reward": 1.0},  # same pair, another context: 0.1
    {"from": "commit", "to": "run_shell", "weight": 0.9, "avg_reward": 1.0},  # after commit: never walked
    {"from": "think", "to": "edit_code", "weight": 0.9, "avg_reward": -1.0},  # negative: never taken
    {"from": "search_code", "to": "read_file", "weight": 0.4, "avg_reward": 0.5},  # 0.2
]


def test_imagination_walks_the_causal_graph() -> None:
    plans = {p.source + ":" + ",".join(p.steps): p.score for p in imagine(EDGES)}
    # read_file → edit_code (0.4, best) → commit (0.2) and stop: mean 0.3
    assert plans["walk:read_file,edit_code,commit"] == pytest.approx(0.3)
    # search_code → read_file (0.2) → edit_code (0.4) → commit (0.2): mean 0.8/3
    assert plans["walk:search_code,read_file,edit_code,commit"] == pytest.approx(0.8 / 3)
    # back from commit: edit_code (0.2) ← read_file (0.4, beats think's −0.9) ← search_code (0.2): mean 0.8/3,
    # the same steps as the search walk, so only one of them is kept; think's only edge is negative
    assert len(plans) == 2


def test_imagination_inserts_the_most_curious_action_into_the_best_template() -> None:
    templates = [{"step_types": ["read_file", "edit_code", "commit", "check_self"], "fitness": 0.9},
                 {"step_types": ["think"], "fitness": 0.2}]
    plans = imagine([], templates, {"run_shell": 0.7, "think": 0.1})
    # 4 steps: inserted at index 2
    assert [p.to_dict() for p in plans] == [
        {"steps": ["read_file", "edit_code", "run_shell", "commit", "check_self"], "source": "template", "score": 0.9}]
    assert imagine([], templates, {}) == []


def test_imagination_caps_walks_and_plans() -> None:
    chain = [{"from": f"s{i}", "to": f"s{i + 1}", "weight": 1.0, "avg_reward": 1.0} for i in range(20)]
    chain += [{"from": start, "to": "s0", "weight": 1.0, "avg_reward": 1.0} for start in ("read_file", "list_dir")]
    plans = imagine(chain)
    assert all(len(p.steps) <= 8 for p in plans)
    assert plans[0].steps == ("read_file", "s0", "s1", "s2", "s3", "s4", "s5", "s6")
    many = [{"from": s, "to": "commit", "weight": 1.0, "avg_reward": 0.5} for s in ("read_file", "search_code", "list_dir", "think")]
    many.append({"from": "edit_code", "to": "commit", "weight": 1.0, "avg_reward": 0.9})
    plans = imagine(many, [{"step_types": ["edit_code"], "fitness": 0.1}], {"x": 1.0})
    # reverse edit_code → commit (0.9), 4 walks (0.5 each), the template (0.1): six, the weakest dropped
    assert [p.source for p in plans] == ["reverse", "walk", "walk", "walk", "walk"]


def test_state_round_trips_through_json() -> None:
    state = record_outcome(_after(9), [BRAIN, CORTEX, Vote("tenth", 0.3, 0.6)], succeeded=True)
    assert SynthesisState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert Vote.from_dict(json.loads(json.dumps(BRAIN.to_dict()))) == BRAIN


votes = st.lists(
    st.builds(Vote, st.sampled_from(["brain", "cortex", "genesis", "hivemind", "tenth"]),
              st.floats(-1, 1), st.floats(0, 1)),
    max_size=5, unique_by=lambda v: v.system,
)


@given(votes)
def test_consensus_and_coherence_stay_in_bounds(vs: list[Vote]) -> None:
    assert -1.0 - 1e-9 <= consensus(SynthesisState(), vs) <= 1.0 + 1e-9
    assert 0.0 <= coherence(vs) <= 1.0


@given(st.lists(st.tuples(votes, st.booleans()), max_size=15), st.dictionaries(st.sampled_from(["brain", "cortex"]), st.floats(0, 1)))
def test_weights_stay_a_distribution(history: list[tuple[list[Vote], bool]], brier: dict[str, float]) -> None:
    state = _after(10)
    for vs, succeeded in history:
        state = record_outcome(state, vs, succeeded)
    state = adapt_to_brier(state, brier)
    assert all(w >= 0 for w in state.weights.values())
    assert sum(state.weights.values()) == pytest.approx(1.0)
