"""The plugins screen: every plugin in a table, the lifecycle actions, and swap outcomes as they happen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, RichLog

from colony.core.client import Disconnected, ProtocolError, RPCError

from .base import ColonyScreen
from .details import DetailsScreen
from .dialogs import ConfirmScreen, PromptScreen
from .format import as_dict, as_list, clock, number, short
from .tables import fill, selected_key

COLUMNS = ("name", "source", "version", "state", "hooks", "calls", "mean ms", "errors", "reason")
STATE_STYLES = {"running": "green", "failed": "red", "quarantined": "bold red", "disabled": "dim", "stopped": "yellow"}
SWAP_STYLES = {"rolled-back": "bold red", "switched": "bold green", "healthy": "green"}
LIFECYCLE = {"load": "plugins.load", "unload": "plugins.unload", "reload": "plugins.reload", "enable": "plugins.enable", "disable": "plugins.disable"}
# Actions that change the node: hidden (and refused) in --readonly mode.
MUTATING = frozenset({*LIFECYCLE, "swap"})
WATCHED = ("plugin.swap", "plugin.state", "plugin.error")


def plugin_row(row: dict[str, Any]) -> list[Any]:
    """The table cells for one `plugins.list` row."""
    state = str(row.get("state", "?"))
    return [
        short(row.get("name", "?"), 30),
        short(row.get("source_text", ""), 40),
        short(row.get("version", ""), 12),
        Text(state, style=STATE_STYLES.get(state, "")),
        str(len(as_list(row.get("hooks")))),
        str(int(number(row.get("calls")))),
        f"{number(row.get('mean_ms')):.3f}",
        str(int(number(row.get("errors")))),
        short(row.get("reason") or row.get("last_error") or "", 60),
    ]


def outcome_line(event: dict[str, Any]) -> Text:
    """One `plugin.*` event as a line of the activity log."""
    data = as_dict(event.get("data"))
    topic = str(event.get("topic", ""))
    plugin = short(data.get("plugin", "?"), 30)
    if topic == "plugin.swap":
        stage = str(data.get("stage", "?"))
        what = Text(f"swap {stage}", style=SWAP_STYLES.get(stage, "cyan"))
        detail = short(data.get("detail", ""), 160)
    elif topic == "plugin.state":
        state = str(data.get("state", "?"))
        what = Text(f"state {state}", style=STATE_STYLES.get(state, ""))
        detail = short(data.get("reason", ""), 160)
    else:
        what = Text("error", style="red")
        detail = f"{short(data.get('where', ''), 40)}: {short(data.get('error', ''), 120)}"
    return Text.assemble((clock(event.get("ts")) + " ", "dim"), (plugin + " ", "bold"), what, " ", detail)


class PluginsScreen(ColonyScreen):
    """Every plugin the node knows, and what the operator can do with each."""

    BINDINGS = [
        Binding("l", "lifecycle('load')", "Load", id="plugins.load"),
        Binding("u", "lifecycle('unload')", "Unload", id="plugins.unload"),
        Binding("r", "lifecycle('reload')", "Reload", id="plugins.reload"),
        Binding("n", "lifecycle('enable')", "Enable", id="plugins.enable"),
        Binding("x", "lifecycle('disable')", "Disable", id="plugins.disable"),
        Binding("s", "swap", "Swap…", id="plugins.swap"),
        Binding("i", "details", "Details", id="plugins.details"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cursor = 0

    def body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="plugin-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        log = RichLog(id="activity", max_lines=500, wrap=True)
        log.border_title = "Activity"
        yield log

    def on_mount(self) -> None:
        """Also follow plugin events, ten times a second, starting with the recent ones already received."""
        super().on_mount()
        self.cursor = 0
        self.set_interval(0.1, self.drain_events)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the actions that change the node in read-only mode."""
        name = parameters[0] if action == "lifecycle" and parameters else action
        return not (self.colony.readonly and name in MUTATING)

    def refresh_data(self) -> None:
        """Redraw the table, keeping the selected plugin selected."""
        rows = {str(row.get("name", "?")): plugin_row(row) for row in self.colony.plugins}
        fill(self.query_one("#plugin-table", DataTable), rows)

    def selected(self) -> str | None:
        """The name of the highlighted plugin."""
        return selected_key(self.query_one("#plugin-table", DataTable))

    def drain_events(self) -> None:
        """Log new `plugin.swap`, `plugin.state` and `plugin.error` events."""
        if not self.is_current:
            return
        feed = self.colony.feed
        fresh = feed.since(self.cursor)
        self.cursor = feed.received
        log = self.query_one("#activity", RichLog)
        for _, event in fresh[-50:]:
            if event.get("topic") in WATCHED:
                log.write(outcome_line(event))

    def note(self, text: str, style: str = "") -> None:
        """Write one line of our own to the activity log."""
        self.query_one("#activity", RichLog).write(Text(text, style=style))

    async def operate(self, method: str, name: str, **params: Any) -> None:
        """Call a lifecycle method, log the outcome and refresh."""
        verb = method.split(".")[1]
        self.note(f"{verb} {name}…", "dim")
        try:
            row = as_dict(await self.colony.connection.call(method, name=name, **params))
        except RPCError as exc:
            self.note(f"{verb} {name} failed: {exc.message}", "bold red")
            self.notify(exc.message, title=f"{verb} {name} failed", severity="error")
        except (Disconnected, ProtocolError, TimeoutError) as exc:
            self.note(f"{verb} {name}: {exc}", "bold red")
            self.notify(str(exc), title=f"{verb} {name}", severity="error")
        else:
            state = short(row.get("state", "?"), 20)
            self.note(f"{verb} {name}: {state} {short(row.get('version', ''), 12)}", "green")
            self.notify(f"{name} is {state}", title=verb)
        self.colony.poll_now()

    @work(group="plugin-ops")
    async def action_lifecycle(self, verb: str) -> None:
        """Load, unload, reload, enable or disable the selected plugin."""
        name = self.selected()
        if name is not None and verb in LIFECYCLE:
            await self.operate(LIFECYCLE[verb], name)

    @work(group="plugin-ops")
    async def action_swap(self) -> None:
        """Swap the selected plugin for a file on the node or its installed version, after confirmation."""
        name = self.selected()
        if name is None:
            return
        question = f"Swap {name} for the plugin file at (a path on the node, or 'installed' for the installed version):"
        path = await self.app.push_screen_wait(PromptScreen(question, "/path/to/plugin.py"))
        where = {"installed": True} if path == "installed" else {"path": path}
        if path and await self.app.push_screen_wait(ConfirmScreen(f"Blue/green swap {name} for {path}?")):
            await self.operate("plugins.swap", name, **where)

    def on_data_table_row_selected(self) -> None:
        """Enter on a row opens its details."""
        self.action_details()

    def action_details(self) -> None:
        """Open the selected plugin's details."""
        name = self.selected()
        if name is not None:
            self.app.push_screen(DetailsScreen(name))
