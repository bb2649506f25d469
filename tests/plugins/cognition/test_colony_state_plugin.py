"""The colony_state plugin on a real node: Ψ, the Bloch sphere, the oscillators, fitness from the node's numbers, and `cognition.overview`."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.cognition.rules.colony_state import Bloch, bloch_merge_rate, merge_bloch
from colony.testing import RunningNode
from tests.plugins.cognition.cognition_harness import VOTER, cognition_node, exported, merge_state, ticks
from tests.plugins.cognition.system_checks import JUNK_OBSERVATIONS, reflect_on, BAD_VALUES, FIXED, JUNK, fixed, healthy, observed, replace_stored, saved

STAND_INS = {
    "evaluation": {"brier": {"brain": 0.25}, "sync_benefit": 0.5, "records": 0},
    "free_energy": {"F": 0.4, "trend": -0.2, "regime": "learn"},
    "cortex": {"accuracy": 0.8, "predictions": 10, "experiences": 10},
    "feedback": {"lessons": 5, "rules": 0, "failure_rate": 0.2, "plans": {"completed": 3, "completed_trivial": 1, "failed": 1}},
}
OVERVIEW_KEYS = {"tick", "systems", "F", "regime", "psi", "psi_trend", "fitness", "bloch", "fired"}


def node_for(home: Path, stand_ins: dict[str, dict[str, Any]] = STAND_INS, plan: list[str] | None = None) -> RunningNode:
    """colony_state with stand-ins for the systems it reads, and a third-party voter that makes no observation."""
    config = {**{name: fixed(seen) for name, seen in stand_ins.items()}, "oracle": {"vote": 0.5, "confidence": 1.0}}
    return cognition_node(home, "colony_state", plan=plan or ["write_file:ok"], dropins={**dict.fromkeys(stand_ins, FIXED), "oracle": VOTER},
                          config=config)


def pay(node: RunningNode, amount: int) -> None:
    """A settled payment, as the gateway reports it."""
    assert node.kernel is not None
    receipt = {"payer": "0xabc", "pay_to": "0xdef", "amount": amount, "network": "eip155:31337", "transaction": "0x1", "route": "GET /x"}
    node.run(functools.partial(node.kernel.dispatcher.collect, "colony_payment_settled", receipt=receipt))


def test_overview_has_the_contract_shape_and_every_system(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        assert node.call("cognition.overview")["tick"] == 0
        ticks(node, 2)
        overview = node.call("cognition.overview")
        assert set(overview) == OVERVIEW_KEYS
        assert set(overview["bloch"]) == {"theta", "phi", "exploration", "regime"}
        assert overview["tick"] == 2
        assert (overview["F"], overview["regime"]) == (0.4, "learn")  # free energy's own reading
        assert {"evaluation", "free_energy", "cortex", "feedback", "colony_state"} <= set(overview["systems"])
        assert overview["systems"]["cortex"] == STAND_INS["cortex"]
        assert overview["systems"]["oracle"] == {"vote": 0.5, "confidence": 1.0}  # a tenth system, seen by its vote
        assert healthy(node, "colony_state")


def test_psi_and_the_bloch_sphere_worked_by_hand(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        seen = observed(ticks(node, 2)[1], "colony_state")
    # Ψ = (max(I, 0.01)·(S + 0.1)·(D + 0.1)·(V + 0.1))^¼ with I = 0 (no benchmark), S = evaluation's 0.5,
    # D = 0 (no peers), V = −(−0.2) = 0.2: (0.01·0.6·0.1·0.3)^¼ = (1.8e-4)^¼ ≈ 0.11583.
    psi = (0.01 * 0.6 * 0.1 * 0.3) ** 0.25
    assert seen["psi"] == pytest.approx(psi, abs=1e-4)
    assert seen["psi_trend"] == pytest.approx(psi, abs=1e-4)  # from 0
    # dθ = 0.3·(−0.2) = −0.06, so θ = π/2 − 0.06; Ψ rose, so φ heads for π: dφ = 0.2·Ψ_trend·(+1).
    assert seen["bloch"]["theta"] == pytest.approx(math.pi / 2 - 0.06, abs=1e-4)
    assert seen["bloch"]["phi"] == pytest.approx(0.2 * psi, abs=1e-4)
    assert seen["bloch"]["exploration"] == pytest.approx((math.pi / 2 - 0.06) / math.pi, abs=1e-4)
    assert seen["bloch"]["regime"] == "LEARN"


def test_fitness_comes_from_the_nodes_own_numbers(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        pay(node, 250)
        pay(node, 750)
        ticks(node, 1)
        state = node.call("cognition.colony")
    assert {k: state["counters"][k] for k in ("payments", "received", "changes", "ticks")} == {
        "payments": 2, "received": 1000, "changes": 1, "ticks": 1}
    # economic: 2 payments / max(0 priced routes, 1) = 2, saturating: 2/(2 + 5) = 0.2857
    # execution: 3 completed of 5 plans (trivial ones do not count), ramped over 5 plans: 0.6
    # evolution: fewer than 20 cycles: 0.1; coordination: no peer calls: 0.1; introspection: no beliefs: 0.1
    # prediction: cortex accuracy 0.8 over 10 predictions, ramped from 0.1 over 20: 0.1·0.5 + 0.8·0.5 = 0.45
    components = {"economic": 2 / 7, "execution": 0.6, "evolution": 0.1, "coordination": 0.1, "introspection": 0.1, "prediction": 0.45}
    assert state["fitness"]["components"] == pytest.approx(components, abs=1e-4)
    # 0.2·0.2857 + 0.25·0.6 + 0.15·0.1 + 0.1·0.1 + 0.1·0.1 + 0.2·0.45 = 0.3321
    assert state["fitness"]["total"] == pytest.approx(0.2 * 2 / 7 + 0.15 + 0.015 + 0.01 + 0.01 + 0.09, abs=1e-4)


def test_oscillators_fire_and_say_so(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        records = ticks(node, 8)
        events = node.call("events.recent", topics=["cognition.fired"])
    assert events, "no oscillator fired in 8 ticks (peer_sync's natural period is 5)"
    first = events[0]["data"]
    assert first["ops"] and first["tick"] < 8
    # What fired in a tick's reflect is in colony_state's observation of the next tick.
    assert observed(records[first["tick"]], "colony_state")["fired"] == first["ops"]


def test_a_peer_merge_moves_the_sphere_and_counts_the_peer(tmp_path: Path) -> None:
    with node_for(tmp_path / "a", {**STAND_INS, "free_energy": {"F": 0.4, "trend": 0.3, "regime": "learn"}}) as peer:
        ticks(peer, 3)
        shared = exported(peer, "colony_state")
    assert set(shared) == {"bloch", "fitness", "pass_at_1", "psi"} and shared["pass_at_1"] is None
    with node_for(tmp_path / "b") as node:
        ticks(node, 2)
        before = node.call("cognition.colony")
        merge_state(node, "colony_state", shared, 0.0)  # rate 0: remembered, not moved
        assert node.call("cognition.colony")["bloch"]["theta"] == before["bloch"]["theta"]
        merge_state(node, "colony_state", shared, 0.4)
        after = node.call("cognition.colony")
    ours = Bloch(before["bloch"]["theta"], before["bloch"]["phi"], before["bloch"]["d_theta"], before["bloch"]["d_phi"])
    theirs = Bloch(shared["bloch"]["theta"], shared["bloch"]["phi"])
    expected = merge_bloch(ours, theirs, bloch_merge_rate(shared["fitness"], before["fitness"]["total"]))
    assert after["bloch"]["theta"] == pytest.approx(expected.theta, abs=1e-4)
    assert after["bloch"]["phi"] == pytest.approx(expected.phi, abs=1e-4)
    assert after["peers"]["peer-a"]["fitness"] == pytest.approx(shared["fitness"], abs=1e-4)


def test_state_survives_a_restart_and_a_corrupt_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with node_for(home) as node:
        pay(node, 5)
        ticks(node, 3)
        before = node.call("cognition.colony")
    with node_for(home) as node:
        assert node.call("cognition.colony") == before
        replace_stored(node, "colony_state", "state", {"psi": {"value": "high"}})
        assert node.call("cognition.colony")["counters"]["ticks"] == 0
        ticks(node, 1)
        assert saved(node, "colony_state", "state.corrupt") == {"psi": {"value": "high"}}
        assert healthy(node, "colony_state")


def test_hostile_merges_are_ignored(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:
        ticks(node, 2)
        before = node.call("cognition.colony")
        valid = {"bloch": {"theta": 1.0, "phi": 0.5}, "fitness": 0.5, "pass_at_1": None, "psi": 0.2}

        @settings(max_examples=60, deadline=None)
        @given(junk=JUNK, bad=BAD_VALUES, angle=st.sampled_from([float("nan"), float("inf"), True, None, "1.5", [1]]))
        def check(junk: Any, bad: Any, angle: Any) -> None:
            merge_state(node, "colony_state", junk, 0.4)
            merge_state(node, "colony_state", valid, bad)
            merge_state(node, "colony_state", {**valid, "fitness": bad}, 0.4)
            merge_state(node, "colony_state", {**valid, "bloch": {"theta": angle, "phi": 0.0}}, 0.4)
            assert node.call("cognition.colony") == before

        check()
        assert healthy(node, "colony_state")


def test_junk_observations_and_votes_never_break_it(tmp_path: Path) -> None:
    with node_for(tmp_path / "home") as node:

        @settings(max_examples=80, deadline=None)
        @given(observations=JUNK_OBSERVATIONS, appraisals=JUNK)
        def check(observations: Any, appraisals: Any) -> None:
            reflect_on(node, "colony_state", observations, appraisals)
            overview = node.call("cognition.overview")
            assert set(overview) == OVERVIEW_KEYS and 0 <= overview["bloch"]["exploration"] <= 1

        check()
        assert healthy(node, "colony_state")
