"""The soul screen against a fake node that answers the soul's RPC methods as the issue 7 contract shapes them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fakenode import BUDGETS, TS, FakeNode, FakeSoul, Refuse
from rendered import text_of
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from tui_support import drive, wait_for

import colony.tui.app as tui_app
from colony.tui.app import ColonyApp, unix_opener
from colony.tui.cognition import CognitionScreen
from colony.tui.dialogs import ConfirmScreen
from colony.tui.soul import NudgeScreen, SoulScreen, amount, step_line

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def plan_ids(app: ColonyApp) -> list[str]:
    table = app.screen.query_one("#soul-plans", DataTable)
    return [str(key.value) for key in table.rows]


def plan_state(app: ColonyApp, plan: str) -> str:
    table = app.screen.query_one("#soul-plans", DataTable)
    return str(table.get_row(plan)[-1])


def run(short_dir: Path, scenario: Callable[[ColonyApp, Pilot, FakeNode], Awaitable[None]], soul: FakeSoul | None = None, results: dict[str, Any] | None = None, readonly: bool = False) -> None:
    """Drive the app against a fake node serving `soul`'s methods (a fresh FakeSoul by default), or `results`."""
    served = (soul or FakeSoul()).results() if results is None else results
    with FakeNode(short_dir / "n.sock", results=served) as fake:
        drive(ColonyApp(unix_opener(fake.path), readonly=readonly), lambda app, pilot: scenario(app, pilot, fake))


async def open_soul(app: ColonyApp, pilot: Pilot) -> None:
    await wait_for(pilot, lambda: app.conn_state == "connected")
    await pilot.press("o")
    await wait_for(pilot, lambda: isinstance(app.screen, SoulScreen))
    await wait_for(pilot, lambda: "tier" in text_of(app, "#soul-state") or "not running" in text_of(app, "#soul-state"), "the soul's state")


def test_the_soul_screen_shows_goal_plan_lessons_tier_breaker_and_budgets(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3", "p-4"], "the plans")
        state = text_of(app, "#soul-state")
        assert "tier T1 (fast model)" in state and "LLM configured" in state and "breaker closed" in state
        goal = text_of(app, "#soul-goal")
        assert "summarise README.md into SUMMARY.md" in goal and "priority 7" in goal and "from nudge" in goal
        assert "plan p-3 from llm · 1/4 done · 1 replan" in goal and "approved" in goal
        assert re.search(r"1 ✓ read_file .*ok", goal) and re.search(r"2 ⊘ run_shell .*refused", goal)
        assert re.search(r"3 ▶ think .*running", goal) and re.search(r"4 · write_file .*pending", goal)
        assert "read_file before write_file avoids clobbering" in text_of(app, "#soul-lessons")
        budgets = text_of(app, "#soul-budgets")
        assert re.search(r"tool_calls +█+.* 3/10 .* 412/2 k", budgets) and "$0.1845/$0.5000" in budgets and "5.4 k/∞" in budgets
        assert "repeat guard tripped 1× (last: run_shell)" in budgets
        assert plan_state(app, "p-4") == "awaiting approval" and plan_state(app, "p-3") == "approved"
        chat = text_of(app, "#soul-chat")
        assert "you  what are you working on?" in chat and "soul Summarising README.md" in chat

    run(short_dir, scenario)


def test_an_open_breaker_and_no_llm_are_shown(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: "OPEN" in text_of(app, "#soul-state"))
        state = text_of(app, "#soul-state")
        assert "tier T0 (no LLM)" in state and "no LLM configured" in state and "OPEN: 3 failed plans in a row" in state

    soul = FakeSoul()
    soul.status.update(tier="T0", llm=False, breaker={"open": True, "reason": "3 failed plans in a row"})
    run(short_dir, scenario, soul)


@pytest.mark.parametrize("remember", [True, False], ids=["listed-by-the-node", "kept-here"])
def test_chat_round_trip(short_dir: Path, remember: bool) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await pilot.press("c")
        chat_input = app.screen.query_one("#soul-input", Input)
        assert chat_input.has_focus
        await pilot.press(*"hello", "enter")  # letters go to the input, not to the screen's or the app's keys
        await wait_for(pilot, lambda: "You said: hello" in text_of(app, "#soul-chat"), "the reply")
        assert isinstance(app.screen, SoulScreen) and chat_input.value == ""
        assert fake.called("soul.chat") == [{"message": "hello"}]
        chat = text_of(app, "#soul-chat")
        assert re.search(r"you +hello *\n.*soul +You said: hello *\n *↳ read_file \{\"path\":\"README.md\"\} ✓", chat)
        fetched = len(fake.called("soul.status"))
        await wait_for(pilot, lambda: len(fake.called("soul.status")) > fetched + 1, "two more refreshes")
        assert text_of(app, "#soul-chat").count("You said: hello") == 1  # listed by soul.status or not, shown once
        await pilot.press("escape")
        assert app.screen.query_one("#soul-plans", DataTable).has_focus

    run(short_dir, scenario, FakeSoul(remember_chat=remember))


def test_nudge_through_the_dialog(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NudgeScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SoulScreen))
        assert fake.called("soul.nudge") == []
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NudgeScreen))
        app.screen.query_one("#nudge-text", Input).value = "tidy the workspace"
        await pilot.press("tab", "backspace", "9", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SoulScreen))
        await wait_for(pilot, lambda: "tidy the workspace" in text_of(app, "#soul-goal"), "the nudged goal")
        assert fake.called("soul.nudge") == [{"text": "tidy the workspace", "priority": 9}]
        assert "priority 9" in text_of(app, "#soul-goal") and "no plan yet" in text_of(app, "#soul-goal")

    run(short_dir, scenario)


