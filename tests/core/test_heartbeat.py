"""The heartbeat pipeline: stage order, gate/plan/appraise/act/verify semantics, records, pacing."""

from __future__ import annotations

import trio
import trio.testing

from tests.conftest import running, until, write_plugin

PIPELINE = '''
from colony.core import Manifest, Step
PLUGIN = Manifest(name="pipe")
order = []

def colony_observe(tick):
    order.append("observe"); return {"temp": 21}
def colony_recall(tick):
    order.append("recall"); return ["it was warm yesterday"]
def colony_gate(tick):
    order.append("gate"); return tick.number != 2 and {"tier": "T0"}
def colony_plan(tick):
    order.append("plan")
    return [{"action": "say", "params": {"text": "hi"}}, Step("risky"), Step("nobody"), {"action": "bad"}]
def colony_appraise(tick, step):
    order.append("appraise:" + step.action); return False if step.action == "risky" else 0.5
def colony_act(tick, step):
    order.append("act:" + step.action)
    return {"said": step.params["text"]} if step.action == "say" else ("oops" if step.action == "bad" else None)
def colony_verify(tick, step, result):
    order.append("verify:" + step.action); return step.action != "bad"
def colony_reflect(tick, outcome):
    order.append("reflect"); tick.observations["pipe"]["reflected"] = outcome.ok
'''


async def test_one_tick_runs_every_stage_in_order(make_kernel, home):
    write_plugin(home, "pipe", PIPELINE)
    async with running(make_kernel(load=["pipe"])) as kernel:
        tick = await kernel.heartbeat.tick()
        order = kernel.host.plugins["pipe"].obj.order
        assert order == [
            "observe", "recall", "gate", "plan",
            "appraise:say", "act:say", "verify:say",
            "appraise:risky",
            "appraise:nobody", "act:nobody",
            "appraise:bad", "act:bad", "verify:bad",
            "reflect",
        ]  # fmt: skip
        assert tick.observations == {"pipe": {"temp": 21, "reflected": 1}}
        assert tick.memories == {"pipe": ["it was warm yesterday"]}
        assert tick.gate == {"plugin": "pipe", "decision": {"tier": "T0"}}
        assert tick.planner == "pipe"
        assert [(s.action, s.status) for s in tick.steps] == [("say", "ok"), ("risky", "vetoed"), ("nobody", "unhandled"), ("bad", "failed")]
        assert tick.steps[0].results == {"pipe": {"said": "hi"}} and tick.steps[0].appraisals == {"pipe": 0.5}
        outcome = tick.outcome
        assert (outcome.steps, outcome.ok, outcome.vetoed, outcome.unhandled, outcome.failed, outcome.errors) == (4, 1, 1, 1, 1, 0)
        assert set(tick.stages_ms) == {"observe", "recall", "gate", "plan", "act", "reflect"}


async def test_gate_false_rests_and_skips_planning(make_kernel, home):
    write_plugin(home, "pipe", PIPELINE)
    async with running(make_kernel(load=["pipe"])) as kernel:
        await kernel.heartbeat.tick()
        plugin = kernel.host.plugins["pipe"].obj
        plugin.order.clear()
        tick = await kernel.heartbeat.tick()
        assert tick.number == 2 and tick.outcome.rested and tick.steps == []
        assert plugin.order == ["observe", "recall", "gate", "reflect"]


async def test_ticks_are_persisted_numbered_and_trimmed(make_kernel, home):
    write_plugin(home, "pipe", PIPELINE)
    kernel = make_kernel(load=["pipe"], heartbeat={"keep_ticks": 3})
    async with running(kernel):
        for _ in range(5):
            await kernel.heartbeat.tick()
        records = await kernel.heartbeat.recent(10)
        assert [r["number"] for r in records] == [3, 4, 5]
        assert records[0]["steps"][0]["results"] == {"pipe": {"said": "hi"}}
    again = make_kernel(load=[])
    assert again.heartbeat.number == 5  # numbering carries on after a restart
    again.store.close()


async def test_a_bad_plan_is_a_plugin_error_not_a_crash(make_kernel, home):
    write_plugin(home, "badplan", "from colony.core import Manifest\nPLUGIN = Manifest(name='badplan')\ndef colony_plan(tick):\n    return [42]\n")
    async with running(make_kernel(load=["badplan"])) as kernel:
        tick = await kernel.heartbeat.tick()
        assert tick.steps == [] and tick.outcome.errors == 1
        assert "must be a Step" in kernel.dispatcher.stats["badplan"].last_error


async def test_a_hung_hook_is_cut_off_and_blamed(make_kernel, home):
    write_plugin(home, "sloth", "import trio\nfrom colony.core import Manifest\nPLUGIN = Manifest(name='sloth')\nasync def colony_observe(tick):\n    await trio.sleep(3600)\n")
    async with running(make_kernel(load=["sloth"], heartbeat={"tick_timeout": 0.1})) as kernel:
        tick = await kernel.heartbeat.tick()
        assert tick.outcome.errors == 1  # the tick returned at all: the hour-long hook was cut off
        assert "timed out" in kernel.dispatcher.stats["sloth"].last_error


