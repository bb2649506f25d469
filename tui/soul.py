"""The soul screen: chat, the current goal and its plan step by step, lessons, tier, breaker and budgets; nudge and plan approval."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from colony.core.client import Disconnected, ProtocolError, RPCError

from .dialogs import ConfirmScreen
from .format import as_dict, as_list, clock, number, short, si
from .live import LiveScreen, Missing
from .meters import bar
from .tables import fill, selected_key

TIERS = {"T0": ("no LLM", "yellow"), "T1": ("fast model", "green"), "T2": ("thinking model", "bold magenta")}
GOAL_STYLES = {"active": "bold cyan", "done": "green", "failed": "bold red", "abandoned": "dim"}
STEPS = {  # status: (mark, style)
    "pending": ("·", "dim"),
    "running": ("▶", "bold cyan"),
    "ok": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "vetoed": ("⊘", "magenta"),
    "refused": ("⊘", "yellow"),
    "unhandled": ("?", "dark_orange"),
    "skipped": ("-", "dim"),
}
ROLES = {"operator": ("you", "bold cyan"), "soul": ("soul", "bold magenta"), "note": ("···", "yellow")}
PLAN_COLUMNS = ("plan", "goal", "source", "steps", "replans", "state")
PLAN_DECISIONS = {  # verb: (what the plan is then, the confirmation asked first)
    "approve": ("approved", "Approve plan {plan}? The soul will run its steps: {steps}."),
    "reject": ("rejected", "Reject plan {plan}? The soul drops it and plans the goal again."),
}
ENDED = ("rejected", "failed", "done")  # plan statuses after which approval no longer applies
CHAT_CHARS = 4000  # of one message, shown (the soul keeps as many)
UNANSWERED = "no answer in time; the reply shows here once the soul lists it"


def compact(value: Any, limit: int = 60) -> str:
    """Step params or a result as short one-line JSON."""
    if isinstance(value, dict) and not value:
        return ""
    return short(json.dumps(value, separators=(",", ":"), default=str), limit)


def step_line(index: int, step: dict[str, Any]) -> Text:
    """One plan step: its number, a status mark and colour, the action, its params and (once run) its result."""
    status = str(step.get("status", "pending"))
    mark, style = STEPS.get(status, ("?", ""))
    line = Text.assemble((f"{index:>3} ", "dim"), (f"{mark} ", style), (f"{short(step.get('action', '?'), 24)} ", "bold"), (compact(step.get("params")), "dim"))
    line.append(f"  {status}", style)
    if status in ("ok", "failed", "refused") and step.get("result") is not None:
        line.append(f"  → {compact(step.get('result'), 80)}", "dim" if status == "ok" else style)
    return line


def goal_view(goal: dict[str, Any], plan: dict[str, Any]) -> RenderableType:
    """The current goal and its plan, step by step."""
    if not goal:
        return Text("no current goal: nudge the soul (n), or wait for autonomy to pick one", style="dim")
    status = str(goal.get("status", "?"))
    parts: list[RenderableType] = [
        Text(short(goal.get("text", "?"), 300), style="bold"),
        Text.assemble(
            (status, GOAL_STYLES.get(status, "")),
            (f" · priority {int(number(goal.get('priority')))} · from {short(goal.get('source', '?'), 20)}", ""),
            (f" · since {clock(goal.get('created'))} · {short(goal.get('id', '?'), 24)}", "dim"),
        ),
        Text(""),
    ]
    if not plan:
        parts.append(Text("no plan yet", style="dim"))
        return Group(*parts)
    steps = [as_dict(step) for step in as_list(plan.get("steps"))]
    done = sum(1 for step in steps if step.get("status") == "ok")
    replans = int(number(plan.get("replans")))
    parts.append(
        Text.assemble(
            ("plan ", "bold"),
            (short(plan.get("id", "?"), 24), ""),
            (f" from {short(plan.get('source', '?'), 20)} · {done}/{len(steps)} done", ""),
            (f" · {replans} replan{'s' * (replans != 1)}  ", "dim"),
            plan_state(plan),
            ("" if plan.get("approved") or plan.get("status") in ENDED else " (a approves, x rejects)", "dim"),
        )
    )
    parts.extend(step_line(index, step) for index, step in enumerate(steps, 1))
    return Group(*parts)


def amount(kind: str, value: Any) -> str:
    """A budget amount: LLM cost (millionths of a dollar) in dollars, anything else with an SI suffix."""
    if kind != "llm_micro_usd" or isinstance(value, bool) or not isinstance(value, int):
        return si(value)
    return f"${value // 1_000_000}.{value % 1_000_000 // 100:04d}"


def budget_view(snapshot: dict[str, Any]) -> RenderableType:
    """Every budget kind as two bars, this tick and today, with used/limit (∞ when unlimited)."""
    kinds = {str(kind): entry for kind, entry in as_dict(snapshot.get("kinds")).items() if isinstance(entry, dict)}
    if not kinds:
        return Text("no budgets reported", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim")
    for _ in range(2):
        table.add_column()
        table.add_column(justify="right")
    table.add_row("", Text("tick", style="dim"), "", Text("day", style="dim"), "")
    for kind, entry in kinds.items():
        cells: list[RenderableType] = [short(kind, 16)]
        for period in ("tick", "day"):
            used, limit = entry.get(f"{period}_used"), entry.get(f"{period}_limit")
            cells += [bar(used, limit), f"{amount(kind, used)}/{amount(kind, limit) if limit is not None else '∞'}"]
        table.add_row(*cells)
    guard = as_dict(snapshot.get("guard"))
    trips, recent = int(number(guard.get("trips"))), as_list(guard.get("recent_trips"))
    if trips:
        last = f" (last: {short(as_dict(recent[-1]).get('action', '?'), 30)})" if recent else ""
        return Group(table, Text(f"repeat guard tripped {trips}×{last}", style="yellow"))
    return table


def state_line(status: dict[str, Any]) -> Text:
    """Tier, whether an LLM is configured, and the circuit breaker."""
    tier = short(status.get("tier", "?"), 8)
    what, style = TIERS.get(tier, ("?", ""))
    breaker = as_dict(status.get("breaker"))
    reason = short(status.get("reason") or "", 80)
    line = Text.assemble(("tier ", "dim"), (tier, style), (f" ({reason or what})", "dim"), ("  ·  ", "dim"))
    line.append_text(Text("LLM configured", style="green") if status.get("llm") else Text("no LLM configured", style="yellow"))
    line.append("  ·  breaker ", "dim")
    if breaker.get("open"):
        line.append(f"OPEN: {short(breaker.get('reason', ''), 120)}", "bold red")
    else:
        line.append("closed", "green")
    return line


def chat_rows(entry: dict[str, Any]) -> list[tuple[str, Text, Text]]:
    """One chat message as transcript rows (time, who, text), then a row per tool call the soul made for it."""
    who, style = ROLES.get(str(entry.get("role")), ("?", ""))
    rows = [(clock(entry.get("at"))[:8], Text(who, style=style), Text(short(entry.get("text", ""), CHAT_CHARS)))]
    for call in map(as_dict, as_list(entry.get("calls"))):
        mark, mark_style = ("✓", "green") if call.get("ok") else ("✗", "red")
        rows.append(("", Text(""), Text.assemble(("↳ ", "dim"), (short(call.get("name", "?"), 30) + " ", "bold"), (compact(call.get("args"), 80), "dim"), (f" {mark}", mark_style))))
    return rows


def transcript(entries: list[dict[str, Any]]) -> RenderableType:
    """The chat so far, the messages' text wrapping in its own column."""
    if not entries:
        return Text("nothing said yet: c, then type", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for entry in entries:
        for row in chat_rows(entry):
            table.add_row(*row)
    return table


def plan_row(plan: dict[str, Any], goal: dict[str, Any]) -> list[Any]:
    """The table cells for one `soul.plans` entry (the goal's text when it is the current goal)."""
    goal_id = plan.get("goal")
    return [
        short(plan.get("id", "?"), 20),
        short(goal.get("text") if goal and goal.get("id") == goal_id else goal_id or "-", 50),
        short(plan.get("source", "?"), 10),
        str(len(as_list(plan.get("steps")))),
        str(int(number(plan.get("replans")))),
        plan_state(plan),
    ]


def plan_state(plan: dict[str, Any]) -> Text:
    """A plan that ended by its status (rejected, failed, done), else approved or awaiting approval."""
    status = plan.get("status")
    if status in ENDED:
        return Text(str(status), style="green" if status == "done" else "dim")
    return Text("approved", style="green") if plan.get("approved") else Text("awaiting approval", style="bold yellow")


class NudgeScreen(ModalScreen[tuple[str, int] | None]):
    """Ask for a nudge: what the soul should do, and its priority; Enter sends, Escape cancels."""

    DEFAULT_CSS = "NudgeScreen { align: center middle; } NudgeScreen Input { margin-bottom: 1; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="nudge.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Nudge the soul: a goal in your words. It outranks goals of lower priority.", classes="question")
            yield Input(placeholder="e.g. read README.md and summarise it", id="nudge-text")
            yield Label("Priority, 1 to 10 (higher goes first)")
            yield Input("5", type="integer", id="nudge-priority")
            with Horizontal(classes="buttons"):
                yield Button("Nudge", variant="warning", id="send")
                yield Button("Cancel", variant="primary", id="cancel")

    def answer(self) -> tuple[str, int] | None:
        """The text and priority typed, or None without text."""
        text = self.query_one("#nudge-text", Input).value.strip()
        priority = self.query_one("#nudge-priority", Input).value.strip()
        return (text, int(priority) if priority.lstrip("-").isdigit() else 5) if text else None

    def on_input_submitted(self) -> None:
        """Enter in either field sends."""
        self.dismiss(self.answer())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A button answers."""
        self.dismiss(self.answer() if event.button.id == "send" else None)

    def action_cancel(self) -> None:
        """Cancel."""
        self.dismiss(None)


class SoulScreen(LiveScreen):
    """What the soul is doing and why, a chat with it, and the operator's levers: nudge, approve, reject, abandon."""

    DEFAULT_CSS = """
    #soul-state { height: 1; padding: 0 1; }
    #soul-main { height: 1fr; }
    #soul-left { width: 3fr; }
    #soul-right { width: 2fr; }
    #soul-goal-box { height: 1fr; border: round $primary; padding: 0 1; }
    #soul-plans { height: auto; max-height: 8; border: round $secondary; }
    #soul-lessons { max-height: 12; }
    #soul-chat-box { height: 1fr; border: round $primary; padding: 0 1; }
    """
    AUTO_FOCUS = "#soul-plans"
    BINDINGS = [
        Binding("c", "chat", "Chat", id="soul.chat"),
        Binding("n", "nudge", "Nudge…", id="soul.nudge"),
        Binding("a", "approve", "Approve…", id="soul.approve"),
        Binding("x", "reject", "Reject…", id="soul.reject"),
        Binding("g", "abandon", "Abandon goal…", id="soul.abandon"),
        Binding("escape", "leave_chat", "Leave chat", show=False, id="soul.leave_chat"),
    ]
    MUTATING = frozenset({"chat", "nudge", "approve", "reject", "abandon"})
    TOPICS = ("heartbeat.tick", "soul.")

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []  # soul.status's chat, oldest first
        self.pending: list[dict[str, Any]] = []  # sent and received here, until soul.status lists them
        self.calls: dict[str, list[Any]] = {}  # reply text -> the tool calls made for it (soul.status does not keep them)
        self.shown_chat: list[Any] = []

    def body(self) -> ComposeResult:
        yield Static(id="soul-state")
        with Horizontal(id="soul-main"):
            with Vertical(id="soul-left"):
                box = VerticalScroll(Static(id="soul-goal"), id="soul-goal-box")
                box.border_title = "Goal and plan"
                yield box
                table: DataTable[Any] = DataTable(id="soul-plans", cursor_type="row", zebra_stripes=True)
                table.add_columns(*PLAN_COLUMNS)
                table.border_title = "Plans"
                yield table
                yield self.card("budgets", "Budgets")
            with Vertical(id="soul-right"):
                yield self.card("lessons", "Recent lessons")
                chat = VerticalScroll(Static(id="soul-chat"), id="soul-chat-box")
                chat.border_title = "Chat"
                yield chat
                yield Input(placeholder="c: message the soul; Enter sends, Escape leaves", id="soul-input", disabled=self.colony.readonly)

    @staticmethod
    def card(name: str, title: str) -> Static:
        """A titled card."""
        widget = Static(id=f"soul-{name}", classes="card")
        widget.border_title = title
        return widget

    async def fetch(self) -> None:
        """soul.status, soul.plans and node.budgets; a node without the soul says so and still shows its budgets."""
        state = self.query_one("#soul-state", Static)
        try:
            self.status = as_dict(await self.call("soul.status"))
        except Missing:
            self.status = {}
            state.update(Text("the soul plugin is not running on this node (no soul.status)", style="yellow"))
        except RPCError as exc:
            self.status = {}
            state.update(Text(f"soul.status failed: {short(exc.message, 200)}", style="red"))
        else:
            state.update(state_line(self.status))
        plans: list[Any] = []
        if self.status:
            try:
                plans = as_list(await self.call("soul.plans"))
            except (Missing, RPCError):
                pass
        try:
            budgets = as_dict(await self.call("node.budgets"))
        except (Missing, RPCError):
            budgets = as_dict(self.status.get("budgets"))
        self.show(plans, budgets)

    def show(self, plans: list[Any], budgets: dict[str, Any]) -> None:
        """Redraw every part from the latest replies."""
        status = self.status
        goal, plan = as_dict(status.get("goal")), as_dict(status.get("plan"))
        self.query_one("#soul-goal", Static).update(goal_view(goal, plan))
        rows = [as_dict(p) for p in plans]
        self.plans = {row["id"]: row for row in rows if isinstance(row.get("id"), str)}
        fill(self.query_one("#soul-plans", DataTable), {key: plan_row(row, goal) for key, row in self.plans.items()})
        lessons = [short(lesson, 300) for lesson in as_list(status.get("lessons"))[-10:]]
        self.query_one("#soul-lessons", Static).update(
            Group(*(Text.assemble(("• ", "cyan"), lesson) for lesson in lessons)) if lessons else Text("none yet", style="dim")
        )
        budget_card = self.query_one("#soul-budgets", Static)
        budget_card.update(budget_view(budgets))
        budget_card.border_subtitle = short(budgets.get("day", ""), 20)
        self.history = [as_dict(entry) for entry in as_list(status.get("chat"))]
        self.show_chat()

    def show_chat(self) -> None:
        """The transcript: soul.status's chat, then what was said here that it does not list yet."""
        listed = [(entry.get("role"), entry.get("text")) for entry in self.history if isinstance(entry.get("text"), str) and entry.get("text")]
        still = []
        for entry in self.pending:
            match = next((said for said in listed if said[0] == entry["role"] and entry["text"].startswith(said[1])), None)  # the node may cut long texts
            if match is None:
                still.append(entry)
            else:
                listed.remove(match)
        self.pending = still
        entries = [{**entry, "calls": self.calls.get(str(entry.get("text"))[:CHAT_CHARS], [])} if entry.get("role") == "soul" else entry for entry in self.history]
        entries += self.pending
        if entries == self.shown_chat:
            return
        self.shown_chat = entries
        self.query_one("#soul-chat", Static).update(transcript(entries))
        self.query_one("#soul-chat-box", VerticalScroll).scroll_end(animate=False)

    def say(self, role: str, text: str, calls: list[Any] | None = None) -> None:
        """Add a line to the transcript here, until soul.status lists it."""
        self.pending.append({"role": role, "text": text, "at": time.time(), **({"calls": calls} if calls else {})})
        self.show_chat()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Send the typed message."""
        if event.input.id != "soul-input" or self.colony.readonly:
            return
        message = event.value.strip()
        event.input.value = ""
        if message:
            self.pending = [entry for entry in self.pending if entry.get("role") != "note"]
            self.say("operator", message)
            self.send(message)

    @work(group="soul-chat")
    async def send(self, message: str) -> None:
        """soul.chat; the reply (and the tool calls made for it) joins the transcript."""
        try:
            reply = as_dict(await self.colony.connection.call("soul.chat", message=message))
        except RPCError as exc:
            self.say("note", f"soul.chat failed: {short(exc.message, 500)}")
            return
        except TimeoutError:
            self.say("note", UNANSWERED)
            return
        except (Disconnected, ProtocolError) as exc:
            self.say("note", f"not sent: {exc}")
            return
        text = str(reply.get("reply", ""))
        calls = as_list(reply.get("calls"))
        if calls:
            self.calls = {**dict(list(self.calls.items())[-19:]), text[:CHAT_CHARS]: calls}
        self.say("soul", text, calls)
        self.request()

    async def operate(self, verb: str, method: str, **params: Any) -> dict[str, Any] | None:
        """Call a method that changes the node and fetch again; a failure is notified and noted in the transcript (None)."""
        try:
            return as_dict(await self.colony.connection.call(method, **params))
        except (RPCError, Disconnected, ProtocolError, TimeoutError) as exc:
            reason = short(exc.message if isinstance(exc, RPCError) else str(exc) or "no answer in time", 300)
            self.notify(reason, title=f"{verb} failed", severity="error", timeout=15)
            self.say("note", f"{verb} failed: {reason}")
            return None
        finally:
            self.request()

    def action_chat(self) -> None:
        """Type to the soul."""
        self.query_one("#soul-input", Input).focus()

    def action_leave_chat(self) -> None:
        """Back from the chat input to the plans."""
        self.query_one("#soul-plans", DataTable).focus()

    @work(group="soul-ops")
    async def action_nudge(self) -> None:
        """Give the soul a goal, with a priority."""
        answer = await self.app.push_screen_wait(NudgeScreen())
        if answer is None:
            return
        text, priority = answer
        goal = await self.operate("nudge", "soul.nudge", text=text, priority=priority)
        if goal is not None:
            self.notify(f"{short(goal.get('text', text), 80)} (priority {int(number(goal.get('priority', priority)))})", title="nudged")

    def selected_plan(self) -> dict[str, Any] | None:
        """The highlighted plan; the current goal's plan when the table is empty."""
        key = selected_key(self.query_one("#soul-plans", DataTable))
        if key is not None:
            return self.plans.get(key)
        return as_dict(self.status.get("plan")) or None

    @work(group="soul-ops")
    async def action_approve(self) -> None:
        """Let the soul run the highlighted plan, after confirmation."""
        await self.decide("approve")

    @work(group="soul-ops")
    async def action_reject(self) -> None:
        """Turn the highlighted plan down, after confirmation."""
        await self.decide("reject")

    async def decide(self, verb: str) -> None:
        """Approve or reject the highlighted plan, once confirmed."""
        plan = self.selected_plan()
        if plan is None:
            self.notify(f"no plan to {verb}", title=verb, severity="warning")
            return
        done, question = PLAN_DECISIONS[verb]
        steps = ", ".join(short(as_dict(step).get("action", "?"), 20) for step in as_list(plan.get("steps"))[:8])
        name = short(plan.get("id"), 24)
        if await self.confirmed(question.format(plan=name, steps=steps or "none"), verb, f"soul.{verb}", plan_id=plan.get("id")):
            self.notify(f"plan {name} {done}", title=done)

    async def confirmed(self, question: str, verb: str, method: str, **params: Any) -> bool:
        """Ask first; on yes, call `method`. Whether it was asked for and done."""
        return bool(await self.app.push_screen_wait(ConfirmScreen(question))) and await self.operate(verb, method, **params) is not None

    @work(group="soul-ops")
    async def action_abandon(self) -> None:
        """Give up the current goal, after confirmation."""
        goal = as_dict(self.status.get("goal"))
        if not goal:
            self.notify("no current goal", title="abandon", severity="warning")
            return
        question = f"Abandon the goal “{short(goal.get('text', '?'), 120)}”? Its plan stops."
        if await self.confirmed(question, "abandon", "soul.abandon", goal_id=goal.get("id")):
            self.notify(short(goal.get("text", "?"), 80), title="abandoned")
