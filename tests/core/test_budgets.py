"""Kernel budgets: per-tick and per-day limits, day rollover, persistence across restarts, the repeat guard."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.core import BudgetError, BudgetExceeded, Budgets, ConfigError, RepeatedAction
from colony.core.budgets import KINDS, Limits
from colony.core.config import Config
from colony.core.events import Event
from colony.testing import FakeClock, RunningNode
from tests.conftest import running, write_plugin

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: the day turns 6400 seconds later


def make(clock: FakeClock | None = None, events: list[Event] | None = None, **limits: Limits) -> Budgets:
    clock = clock or FakeClock(START)
    return Budgets(limits, repeat_limit=3, clock=clock.wall, publish=None if events is None else events.append)


def test_per_tick_limit_refuses_then_a_new_tick_allows():
    events: list[Event] = []
    budgets = make(events=events, tool_calls=Limits(per_tick=2))
    budgets.begin_tick(1)
    budgets.spend("tool_calls", 1)
    budgets.spend("tool_calls", 1)
    assert budgets.remaining("tool_calls") == 0
    with pytest.raises(BudgetExceeded, match="tool_calls budget per tick exceeded") as info:
        budgets.spend("tool_calls", 1)
    assert (info.value.kind, info.value.scope, info.value.used, info.value.limit, info.value.refused) == ("tool_calls", "tick", 2, 2, "budget")
    assert [(e.topic, e.payload()) for e in events] == [
        ("budget.exceeded", {"kind": "tool_calls", "scope": "tick", "used": 2, "amount": 1, "limit": 2})
    ]
    assert budgets.snapshot()["kinds"]["tool_calls"]["tick_used"] == 2  # the refused call was not recorded
    budgets.begin_tick(2)
    budgets.spend("tool_calls", 2)
    assert budgets.snapshot()["kinds"]["tool_calls"] == {"tick_used": 2, "tick_limit": 2, "day_used": 4, "day_limit": None}


def test_per_day_limit_spans_ticks_and_rolls_over_at_utc_midnight():
    clock = FakeClock(START)
    budgets = make(clock, tokens=Limits(per_day=1000))
    assert budgets.snapshot()["day"] == "2023-11-14"
    for n in range(1, 5):
        budgets.begin_tick(n)
        budgets.spend("tokens", 250)
    with pytest.raises(BudgetExceeded, match="per day"):
        budgets.check("tokens", 1)
    budgets.check("tokens", 0)  # nothing more is still within the limit
    clock.jump(6399)
    assert budgets.remaining("tokens") == 0
    clock.jump(1)  # midnight UTC
    assert budgets.remaining("tokens") == 1000
    snapshot = budgets.snapshot()
    assert snapshot["day"] == "2023-11-15" and snapshot["kinds"]["tokens"]["day_used"] == 0


def test_remaining_is_the_tighter_limit_and_none_when_unlimited():
    budgets = make(money=Limits(per_tick=100, per_day=150), tokens=Limits())
    budgets.begin_tick(1)
    assert budgets.remaining("money") == 100
    budgets.spend("money", 90)
    budgets.begin_tick(2)
    assert budgets.remaining("money") == 60
    assert budgets.remaining("tokens") is None
    budgets.spend("tokens", 10**30)  # unlimited takes anything
    assert budgets.remaining("tokens") is None


def test_strict_false_records_past_the_limit_and_later_checks_refuse():
    budgets = make(llm_micro_usd=Limits(per_day=1000))
    budgets.begin_tick(1)
    budgets.spend("llm_micro_usd", 1500, strict=False)
    assert budgets.snapshot()["kinds"]["llm_micro_usd"]["day_used"] == 1500
    assert budgets.remaining("llm_micro_usd") == 0
    with pytest.raises(BudgetExceeded):
        budgets.spend("llm_micro_usd", 1)


@given(
    amount=st.one_of(
        st.booleans(),
        st.floats(allow_nan=True),
        st.integers(max_value=-1),
        st.text(max_size=5),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_hostile_amounts_are_refused_and_change_nothing(amount):
    budgets = make(tool_calls=Limits(per_tick=5))
    for call in (
        lambda: budgets.check("tool_calls", amount),
        lambda: budgets.spend("tool_calls", amount),
        lambda: budgets.spend("tool_calls", amount, strict=False),
    ):
        with pytest.raises((TypeError, ValueError)):
            call()
    assert budgets.snapshot()["kinds"]["tool_calls"]["tick_used"] == 0


@given(kind=st.one_of(st.text(max_size=20).filter(lambda k: k not in KINDS), st.integers(), st.none()))
def test_unknown_kinds_are_refused(kind):
    budgets = make()
    for call in (lambda: budgets.check(kind), lambda: budgets.spend(kind, 1, strict=False), lambda: budgets.remaining(kind)):
        with pytest.raises(ValueError, match="unknown budget kind"):
            call()


def test_guard_refuses_the_same_call_more_than_the_limit_in_a_row():
    events: list[Event] = []
    budgets = make(events=events)
    for _ in range(3):
        budgets.guard("read_file", {"path": "a", "limit": 10})
    with pytest.raises(RepeatedAction, match="call 4 in a row") as info:
        budgets.guard("read_file", {"limit": 10, "path": "a"})  # key order does not matter
    assert isinstance(info.value, BudgetError) and info.value.refused == "repeat"
    with pytest.raises(RepeatedAction):  # a refused call does not reset the run
        budgets.guard("read_file", {"path": "a", "limit": 10})
    assert [(e.topic, e.payload()["count"]) for e in events] == [("guard.tripped", 4), ("guard.tripped", 4)]
    budgets.guard("read_file", {"path": "b", "limit": 10})  # different params: a different call
    budgets.guard("read_file", {"path": "a", "limit": 10})
    guard = budgets.snapshot()["guard"]
    assert guard["trips"] == 2 and guard["recent_trips"][0]["action"] == "read_file"
    assert [c["run"] for c in guard["recent"]] == [1, 2, 3, 1, 1]


def test_guard_allows_interleaved_repeats():
    budgets = make()
    for _ in range(10):
        for action in ("think", "think", "think", "list_dir"):
            budgets.guard(action, {})
    assert budgets.snapshot()["guard"]["trips"] == 0


@given(params=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20))
def test_guard_takes_any_params(params):
    budgets = make()
    for _ in range(3):
        budgets.guard("act", params)
    with pytest.raises(RepeatedAction):
        budgets.guard("act", params)
    json.dumps(budgets.snapshot())


def test_guard_refuses_a_non_string_action():
    with pytest.raises(TypeError):
        make().guard(42, {})  # type: ignore[arg-type]


def test_snapshot_is_json_and_lists_every_kind():
    budgets = make(tool_calls=Limits(20, 5000))
    budgets.begin_tick(7)
    budgets.spend("money", 10**25, strict=False)  # beyond 64 bits: still JSON, still storable
    budgets.guard("write_file", {"path": "x", "content": "y" * 10_000})
    snapshot = json.loads(json.dumps(budgets.snapshot()))
    assert snapshot["tick"] == 7 and set(snapshot["kinds"]) == set(KINDS)
    assert snapshot["kinds"]["tool_calls"]["tick_limit"] == 20
    assert len(snapshot["guard"]["recent"][0]["params"]) == 200


def test_restore_ignores_another_day_and_malformed_state():
    budgets = make()
    budgets.restore({"day": "2023-11-13", "used": {"tokens": 5}})
    budgets.restore("garbage")
    budgets.restore({"day": "2023-11-14", "used": {"tokens": -3, "money": "x", "nope": 9, "tool_calls": True}})
    assert all(budgets.snapshot()["kinds"][kind]["day_used"] == 0 for kind in KINDS)
    budgets.restore({"day": "2023-11-14", "used": {"tokens": 5, "money": str(10**25)}})
    assert budgets.snapshot()["kinds"]["tokens"]["day_used"] == 5
    assert budgets.snapshot()["kinds"]["money"]["day_used"] == 10**25


def test_config_gives_the_limits_with_zero_as_unlimited():
    config = Config(environ={"COLONY_BUDGETS__TOKENS__PER_DAY": "0", "COLONY_GUARD__REPEAT_LIMIT": "5"})
    budgets = Budgets.from_config(config, FakeClock(START).wall, None)
    assert budgets.limits["tool_calls"] == Limits(20, 5000)
    assert budgets.limits["tokens"] == Limits(None, None)
    assert budgets.limits["money"] == Limits(None, 1_000_000)
    assert budgets.repeat_limit == 5
    with pytest.raises(ConfigError, match="non-negative"):
        Budgets.from_config(Config(environ={}, overrides={"budgets": {"money": {"per_day": -1}}}), FakeClock().wall, None)
    with pytest.raises(ConfigError, match="repeat_limit"):
        Budgets.from_config(Config(environ={}, overrides={"guard": {"repeat_limit": 0}}), FakeClock().wall, None)


def test_a_restart_keeps_the_days_counters_and_a_new_day_drops_them(tmp_path):
    clock = FakeClock(START)
    with RunningNode(tmp_path, clock=clock) as node:
        node.tick()
        node.run(_spend, node.kernel, "tokens", 400)
        node.tick()  # written with this tick's record
        node.run(_spend, node.kernel, "money", 7)  # written at stop
    with RunningNode(tmp_path, clock=clock) as node:
        kinds = node.call("node.budgets")["kinds"]
        assert (kinds["tokens"]["day_used"], kinds["money"]["day_used"]) == (400, 7)
        assert kinds["tokens"]["tick_used"] == 0
    clock.jump(7000)  # past midnight UTC
    with RunningNode(tmp_path, clock=clock) as node:
        snapshot = node.call("node.budgets")
        assert snapshot["day"] == "2023-11-15" and snapshot["kinds"]["tokens"]["day_used"] == 0


async def _spend(kernel, kind: str, amount: int) -> None:
    kernel.budgets.spend(kind, amount)


async def test_plugins_share_the_kernels_budgets(make_kernel, home):
    write_plugin(home, "spender", "from colony.core import Manifest\nPLUGIN = Manifest(name='spender')\nasync def colony_start(ctx):\n    ctx.budgets.spend('money', 5)\n")
    async with running(make_kernel(load=["spender"])) as kernel:
        assert kernel.budgets.snapshot()["kinds"]["money"]["day_used"] == 5
