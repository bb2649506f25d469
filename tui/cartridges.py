"""The cartridges screen: every deployed cartridge with its stats; deploy from a path, roll back, remove, logs, and run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, RichLog, Static

from colony.core.client import Disconnected, ProtocolError, RPCError

from .dialogs import ConfirmScreen, PromptScreen
from .format import as_dict, as_list, clock, number, short, si
from .live import LiveScreen, Missing
from .runner import RunnerScreen
from .tables import fill, selected_key

COLUMNS = ("slug", "kind", "version", "previous", "price", "calls", "errors", "fuel", "traps", "last error")
KIND_STYLES = {"backend": "cyan", "interactive": "magenta", "cognitive": "yellow"}
OUTCOMES = {
    "cartridges.deployed": ("deployed", "bold green"),
    "cartridges.deploy_failed": ("deploy failed", "bold red"),
    "cartridges.rolled_back": ("rolled back", "yellow"),
    "cartridges.removed": ("removed", "magenta"),
}
LOG_STYLES = {"debug": "dim", "warn": "yellow", "error": "red"}
LOG_LINES = 200
UNANSWERED = "no answer in time; the node may still finish it, and the list and this log will show the outcome"


def traps(value: Any) -> str:
    """Traps by kind, only those that happened: `fuel 2 deadline 1`, or `-`."""
    counts = {kind: int(number(n)) for kind, n in as_dict(value).items()}
    return short(" ".join(f"{short(kind, 12)} {n}" for kind, n in counts.items() if n), 40) or "-"


def cartridge_row(row: dict[str, Any]) -> list[Any]:
    """The table cells for one `cartridges.list` row (a cartridge whose stored version did not load has no kind)."""
    kind, price = row.get("kind"), row.get("price")
    return [
        short(row.get("slug", "?"), 40),
        Text(short(kind, 12), style=KIND_STYLES.get(str(kind), "")) if kind else Text("not loaded", style="bold red"),
        short(row.get("version") or "-", 16),
        short(row.get("previous") or "-", 16),
        short(price, 40) if number(price) > 0 else "free" if kind == "backend" else "-",
        str(int(number(row.get("calls")))),
        str(int(number(row.get("errors")))),
        si(row.get("fuel")),
        traps(row.get("traps")),
        short(row.get("last_error") or "", 50),
    ]


def outcome_line(event: dict[str, Any]) -> Text:
    """One `cartridges.*` event as a line of the activity log."""
    data = as_dict(event.get("data"))
    what, style = OUTCOMES.get(str(event.get("topic")), ("?", ""))
    detail = {
        "deployed": f"{short(data.get('version', ''), 16)} (previous {short(data.get('previous') or '-', 16)})",
        "deploy failed": f"{short(data.get('version', ''), 16)}: {short(data.get('reason', ''), 300)}",
        "rolled back": f"to {short(data.get('version', ''), 16)} from {short(data.get('from', ''), 16)}",
        "removed": f"with {int(number(data.get('kv_keys')))} KV keys",
    }.get(what, "")
    return Text.assemble((clock(event.get("ts")) + " ", "dim"), (short(data.get("slug", "?"), 40) + " ", "bold"), (what, style), " ", detail)


def log_line(entry: dict[str, Any]) -> Text:
    """One `cartridges.logs` entry."""
    level = short(entry.get("level", "info"), 8)
    nested = f" (depth {int(number(entry.get('depth')))})" if number(entry.get("depth")) else ""
    return Text.assemble((clock(entry.get("at")) + " ", "dim"), (f"{level:<5} ", LOG_STYLES.get(level, "")), short(entry.get("message", ""), 2000), (nested, "dim"))


class CartridgesScreen(LiveScreen):
    """Every cartridge the node serves, what each has cost, and what the operator can do with it."""

    DEFAULT_CSS = """
    #cartridge-status { height: 1; padding: 0 1; color: $text-muted; }
    #cartridge-table { height: 2fr; }
    #cartridge-activity { height: 1fr; border: round $secondary; }
    """
    BINDINGS = [
        Binding("s", "deploy", "Deploy…", id="cartridges.deploy"),
        Binding("r", "run", "Run", id="cartridges.run"),
        Binding("u", "rollback", "Roll back", id="cartridges.rollback"),
        Binding("x", "remove", "Remove…", id="cartridges.remove"),
        Binding("l", "logs", "Logs", id="cartridges.logs"),
    ]
    MUTATING = frozenset({"deploy", "rollback", "remove"})

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}

    def body(self) -> ComposeResult:
        yield Static(id="cartridge-status")
        table: DataTable[Any] = DataTable(id="cartridge-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        log = RichLog(id="cartridge-activity", max_lines=1000, wrap=True)
        log.border_title = "Activity"
        yield log

    async def fetch(self) -> None:
        """Fetch `cartridges.list` and redraw; a node without the plugin says so."""
        status = self.query_one("#cartridge-status", Static)
        try:
            listed = as_list(await self.call("cartridges.list"))
        except Missing:
            status.update(Text("the cartridges plugin is not running on this node", style="yellow"))
            self.show_rows([])
            return
        except RPCError as exc:
            status.update(Text(f"cartridges.list failed: {short(exc.message, 200)}", style="yellow"))
            self.show_rows([])
            return
        rows = [as_dict(row) for row in listed]
        self.show_rows([row for row in rows if isinstance(row.get("slug"), str)])
        interactive = sum(1 for row in self.rows.values() if row.get("kind") == "interactive")
        status.update(f"{len(self.rows)} cartridges, {interactive} interactive: Enter runs an interactive one, or shows the logs of another")

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Redraw the table, keeping the selected cartridge selected."""
        self.rows = {row["slug"]: row for row in rows}
        fill(self.query_one("#cartridge-table", DataTable), {slug: cartridge_row(row) for slug, row in self.rows.items()})

    def selected(self) -> str | None:
        """The slug of the highlighted cartridge."""
        return selected_key(self.query_one("#cartridge-table", DataTable))

    def drain_events(self) -> None:
        """Log new `cartridges.*` events (deploys from here or anywhere else, failures, rollbacks, removals), those that came while hidden too."""
        if self.is_current:
            fresh, self.cursor = self.colony.feed.since(self.cursor), self.colony.feed.received
            for _, event in fresh[-50:]:
                if event.get("topic") in OUTCOMES:
                    self.note(outcome_line(event))

    def note(self, line: Text | str, style: str = "") -> None:
        """Write a line to the activity log."""
        self.query_one("#cartridge-activity", RichLog).write(line if isinstance(line, Text) else Text(line, style=style))

    async def operate(self, verb: str, method: str, **params: Any) -> dict[str, Any] | None:
        """Call a method that changes the node, log the outcome and refresh; None when it failed."""
        try:
            reply = as_dict(await self.colony.connection.call(method, **params))
        except RPCError as exc:
            self.note(f"{verb} failed: {short(exc.message, 4000)}", "bold red")
            self.notify(short(exc.message, 300), title=f"{verb} failed", severity="error", timeout=15)
            return None
        except TimeoutError:  # a first C or Zig build can outlast the call timeout; the node carries on
            self.note(f"{verb}: {UNANSWERED}", "yellow")
            self.notify(UNANSWERED, title=verb, severity="warning")
            return None
        except (Disconnected, ProtocolError) as exc:
            self.note(f"{verb}: {exc}", "bold red")
            self.notify(str(exc), title=verb, severity="error")
            return None
        finally:
            self.request()
        return reply

    @work(group="cartridge-ops")
    async def action_deploy(self) -> None:
        """Deploy (or hot-swap) the cartridge built from a folder, cartridge.toml or source file on the node's machine."""
        question = "Deploy the cartridge at (a folder with cartridge.toml, or a .wat/.c/.zig/.wasm file, on the node's machine):"
        typed = await self.app.push_screen_wait(PromptScreen(question, "/path/to/cartridge"))
        if not typed:
            return
        # A local node shares our filesystem but not our working directory; a remote one gets the path as typed.
        path = typed if self.colony.remote else str(Path(typed).expanduser().resolve())
        self.note(f"building and deploying {path}…", "dim")
        reply = await self.operate("deploy", "cartridges.deploy", path=path)
        if reply is not None:
            slug = short(reply.get("slug", "?"), 40)
            self.notify(f"{slug} {short(reply.get('version', ''), 16)} is serving", title="deployed")
            self.note(f"{slug} {short(reply.get('version', ''), 16)} serving, swapped in {number(reply.get('ms')):.1f} ms", "green")

    @work(group="cartridge-ops")
    async def action_rollback(self) -> None:
        """Serve the selected cartridge's previous version again."""
        slug = self.selected()
        if slug is None:
            return
        reply = await self.operate("rollback", "cartridges.rollback", slug=slug)
        if reply is not None:
            self.notify(f"{slug} is back on {short(reply.get('version', ''), 16)}", title="rolled back")

    @work(group="cartridge-ops")
    async def action_remove(self) -> None:
        """Remove the selected cartridge, after confirmation."""
        slug = self.selected()
        if slug is None:
            return
        question = f"Remove {slug}? Its versions, its KV data and its logs are deleted."
        if await self.app.push_screen_wait(ConfirmScreen(question)) and await self.operate("remove", "cartridges.remove", slug=slug) is not None:
            self.notify(f"{slug} removed", title="removed")

    @work(group="cartridge-ops")
    async def action_logs(self) -> None:
        """Show the selected cartridge's newest log lines: guest logs, traps and failed deploys."""
        slug = self.selected()
        if slug is None:
            return
        try:
            entries = as_list(await self.colony.connection.call("cartridges.logs", slug=slug, limit=LOG_LINES))[-LOG_LINES:]
        except (RPCError, Disconnected, ProtocolError, TimeoutError) as exc:
            self.note(f"logs of {slug}: {exc}", "bold red")
            return
        self.note(f"── logs of {slug}: {len(entries)} lines ──", "bold")
        for entry in map(as_dict, entries):
            self.note(log_line(entry))

    def action_run(self) -> None:
        """Run the selected interactive cartridge live."""
        slug = self.selected()
        if slug is None:
            return
        kind = self.rows.get(slug, {}).get("kind")
        if kind != "interactive":
            self.notify(f"{slug} is {kind or 'not loaded'}; only interactive cartridges run here", title="run", severity="warning")
            return
        self.app.push_screen(RunnerScreen(slug))

    def on_data_table_row_selected(self) -> None:
        """Enter runs an interactive cartridge and shows the logs of any other."""
        slug = self.selected()
        if slug is not None and self.rows.get(slug, {}).get("kind") == "interactive":
            self.action_run()
        else:
            self.action_logs()
