"""The events screen: a live log with topic filter, search and pause, and audit log replay."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, RichLog, Static

from colony.core.client import Disconnected, ProtocolError, RPCError

from .base import ColonyScreen
from .format import as_dict, as_list, clock, short

FRAME = 0.1  # seconds between renders
PER_FRAME = 100  # lines rendered per frame at most; the rest are counted as dropped
BACKFILL = 500  # lines redrawn from history when the filter changes
AUDIT_PAGE = 1000
AUDIT_MAX = 10000
TOPIC_STYLES = {"plugin.error": "bold red", "plugin.swap": "magenta", "plugin.state": "yellow", "rpc.audit": "cyan", "heartbeat.tick": "green"}


def event_line(event: dict[str, Any], prefix: str = "") -> Text:
    """One event as a log line: time, seq, topic, source and data."""
    topic = short(event.get("topic", "?"), 40)
    data = json.dumps(event.get("data"), separators=(",", ":"), default=str)
    return Text.assemble(
        (prefix, "bold cyan"),
        (clock(event.get("ts")) + " ", "dim"),
        (f"#{event.get('seq', '?')} ", "dim"),
        (f"{topic:<16} ", TOPIC_STYLES.get(topic, "bold")),
        (f"{short(event.get('source', ''), 20)} ", "blue"),
        short(data, 400),
    )


class EventsScreen(ColonyScreen):
    """Every event the node streams, rendered at most `PER_FRAME` lines per frame."""

    BINDINGS = [
        Binding("space", "pause", "Pause", id="events.pause"),
        Binding("f", "focus_filter", "Filter", id="events.filter"),
        Binding("slash", "focus_search", "Search", id="events.search"),
        Binding("c", "clear", "Clear", id="events.clear"),
        Binding("a", "replay_audit", "Audit replay", id="events.audit"),
        Binding("escape", "focus_log", "Log", show=False, id="events.log"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cursor = 0
        self.paused = False
        self.render_dropped = 0
        self.topics: list[str] = []
        self.search = ""

    def body(self) -> ComposeResult:
        with Horizontal(id="event-controls"):
            yield Input(placeholder="topics: heartbeat.*, plugin.swap …", id="topic-filter")
            yield Input(placeholder="search", id="search")
        yield Static(id="event-status")
        yield RichLog(id="event-log", max_lines=2000, wrap=False)

    def on_mount(self) -> None:
        """Start rendering frames."""
        super().on_mount()
        self.set_interval(FRAME, self.render_frame)
        self.query_one("#event-log", RichLog).focus()

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether an event passes the topic filter and the search text."""
        topic = str(event.get("topic", ""))
        if self.topics and not any(fnmatchcase(topic, glob) for glob in self.topics):
            return False
        if self.search:
            return self.search in json.dumps(event, default=str).lower()
        return True

    def render_frame(self) -> None:
        """Write what arrived since the last frame (the newest `PER_FRAME`), unless paused."""
        if not self.is_current:
            return  # hidden: events wait in the feed; the newest are drawn when shown again
        feed = self.colony.feed
        if not self.paused:
            fresh = feed.since(self.cursor)
            self.render_dropped += feed.lost_before(self.cursor) + max(0, len(fresh) - PER_FRAME)
            self.cursor = feed.received
            lines = [event_line(event) for _, event in fresh[-PER_FRAME:] if self.matches(event)]
            if lines:
                # One write per frame: each write re-renders and scrolls the log.
                self.query_one("#event-log", RichLog).write(Text("\n").join(lines))
        self.show_status()

    def show_status(self) -> None:
        """The line above the log: live or paused, counts and drops."""
        feed = self.colony.feed
        waiting = feed.received - self.cursor
        mode = f"PAUSED ({waiting} waiting)" if self.paused else "live"
        filters = f"  topics: {', '.join(self.topics)}" if self.topics else ""
        filters += f"  search: {self.search!r}" if self.search else ""
        self.query_one("#event-status", Static).update(
            f"{mode}  {feed.received} received  {feed.rate:.1f}/s  "
            f"dropped: {self.render_dropped} rendering, {feed.client_dropped} client, {feed.node_dropped} node{filters}"
        )

    def redraw(self) -> None:
        """Refill the log from history with the current filter."""
        log = self.query_one("#event-log", RichLog)
        log.clear()
        matching = [event for _, event in self.colony.feed.history if self.matches(event)]
        for event in matching[-BACKFILL:]:
            log.write(event_line(event))
        self.cursor = self.colony.feed.received

    def on_input_changed(self, message: Input.Changed) -> None:
        """Apply the topic filter or search text as it is typed."""
        if message.input.id == "topic-filter":
            self.topics = [glob.strip() for glob in message.value.split(",") if glob.strip()]
        else:
            self.search = message.value.strip().lower()
        self.redraw()

    def on_input_submitted(self) -> None:
        """Enter goes back to the log."""
        self.action_focus_log()

    def action_pause(self) -> None:
        """Pause or resume rendering (events keep arriving and are counted)."""
        self.paused = not self.paused
        self.show_status()

    def action_focus_filter(self) -> None:
        """Type a topic filter."""
        self.query_one("#topic-filter", Input).focus()

    def action_focus_search(self) -> None:
        """Type search text."""
        self.query_one("#search", Input).focus()

    def action_focus_log(self) -> None:
        """Back to the log (and its keys)."""
        self.query_one("#event-log", RichLog).focus()

    def action_clear(self) -> None:
        """Empty the log."""
        self.query_one("#event-log", RichLog).clear()

    @work(exclusive=True, group="audit")
    async def action_replay_audit(self) -> None:
        """Replay the node's hash-chained audit log into the view, after checking the chain."""
        log = self.query_one("#event-log", RichLog)
        call = self.colony.connection.call
        try:
            verdict = as_dict(await call("audit.verify"))
            entries: list[Any] = []
            while len(entries) < AUDIT_MAX:
                after = as_dict(entries[-1]).get("seq", 0) if entries else 0
                page = as_list(await call("audit.entries", after=after, limit=AUDIT_PAGE))
                entries += page
                if len(page) < AUDIT_PAGE:
                    break
        except (RPCError, Disconnected, ProtocolError, TimeoutError) as exc:
            log.write(Text(f"audit replay failed: {exc}", style="bold red"))
            return
        chain = "chain ok" if verdict.get("ok") else f"CHAIN BROKEN at #{verdict.get('bad_seq')}: {verdict.get('reason', '')}"
        log.write(Text(f"── audit log replay: {len(entries)} entries, {chain} ──", style="bold green" if verdict.get("ok") else "bold red"))
        for entry in map(as_dict, entries):
            if self.matches(entry):
                log.write(event_line(entry, prefix="audit "))
        log.write(Text("── end of audit log; live events follow ──", style="bold"))
