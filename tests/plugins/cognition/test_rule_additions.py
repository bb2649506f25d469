"""What the plugins of autonomy, evaluation, feedback, free energy and colony_state added to the rule modules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.cognition.rules import evaluation as ev
from colony.plugins.cognition.rules import feedback as fb
from colony.plugins.cognition.rules import free_energy as fe
from colony.plugins.cognition.rules.autonomy import rule_kinds
from colony.plugins.cognition.rules.evaluation import EvaluationState
from colony.plugins.cognition.rules.numbers import is_number

PREDICTIONS = st.lists(
    st.tuples(st.sampled_from(["brain", "cortex", "oracle"]), st.floats(0, 1), st.floats(0, 1), st.booleans()),
    max_size=300,
)


@settings(max_examples=40, deadline=None)
@given(predictions=PREDICTIONS, batch=st.integers(1, 7))
def test_recent_brier_follows_brier_scores(predictions: list[tuple[str, float, float, bool]], batch: int) -> None:
    state = EvaluationState()
    recent = ev.RecentBrier(state)
    for start in range(0, len(predictions), batch):
        chunk = [(s, p, c, y, float(start), "x") for s, p, c, y in predictions[start : start + batch]]
        state = ev.record_predictions(state, chunk)
        recent.add(state.records[len(state.records) - len(chunk) :])
    assert recent.scores() == pytest.approx(ev.brier_scores(state, recent=True))
    assert ev.RecentBrier(state).scores() == pytest.approx(ev.brier_scores(state, recent=True))


def test_recent_brier_forgets_records_that_left_the_buffer() -> None:
    state = ev.record_predictions(EvaluationState(), [("oracle", 1.0, 1.0, False, 0.0, "")])  # error 1
    state = ev.record_predictions(state, [("brain", 0.5, 1.0, True, 1.0, "")] * ev.MAX_RECORDS)  # pushes it out
    assert "oracle" not in ev.brier_scores(state, recent=True)
    assert "oracle" not in ev.RecentBrier(state).scores()


def test_records_in_a_batch_are_the_records_one_by_one() -> None:
    one_by_one = EvaluationState()
    for system, p in (("brain", 0.7), ("cortex", 1.4)):
        one_by_one = ev.record_prediction(one_by_one, system, p, 0.5, True, 3.0, "read_file")
    batch = ev.record_predictions(EvaluationState(), [("brain", 0.7, 0.5, True, 3.0, "read_file"), ("cortex", 1.4, 0.5, True, 3.0, "read_file")])
    assert batch == one_by_one
    assert ev.record_predictions(batch, []) is batch


def test_rows_round_trip_and_refuse_junk() -> None:
    record = ev.PredictionRecord("brain", 0.25, 0.5, True, 7.0, "think")
    assert ev.record_from_row(ev.record_row(record)) == record
    for junk in ([1, 2], "row", ["brain", "x", 0.5, True, 1.0, ""], None):
        with pytest.raises(ValueError):
            ev.record_from_row(junk)


def test_the_sync_snapshot_is_pending_until_measured() -> None:
    state = ev.pre_sync_snapshot(EvaluationState(), now=1.0)
    assert state.sync.pending and ev.records_since_snapshot(state) == 0
    state = ev.record_predictions(state, [("brain", 0.9, 0.5, True, 2.0, "")] * 5)
    assert ev.records_since_snapshot(state) == 5
    assert not ev.post_sync_measurement(state).sync.pending
    assert EvaluationState.from_dict(state.to_dict()).sync.pending


def test_a_success_resolves_the_chains_of_its_step() -> None:
    chains = fb.record_failure_chain([], "g", "read_file", "a.txt", "no such file", 0.0)
    chains = fb.record_failure_chain(chains, "g", "read_file", None, "no such file", 0.0)
    chains = fb.record_failure_chain(chains, "g", "run_shell", None, "exit code 1", 0.0)
    # read_file of b.txt resolves the chain with no file, not the one on a.txt; run_shell's stays open.
    assert fb.resolve_chains(chains, "read_file", "b.txt") == 1
    assert [c.resolved for c in chains] == [False, True, False]
    assert fb.resolve_chains(chains, "read_file", "a.txt") == 1
    assert set(fb.ACTION_CAPABILITIES.values()) <= set(fb.CAPABILITIES)


def test_rule_kinds_read_the_goals_words_in_working_order() -> None:
    assert rule_kinds("Write a note about the peers, then search for TODO") == ["search_code", "write_file", "discover_peers", "think"]
    assert rule_kinds("improve things") == ["list_dir", "search_code", "think"]


def test_free_energy_thresholds_and_core_actions_are_parameters() -> None:
    assert fe.regime(0.5, 0.0, 0, fe.Thresholds(explore=0.4)) == fe.Regime.EXPLORE
    assert fe.regime(0.5, 0.02, 9, fe.Thresholds(anomaly=0.01)) == fe.Regime.ANOMALY
    assert fe.hivemind_surprise({"read_file", "think"}, ["read_file", "write_file", "think", "list_dir"]) == 0.5
    assert fe.hivemind_surprise({"read_file"}) == 1 - 1 / 8  # the seed's eight by default


def test_is_number_refuses_what_no_float_can_hold() -> None:
    assert is_number(3) and is_number(0.5) and not is_number(True)
    assert not any(is_number(x) for x in (float("nan"), float("inf"), 10**400, "1", None))
