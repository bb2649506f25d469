"""The free_energy plugin on a real node: F(t) from the other systems' observations, its trend and regime, kept across restarts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import cognition_node, exported, merge_state, ticks
from tests.plugins.cognition.system_checks import JUNK_OBSERVATIONS, reflect_on, FIXED, fixed, healthy, observed, replace_stored, saved

# What the other systems report (stand-ins, so the numbers are known).
SYSTEMS = {
    "evaluation": {"brier": {"brain": 0.2, "cortex": 0.3}, "sync_benefit": 0.0, "records": 10},
    "cortex": {"accuracy": 0.7, "experiences": 10, "predictions": 10},
    "genesis": {"templates": 2, "mean_fitness": 0.6, "created": 4},
    "hivemind": {"trails": 3, "covered_actions": ["read_file", "write_file"], "deposits": 6},
    "synthesis": {"weights": {"brain": 0.4, "cortex": 0.3, "genesis": 0.2, "hivemind": 0.1}, "conflicts": 1, "predictions": 4},
}


def node_for(home: Path, systems: dict[str, dict[str, Any]] = SYSTEMS, **config: Any) -> RunningNode:
    """free_energy with stand-ins for the systems it reads."""
    return cognition_node(home, "free_energy", plan=["read_file:ok"], dropins=dict.fromkeys(systems, FIXED),
                          config={**{name: fixed(seen) for name, seen in systems.items()}, "free_energy": config})


def test_f_is_computed_from_the_observations(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        records = ticks(node, 3)
        seen = observed(records[1], "free_energy")  # computed in tick 1's reflect
        # H: brain 0.2/0.5 = 0.4; cortex 1 − 0.7 = 0.3; genesis 1 − 0.6 = 0.4; hivemind 1 − 2/8 = 0.75;
        # synthesis 1/4 = 0.25. Complexity (10 + 2 + 3) / (10 + 4 + 6) = 0.75.
        # F = 0.4·0.4 + 0.3·0.3 + 0.2·0.4 + 0.1·0.75 + 0.1·0.25 + 0.01·0.75
        #   = 0.16 + 0.09 + 0.08 + 0.075 + 0.025 + 0.0075 = 0.4375: between 0.3 and 0.6, learn.
        assert seen["F"] == pytest.approx(0.4375)
        assert seen["surprises"] == pytest.approx({"brain": 0.4, "cortex": 0.3, "genesis": 0.4, "hivemind": 0.75, "synthesis": 0.25})
        assert (seen["regime"], seen["trend"]) == ("learn", 0.0)
        report = node.call("free_energy.report")
        assert report["readings"] == 3 and report["history"] == pytest.approx([0.4375] * 3)
        assert healthy(node, "free_energy")


def test_with_no_systems_f_is_the_prior_of_a_node_that_knows_nothing(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", {}) as node:
        first, second = ticks(node, 2)
        # H: brain 0.25/0.5 = 0.5, cortex 0.5, genesis 0.8 (empty pool), hivemind 1, synthesis 0.5; complexity 1.
        # F = 0.25·(0.5 + 0.5 + 0.8 + 1) + 0.1·0.5 + 0.01·1 = 0.7 + 0.05 + 0.01 = 0.76: explore.
        for record in (first, second):
            assert observed(record, "free_energy")["F"] == pytest.approx(0.76)
            assert observed(record, "free_energy")["regime"] == "explore"


def test_the_regime_thresholds_are_configurable(tmp_path: Path) -> None:
    with node_for(tmp_path / "home", explore_above=0.4) as node:
        assert observed(ticks(node, 2)[1], "free_energy")["regime"] == "explore"  # 0.4375 > 0.4


def test_a_rising_f_is_an_anomaly(tmp_path: Path) -> None:
    rising = {**SYSTEMS, "cortex": {"accuracy": 0.7}}
    home = tmp_path / "home"
    with node_for(home, rising, anomaly_trend=0.01) as node:
        ticks(node, 7)  # seven readings of F = 0.435 (complexity (0 + 2 + 3) / (0 + 4 + 6) = 0.5 adds 0.005)
    # Same history, now the cortex is right far less often: F = 0.435 + 0.3·(0.9 − 0.3) = 0.615.
    with node_for(home, {**rising, "cortex": {"accuracy": 0.1}}, anomaly_trend=0.01) as node:
        seen = observed(ticks(node, 2)[1], "free_energy")
    # Slope of 0.435 ×7 then 0.615 over x = 0..7: (7 − 3.5)·0.18 / Σ(x − 3.5)² = 0.63 / 42 = 0.015 > 0.01.
    assert seen["F"] == pytest.approx(0.615)
    assert seen["trend"] == pytest.approx(0.015)
    assert seen["regime"] == "anomaly"  # before explore, though F > 0.6


def test_history_survives_a_restart_and_a_corrupt_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with node_for(home) as node:
        ticks(node, 4)
        before = node.call("free_energy.report")
    with node_for(home) as node:
        assert node.call("free_energy.report") == before
        replace_stored(node, "free_energy", "state", {"history": "not a list"})
        assert node.call("free_energy.report")["readings"] == 0
        ticks(node, 1)
        assert node.call("free_energy.report")["readings"] == 1
        assert saved(node, "free_energy", "state.corrupt") == {"history": "not a list"}
        assert healthy(node, "free_energy")


def test_free_energy_shares_nothing_with_peers(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        ticks(node, 2)
        before = node.call("free_energy.report")
        assert exported(node, "free_energy") is None  # F is derived from the systems that do sync (digest §4.7)
        merge_state(node, "free_energy", {"F": 0.1}, 0.4)
        assert node.call("free_energy.report") == before


def test_junk_observations_never_break_it(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:

        @settings(max_examples=80, deadline=None)
        @given(observations=JUNK_OBSERVATIONS)
        def check(observations: Any) -> None:
            reflect_on(node, "free_energy", observations)
            seen = node.call("free_energy.report")
            assert math.isfinite(seen["F"]) and seen["F"] >= 0 and seen["regime"] in ("explore", "learn", "exploit", "anomaly")

        check()
        assert healthy(node, "free_energy")