def test_approve_reject_and_abandon_after_confirmation(short_dir: Path) -> None:
    async def confirm(pilot: Pilot, key: str, answer: str) -> None:
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press(answer)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SoulScreen))

    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3", "p-4"], "the plans")
        await pilot.press("down")  # the pending plan
        await confirm(pilot, "a", "n")
        assert fake.called("soul.approve") == []
        await confirm(pilot, "a", "y")
        await wait_for(pilot, lambda: plan_state(app, "p-4") == "approved", "the approval")
        assert fake.called("soul.approve") == [{"plan_id": "p-4"}]

        await confirm(pilot, "x", "y")
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3"], "the rejected plan to go")
        assert fake.called("soul.reject") == [{"plan_id": "p-4"}]
        await confirm(pilot, "x", "escape")
        assert fake.called("soul.reject") == [{"plan_id": "p-4"}]

        await confirm(pilot, "g", "y")
        await wait_for(pilot, lambda: "no current goal" in text_of(app, "#soul-goal"), "the goal to go")
        assert fake.called("soul.abandon") == [{"goal_id": "g-7"}]
        await pilot.press("g")  # nothing to abandon now: a warning, no dialog
        assert isinstance(app.screen, SoulScreen) and fake.called("soul.abandon") == [{"goal_id": "g-7"}]

    run(short_dir, scenario)


def test_a_refused_approval_is_reported(short_dir: Path) -> None:
    def refuse(params: dict[str, Any]) -> None:
        raise Refuse(-32602, f"plan {params['plan_id']} is not waiting for approval")

    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3", "p-4"], "the plans")
        await pilot.press("down", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "approve failed: plan p-4 is not waiting for approval" in text_of(app, "#soul-chat"), "the refusal")
        assert isinstance(app.screen, SoulScreen)

    run(short_dir, scenario, results={**FakeSoul().results(), "soul.approve": refuse})


