"""The shared plumbing of the cognitive-system plugins (plugins/cognition/system.py) on a real store."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from colony.core import Step, Tick
from colony.core.store import Store, StoreError
from colony.plugins.cognition.rules.cortex import Cortex, dream, record
from colony.plugins.cognition.rules.genesis import GenePool, record_success
from colony.plugins.cognition.rules.hivemind import Hivemind, deposit, update_peer_activity, update_reputation
from colony.plugins.cognition.rules.synthesis import Vote
from colony.plugins.cognition.system import (
    NOT_RUNNING,
    System,
    due,
    failure_text,
    fired,
    goal,
    learning_steps,
    lessons,
    numbers,
    panel,
    rng,
    rounded,
    stop,
    vote_dict,
    votes,
)


@dataclass(frozen=True)
class Counter:
    """A tiny learned state in the rule modules' style."""

    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counter:
        if not isinstance(data["n"], int) or data["n"] < 0:
            raise ValueError("n must be a natural number")
        return cls(data["n"])


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """What System reads of a plugin context: its name, log and store namespace (a real LMDB store)."""
    store = Store(tmp_path / "store")
    yield SimpleNamespace(name="counter", log=logging.getLogger("colony.plugin.counter"), store=store.namespace("counter"))
    store.close()


async def committed(ctx: SimpleNamespace) -> None:
    """Wait until the store has committed every queued write (saves are queued, not awaited)."""
    await ctx.store.store.commit([])


async def test_saves_are_queued_in_order_and_a_load_sees_them(ctx: SimpleNamespace) -> None:
    system = System.load(ctx, Counter.from_dict, Counter)
    for n in range(1, 6):
        system.state = Counter(n)
        await system.save()
    assert System.load(ctx, Counter.from_dict, Counter).state == Counter(5)  # load waits for queued writes
    system.state = Counter(2**70)
    with pytest.raises(StoreError):
        await system.save()  # a state the store cannot hold fails in the hook, not later


