"""The brain plugin's record of executed steps (rules/brain.py), worked by hand."""

from __future__ import annotations

import math

import pytest

from colony.plugins.cognition.rules.brain import (
    MAX_ACTIONS,
    STEP_KINDS,
    BrainRecord,
    BrainState,
    encode_step,
    record_model,
    record_step,
    step_context,
    step_kind,
)
from colony.plugins.models.features import BRAIN_FEATURES


def test_steps_count_per_action_and_in_the_failure_streak() -> None:
    record = BrainRecord()
    assert record.success_rate == 0.5 and record.action_rate("read_file") == 0.5
    for action, ok in [("read_file", True), ("run_shell", False), ("run_shell", False), ("read_file", True)]:
        record = record_step(record, action, ok)
    assert record.outcomes == {"read_file": (2, 2), "run_shell": (0, 2)}
    assert record.success_rate == 0.5 and record.action_rate("run_shell") == 0.0
    assert record.consecutive_failures == 0
    record = record_step(record_step(record, "think", False), "think", False)
    assert record.consecutive_failures == 2


def test_the_context_fills_the_features_it_names() -> None:
    record = record_step(record_step(BrainRecord(), "run_shell", False), "read_file", True)
    context = step_context(record, "run_shell", cycles=3)
    assert context == {"success_rate": 0.5, "capability_success_rate": 0.0, "consecutive_failures": 0, "train_steps": 0, "cycles": 3}
    at = dict(zip(BRAIN_FEATURES, encode_step(step_kind("run_shell"), context)))
    assert at["success_rate"] == 0.5 and at["ln(1+cycles)/10"] == pytest.approx(math.log(4) / 10)


def test_tools_fill_the_seed_slot_they_stand_for() -> None:
    assert step_kind("write_file") == "edit_code" and step_kind("deploy_cartridge") == "commit"
    assert step_kind("read_file") == "read_file" and step_kind("discover_peers") == "discover_peers"
    assert encode_step(step_kind("write_file"))[STEP_KINDS.index("edit_code")] == 1.0


def test_the_record_follows_the_networks_training() -> None:
    record = record_model(BrainRecord(), 0, None)
    assert record.training == BrainState()
    record = record_model(record, 10, 4.0)  # the first loss starts the EMA
    assert record.training == BrainState(10, 4.0)
    record = record_model(record, 30, 2.0)
    assert record.training == BrainState(30, pytest.approx(0.95 * 4.0 + 0.05 * 2.0))
    assert record_model(record, 30, 9.0).training == record.training  # no new steps: nothing to fold in
    assert record_model(record, 5, 1.0).training == BrainState(5, 1.0)  # new weights (fewer steps): start over


def test_the_record_round_trips_and_refuses_nonsense() -> None:
    record = record_model(record_step(BrainRecord(), "read_file", True), 3, 1.5)
    assert BrainRecord.from_dict(record.to_dict()) == record
    for bad in [{}, {**record.to_dict(), "outcomes": {"a": [3, 2]}}, {**record.to_dict(), "predictions": -1},
                {**record.to_dict(), "outcomes": {"a": "xy"}}]:
        with pytest.raises((ValueError, KeyError, TypeError)):
            BrainRecord.from_dict(bad)


def test_the_least_used_action_counters_go_first() -> None:
    record = BrainRecord()
    for i in range(MAX_ACTIONS):
        record = record_step(record, f"a{i}", True)
    record = record_step(record_step(record, "a1", True), "new", False)
    assert len(record.outcomes) == MAX_ACTIONS and "new" in record.outcomes and "a1" in record.outcomes and "a0" not in record.outcomes