def test_a_node_without_the_soul_says_so_and_still_shows_budgets(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        assert "the soul plugin is not running on this node" in text_of(app, "#soul-state")
        await wait_for(pilot, lambda: "tool_calls" in text_of(app, "#soul-budgets"), "the budgets")
        assert "no current goal" in text_of(app, "#soul-goal") and plan_ids(app) == []
        for key in ("a", "x", "g"):  # nothing to act on: warnings, no dialogs
            await pilot.press(key)
            assert isinstance(app.screen, SoulScreen)
        await pilot.press("c", *"hi", "enter")
        await wait_for(pilot, lambda: "soul.chat failed: method not found" in text_of(app, "#soul-chat"), "the refusal")

    run(short_dir, scenario, results={"node.budgets": BUDGETS})


def test_readonly_hides_every_action_and_the_chat(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3", "p-4"])
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not shown & {"chat", "nudge", "approve", "reject", "abandon"}
        assert app.screen.query_one("#soul-input", Input).disabled
        await pilot.press("n", "a", "x", "g", "c")
        assert isinstance(app.screen, SoulScreen)
        assert not [m for m, _ in fake.requests if m in ("soul.nudge", "soul.approve", "soul.reject", "soul.abandon", "soul.chat")]

    run(short_dir, scenario, readonly=True)


@pytest.mark.parametrize("topic", ["heartbeat.tick", "soul.plan"])
def test_a_tick_or_soul_event_refreshes_the_screen(short_dir: Path, monkeypatch: pytest.MonkeyPatch, topic: str) -> None:
    monkeypatch.setattr(tui_app, "POLL", 3600.0)  # no timer: only the event can bring the change
    soul = FakeSoul()

    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: "clobbering" in text_of(app, "#soul-lessons"))
        soul.status["lessons"] = ["a lesson learned just now"]
        app.feed.push({"topic": topic, "ts": TS, "data": {}})
        await wait_for(pilot, lambda: "a lesson learned just now" in text_of(app, "#soul-lessons"), "the event's refresh")

    run(short_dir, scenario, soul)


def test_the_timer_refreshes_the_screen(short_dir: Path) -> None:
    soul = FakeSoul()

    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: "tier T1" in text_of(app, "#soul-state"))
        soul.status["tier"] = "T2"
        await wait_for(pilot, lambda: "tier T2 (thinking model)" in text_of(app, "#soul-state"), "the next poll")

    run(short_dir, scenario, soul)


def test_hostile_replies_are_shown_not_crashed_on(short_dir: Path) -> None:
    results = {
        "soul.status": {"tier": {"x": 1}, "llm": "maybe", "goal": {"text": ["x"], "priority": "high", "plan": 3}, "plan": {"steps": [1, None, {"status": 5}], "replans": "x"},
                        "lessons": [None, 5, {"a": 1}], "breaker": [1], "chat": [1, {"role": 3, "text": None, "at": "noon"}, {"role": "soul", "text": "ok", "calls": [1, {"name": None}]}]},
        "soul.plans": [1, "two", {"id": 5}, {"id": "p", "steps": "many", "approved": "yes"}],
        "node.budgets": {"kinds": {"tokens": {"tick_used": "x", "tick_limit": -1, "day_used": 10**30, "day_limit": 1}, "bad": 3}, "guard": {"trips": 2, "recent_trips": [1]}},
    }

    async def scenario(app: ColonyApp, pilot: Pilot, fake: FakeNode) -> None:
        await open_soul(app, pilot)
        await wait_for(pilot, lambda: plan_ids(app) == ["p"])
        assert "tokens" in text_of(app, "#soul-budgets") and "soul" in text_of(app, "#soul-chat")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SoulScreen))

    run(short_dir, scenario, results=results)


def test_soul_screen_snapshot(snap_compare, short_dir: Path) -> None:
    async def settle(pilot: Pilot) -> None:
        app = pilot.app
        await open_soul(app, pilot)  # type: ignore[arg-type]
        await wait_for(pilot, lambda: plan_ids(app) == ["p-3", "p-4"] and "tool_calls" in text_of(app, "#soul-budgets") and "soul" in text_of(app, "#soul-chat"))
        await pilot.wait_for_scheduled_animations()

    soul = FakeSoul()
    with FakeNode(short_dir / "n.sock", results=soul.results()) as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock"), terminal_size=(150, 40), run_before=settle)


def test_steps_are_coloured_by_status() -> None:
    styles = {status: {str(span.style) for span in step_line(1, {"action": "think", "status": status}).spans} for status in ("ok", "failed", "refused", "running", "pending")}
    assert "green" in styles["ok"] and "bold red" in styles["failed"] and "yellow" in styles["refused"] and "bold cyan" in styles["running"] and "dim" in styles["pending"]
    assert isinstance(step_line(1, {"status": object()}), Text)


def test_budget_amounts() -> None:
    assert [amount("llm_micro_usd", 184_500), amount("llm_micro_usd", 12_000_000), amount("tokens", 910_000), amount("llm_micro_usd", 0.5)] == ["$0.1845", "$12.0000", "910 k", "0"]


def test_the_new_screens_and_their_keys_are_documented() -> None:
    docs = DOCS.read_text()
    ids = {b.id for b in ColonyApp.BINDINGS if b.id in ("screen.soul", "screen.cognition")}
    ids |= {b.id for screen in (SoulScreen, CognitionScreen, NudgeScreen) for b in screen.BINDINGS if b.id}
    assert ids and all(f"`{binding_id}`" in docs for binding_id in ids), sorted(i for i in ids if f"`{i}`" not in docs)