async def test_loads_saves_and_recovers_from_a_corrupt_state(ctx: SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    system = System.load(ctx, Counter.from_dict, Counter)
    assert system.state == Counter() and system.recovered == ""
    system.state = Counter(3)
    await system.save()
    assert System.load(ctx, Counter.from_dict, Counter).state == Counter(3)

    await ctx.store.put("state", {"n": "three"})
    recovered = System.load(ctx, Counter.from_dict, Counter)
    assert recovered.state == Counter() and recovered.recovered == "ValueError: n must be a natural number"
    assert "stored counter state is unreadable" in caplog.text
    await recovered.save()  # the unreadable state is kept aside once
    await committed(ctx)
    assert ctx.store.get("state.corrupt") == {"n": "three"} and ctx.store.get("state") == {"n": 0}


async def test_close_saves_only_a_changed_state(ctx: SimpleNamespace) -> None:
    old = System.load(ctx, Counter.from_dict, Counter)
    new = System.load(ctx, Counter.from_dict, Counter)  # a swap: the new copy loads while the old runs
    new.state = Counter(5)
    await new.save()
    await stop({"system": old})  # the old copy is clean: it must not overwrite what the new one saved
    await committed(ctx)
    assert ctx.store.get("state") == {"n": 5}
    assert new.merge("peer", 2, 0.5, lambda ours, theirs, rate: replace(ours, n=ours.n + theirs)) is True
    running = {"system": new, "other": 1}
    await stop(running)
    await committed(ctx)
    assert running == {} and ctx.store.get("state") == {"n": 7}


def test_merge_applies_to_a_copy_and_refuses_anything_wrong(ctx: SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    system = System.load(ctx, Counter.from_dict, Counter)

    def add(ours: Counter, theirs: Any, rate: float) -> Counter:
        return replace(ours, n=ours.n + int(theirs["n"] * rate))

    assert system.merge("peer", {"n": 10}, 0.5, add) and system.state == Counter(5) and system.dirty
    for data, rate in [({"n": 10}, 1.5), ({"n": 10}, float("nan")), ({"n": 10}, True), ({"n": 10}, "0.5"),
                       ({"x": 1}, 0.5), ("junk", 0.5), ({"n": -100}, 1.0), ({"n": 2**70}, 1.0)]:
        assert system.merge("peer", data, rate, add) is False
    assert system.state == Counter(5)
    assert "merge from peer ignored: rate 1.5 is not a number in [0, 1]" in caplog.text
    assert "merge from peer ignored: ValueError: n must be a natural number" in caplog.text  # −100 · 1 < 0
    assert "merge from peer ignored: OverflowError" in caplog.text  # 2⁷⁰ cannot be stored

    def in_place(ours: dict[str, int], theirs: Any, rate: float) -> None:
        ours["n"] += 1
        raise KeyError("half way")

    keyed = System(ctx, {"n": 1}, dict, dict, "keyed")
    assert keyed.merge("peer", {}, 0.5, in_place) is False and keyed.state == {"n": 1}  # the copy took the damage


def test_votes_are_dicts_with_a_numeric_vote() -> None:
    found = votes({
        "cortex": {"vote": 0.5, "confidence": 0.2, "reason": "seen it"},
        "brain": False,
        "pulse": {"ok": True},
        "loud": {"vote": 7, "confidence": -3},
        "shy": {"vote": -0.5},
        "nan": {"vote": float("nan")},
        "flag": {"vote": True},
        "text": {"vote": "yes"},
        "huge": {"vote": 10**400},
        "huge_confidence": {"vote": 0.25, "confidence": -(10**400)},
    })
    assert found == {"cortex": Vote("cortex", 0.5, 0.2, "seen it"), "loud": Vote("loud", 1.0, 0.0), "shy": Vote("shy", -0.5, 1.0), "huge_confidence": Vote("huge_confidence", 0.25, 1.0)}
    assert vote_dict(Vote("x", 0.123456, 0.5, "why")) == {"vote": 0.1235, "confidence": 0.5, "reason": "why"}


def test_reads_of_the_tick() -> None:
    steps = [Step("a", status="ok"), Step("b", status="failed", results={"tools": {"error": "no such file"}, "kernel": {"refused": "budget"}}),
             Step("c", status="vetoed"), Step("d", status="refused", results={"kernel": {"error": "budget exceeded"}})]
    tick = Tick(4, 0.0, observations={"colony_state": {"fired": ["cortex_dreaming"]}, "soul": {"goal": {"text": "t"}}}, steps=steps)
    assert learning_steps(tick) == steps[:2]
    assert failure_text(steps[1]) == "no such file" and failure_text(steps[3]) == "budget exceeded" and failure_text(steps[0]) == ""
    assert fired(tick, "cortex_dreaming") and not fired(tick, "genesis_evolution")
    assert goal(tick) == {"text": "t"} and goal(Tick(1, 0.0, observations={"soul": {"goal": "x"}})) is None
    assert rng("cortex", tick).random() == rng("cortex", tick).random() != rng("genesis", tick).random()
    limited = Step("e", status="failed", results={"tools": {"error": "HTTP 429 Too Many Requests"}})
    assert lessons(Tick(5, 0.0, steps=[*steps, limited])) == [(steps[0], None), (steps[1], "file_not_found")]
    assert due(tick, ("genesis_evolution", "cortex_dreaming"), 0) and not due(tick, ("genesis_evolution",), 4)
    assert due(Tick(20, 0.0), ("cortex_dreaming",), 10) and not due(Tick(21, 0.0), ("cortex_dreaming",), 10)
    assert not due(Tick(20, 0.0), ("cortex_dreaming",), 0)
    assert numbers({"a": 1, "b": 0.5, 3: 2, "c": True, "d": float("nan"), "e": "1"}) == {"a": 1.0, "b": 0.5, "3": 2.0}
    assert numbers(["a", 1]) == {} and numbers(None) == {}


def test_rounding_and_panels() -> None:
    assert rounded({"a": [1.234567, (2.0000001, "x")], "b": float("inf"), "c": 3}) == {"a": [1.2346, [2.0, "x"]], "b": 0.0, "c": 3}
    assert panel({"x": 0.123456}) == {"gauges": {"x": 0.1235}}
    assert panel({"x": 1}, series={"s": [0.11111]}, table=(["a"], [[0.55556]]), text="t") == {
        "gauges": {"x": 1}, "series": {"s": [0.1111]}, "table": {"columns": ["a"], "rows": [[0.5556]]}, "text": "t"}
    assert NOT_RUNNING == {"text": "not running"}


def test_the_fast_to_dict_of_the_pools_is_asdicts_output() -> None:
    # cortex, genesis and hivemind save once per tick: their to_dict copies one level instead of asdict's deep copy.
    cortex, rng = Cortex(), random.Random(1)
    for i in range(300):
        record(cortex, rng.choice("abcd"), ["x", "y"][: i % 3], rng.random() < 0.6, 1.0, 1e9 + i)
    dream(cortex, 1e9 + 400, rng)
    assert cortex.to_dict() == {**asdict(cortex), "edges": [asdict(e) for e in cortex.edges.values()]}
    hive = Hivemind()
    deposit(hive, "a.py", "file", 0.5, "me", 1.0)
    update_reputation(hive, "peer", 0.5, 0.4)
    update_peer_activity(hive, "peer", "a goal", 0.5, "explore", 2.0)
    assert hive.to_dict() == {"trails": [asdict(t) for t in hive.trails.values()],
                              "peer_activities": [asdict(a) for a in hive.peer_activities.values()],
                              "reputations": {p: asdict(r) for p, r in hive.reputations.items()}, "total_deposits": 1,
                              "evaporation_cycles": 0}
    pool = GenePool()
    record_success(pool, "tidy the parser", ["read_file", "write_file"], "me", True, 1.0)
    assert pool.to_dict() == asdict(pool)
    copied = pool.to_dict()
    copied["templates"][0]["step_types"].append("think")
    assert pool.templates[0].step_types == ["read_file", "write_file"]  # plain data, not views of the state
