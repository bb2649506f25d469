"""Brain (cognition side): feature encoding, the running loss, the warm-up gate and the brain's vote, worked by hand."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules.brain import (
    CONTEXT_KEYS,
    STEP_KINDS,
    BrainState,
    Verdict,
    brain_vote,
    encode_step,
    error_confidence,
    gate,
    record_training,
)
from colony.plugins.models.features import BRAIN_FEATURES


def test_encode_step_scales_each_feature_as_its_name_says() -> None:
    features = encode_step("edit_code", {"replans": 2, "cycles": 10, "elo": 1200, "fitness": 1.5, "peers": 4,
                                         "problem_category": 3})
    assert len(features) == 128
    at = {name: features[i] for i, name in enumerate(BRAIN_FEATURES)}
    assert at["step_type.10"] == 1.0 and sum(features[:14]) == 1.0  # edit_code is slot 10
    assert at["step_is_llm"] == 1.0
    assert at["replans/3"] == pytest.approx(2 / 3)
    assert at["ln(1+cycles)/10"] == pytest.approx(math.log(11) / 10)  # 0.2398
    assert at["(elo-800)/800"] == pytest.approx(0.5)  # (1200 − 800) / 800
    assert at["fitness"] == 1.0  # clamped to [0, 1]
    assert at["peers/10"] == pytest.approx(0.4)
    assert at["problem_category.3"] == 1.0
    assert sum(features) == pytest.approx(1 + 1 + 2 / 3 + math.log(11) / 10 + 0.5 + 1 + 0.4 + 1)  # nothing else set


def test_unknown_step_kinds_share_the_last_slot_and_reserved_features_stay_zero() -> None:
    features = encode_step("call_peer")
    assert features[STEP_KINDS.index("other")] == 1.0 and sum(features) == 1.0
    assert encode_step("read_file")[BRAIN_FEATURES.index("step_is_llm")] == 0.0


def test_every_documented_feature_has_a_context_key() -> None:
    # the seed's 64 features: 14 step kinds + is-LLM + 7 self-play + 14 categories are not plain keys
    assert len(CONTEXT_KEYS) == 64 - 14 - 1 - 14 - 2 + 1  # 2 reserved self-play slots; problem_category is one key
    assert {"replans", "cycles", "elo", "train_steps", "solution_len", "economic_fitness"} <= CONTEXT_KEYS


@pytest.mark.parametrize("context", [{"replanz": 1}, {"replans": math.nan}, {"fitness": "high"}, {"elo": True},
                                     {"problem_category": 14}, {"problem_category": 1.5}])
def test_bad_context_is_refused(context: dict) -> None:
    with pytest.raises(ValueError, match="brain"):
        encode_step("think", context)


def test_running_loss_is_an_ema() -> None:
    state = record_training(BrainState(), loss=10.0, steps=8)
    assert state == BrainState(8, 10.0)  # the first report starts the average
    state = record_training(state, loss=20.0, steps=8)
    assert state.train_steps == 16 and state.running_loss == pytest.approx(10.5)  # 0.95·10 + 0.05·20
    with pytest.raises(ValueError):
        record_training(state, loss=math.inf, steps=1)


def _prediction(success: float, error: float) -> dict:
    return {"success": success, "error": [error] + [0.0] * 10, "capabilities": [0.5] * 11}


WARM = BrainState(5000, 11.9)


def test_gate_sleeps_until_warm_up() -> None:
    doomed = _prediction(0.01, 0.99)
    assert gate(BrainState(4999, 1.0), "commit", doomed).verdict is Verdict.ALLOW  # too few steps
    assert gate(BrainState(500_000, 14.8), "commit", doomed).verdict is Verdict.ALLOW  # the seed's incident: loss too high
    assert gate(BrainState(5000, 12.0), "commit", doomed).verdict is Verdict.ALLOW  # 12 is not below 12
    assert gate(BrainState(5000, None), "commit", doomed).verdict is Verdict.ALLOW
    assert gate(WARM, "commit", doomed).verdict is Verdict.BLOCK


def test_gate_only_judges_risky_steps() -> None:
    doomed = _prediction(0.01, 0.99)
    assert gate(WARM, "run_shell", doomed).verdict is Verdict.ALLOW  # `ls` must never be blocked
    assert gate(WARM, "git_push", doomed).verdict is Verdict.BLOCK
    assert gate(WARM, "deploy_cartridge", doomed).verdict is Verdict.BLOCK


def test_gate_thresholds() -> None:
    block = gate(WARM, "commit", _prediction(0.05, 0.9))
    assert block.verdict is Verdict.BLOCK and "compile" in block.reason  # error class 0 is compile
    assert gate(WARM, "commit", _prediction(0.05, 0.8)).verdict is Verdict.WARN  # 0.8 is not above 0.8
    assert gate(WARM, "commit", _prediction(0.10, 0.9)).verdict is Verdict.WARN  # 0.10 is not below 0.10
    assert gate(WARM, "commit", _prediction(0.19, 0.0)).verdict is Verdict.WARN
    assert gate(WARM, "commit", _prediction(0.20, 0.9)).verdict is Verdict.ALLOW


def test_error_confidence_is_capped() -> None:
    assert error_confidence(_prediction(0.5, 0.99)) == ("compile", 0.95)
    assert error_confidence({"success": 0.5, "error": [0.1] * 10 + [0.3]}) == ("unsolvable", 0.3)


def test_brain_vote() -> None:
    vote = brain_vote(_prediction(0.8, 0.6))
    # 2·0.8 − 1 = 0.6; the error class is 0.6 > 0.5 sure → confidence 0.8
    assert (vote.system, vote.value, vote.confidence) == ("brain", pytest.approx(0.6), 0.8)
    vote = brain_vote(_prediction(0.3, 0.2))
    assert (vote.value, vote.confidence) == (pytest.approx(-0.4), 0.4)  # 2·0.3 − 1; unsure of the error
    assert vote.probability == pytest.approx(0.3)


@pytest.mark.parametrize("prediction", [{}, {"success": 1.2, "error": [0.0] * 11}, {"success": 0.5, "error": [0.0] * 3},
                                        {"success": 0.5, "error": ["x"] * 11}, {"success": math.nan, "error": [0.0] * 11}])
def test_bad_predictions_are_refused(prediction: dict) -> None:
    with pytest.raises(ValueError, match="brain"):
        brain_vote(prediction)


def test_state_round_trips_through_json() -> None:
    for state in (BrainState(), WARM):
        assert BrainState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@given(st.sampled_from([*STEP_KINDS, "anything"]),
       st.dictionaries(st.sampled_from(sorted(CONTEXT_KEYS - {"problem_category"})), st.floats(0, 1e6)))
def test_features_are_bounded(step: str, context: dict) -> None:
    features = encode_step(step, context)
    assert len(features) == 128 and sum(features[:14]) == 1.0
    assert all(0.0 <= x <= 1.4 for x in features)  # ln(1+1e6)/10 ≈ 1.38 is the only unclamped kind


@given(st.lists(st.tuples(st.floats(0, 100), st.integers(0, 100)), max_size=20))
def test_running_loss_stays_within_the_losses_seen(reports: list[tuple[float, int]]) -> None:
    state = BrainState()
    for loss, steps in reports:
        state = record_training(state, loss, steps)
    if reports:
        losses = [loss for loss, _ in reports]
        assert min(losses) - 1e-9 <= state.running_loss <= max(losses) + 1e-9
    assert state.train_steps == sum(steps for _, steps in reports)