async def test_pacing_follows_the_interval(make_kernel, home, mock_clock):
    kernel = make_kernel(load=["pulse"], heartbeat={"enabled": True, "interval": 10.0})
    async with running(kernel):
        await until(lambda: kernel.heartbeat.ticks == 1)  # the first tick is immediate
        for n in range(2, 6):
            mock_clock.jump(9.9)
            await trio.testing.wait_all_tasks_blocked()
            assert kernel.heartbeat.ticks == n - 1  # not yet
            mock_clock.jump(0.1)
            await until(lambda: kernel.heartbeat.ticks == n)
        assert kernel.host.plugins["pulse"].obj._state["pulse"].beats == 5


async def test_pulse_exposes_tick_metrics(make_kernel, home):
    async with running(make_kernel(load=["pulse"])) as kernel:
        for _ in range(3):
            await kernel.heartbeat.tick()
        gauges = dict(await kernel.dispatcher.collect("colony_metrics"))["pulse"]
        assert gauges["beats"] == 3 and gauges["tick_ms_mean"] > 0
        assert kernel.store.get("pulse", "beats") == 3


LOOPER = '''
from colony.core import Manifest
PLUGIN = Manifest(name="looper")

def colony_plan(tick):
    return [{"action": "poke", "params": {"n": 1}}] * 5 + [{"action": "poke", "params": {"n": 2}}]
def colony_appraise(tick, step):
    return {"vote": 0.5}
def colony_act(tick, step):
    return {"poked": step.params["n"]}
'''

VOTER = """
from colony.core import Manifest, hookimpl
PLUGIN = Manifest(name="{name}")
seen = []

@hookimpl({order}=True)
def colony_appraise(tick, step):
    seen.append(dict(step.appraisals))
    return {{"vote": 1, "saw": len(step.appraisals)}}
"""


async def test_the_guard_refuses_a_step_repeated_too_often_in_a_row(make_kernel, home):
    write_plugin(home, "looper", LOOPER)
    async with running(make_kernel(load=["looper"])) as kernel:
        tick = await kernel.heartbeat.tick()
        assert [s.status for s in tick.steps] == ["ok", "ok", "ok", "refused", "refused", "ok"]
        refused = tick.steps[3]
        assert refused.results == {"kernel": {"error": refused.results["kernel"]["error"], "refused": "repeat"}}
        assert "repeated action 'poke'" in refused.results["kernel"]["error"]
        assert refused.appraisals == {"looper": {"vote": 0.5}} and refused.verdicts == {}
        assert (tick.outcome.ok, tick.outcome.refused, tick.outcome.errors) == (4, 2, 0)
        assert tick.to_dict()["outcome"]["refused"] == 2
        assert [e.topic for e in kernel.bus.recent].count("guard.tripped") == 2
        snapshot = kernel.budgets.snapshot()
        assert snapshot["kinds"]["tool_calls"]["tick_used"] == 4 and snapshot["guard"]["trips"] == 2


async def test_a_tool_call_budget_refuses_steps_past_the_limit(make_kernel, home):
    write_plugin(home, "pipe", PIPELINE)
    kernel = make_kernel(load=["pipe"], budgets={"tool_calls": {"per_tick": 2}})
    async with running(kernel):
        tick = await kernel.heartbeat.tick()
        # say and nobody spend a call (risky was vetoed, so it spends none); bad is refused
        assert [(s.action, s.status) for s in tick.steps] == [("say", "ok"), ("risky", "vetoed"), ("nobody", "unhandled"), ("bad", "refused")]
        assert tick.steps[3].results["kernel"]["refused"] == "budget"
        assert "tool_calls budget per tick exceeded" in tick.steps[3].results["kernel"]["error"]
        assert (tick.outcome.refused, tick.outcome.failed) == (1, 0)
        assert "act:bad" not in kernel.host.plugins["pipe"].obj.order
        assert any(e.topic == "budget.exceeded" for e in kernel.bus.recent)
        await kernel.heartbeat.tick()  # gate rests on tick 2
        tick = await kernel.heartbeat.tick()  # a new tick has a fresh per-tick budget
        assert tick.outcome.refused == 1 and kernel.budgets.snapshot()["kinds"]["tool_calls"]["day_used"] == 4


async def test_appraisers_see_the_appraisals_before_them(make_kernel, home):
    write_plugin(home, "early", VOTER.format(name="early", order="tryfirst"))
    write_plugin(home, "late", VOTER.format(name="late", order="trylast"))
    write_plugin(home, "looper", LOOPER)
    async with running(make_kernel(load=["early", "late", "looper"])) as kernel:
        tick = await kernel.heartbeat.tick()
        assert kernel.host.plugins["early"].obj.seen[0] == {}
        assert kernel.host.plugins["late"].obj.seen[0] == {"early": {"vote": 1, "saw": 0}, "looper": {"vote": 0.5}}
        assert tick.steps[0].appraisals["late"] == {"vote": 1, "saw": 2}
