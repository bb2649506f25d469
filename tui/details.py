"""One plugin in full: config, manifest, registrations, hook stats and recent errors with tracebacks."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from colony.core.client import Disconnected, ProtocolError, RPCError

from .base import ColonyScreen
from .format import as_dict, as_list, clock, number, short


def section(widget_id: str, title: str) -> Static:
    """A titled, bordered block."""
    widget = Static(id=widget_id, classes="card")
    widget.border_title = title
    return widget


def registrations(info: dict[str, Any]) -> RenderableType:
    """Routes, RPC methods and panels the plugin registered."""
    rows = as_list(info.get("registrations"))
    if not rows:
        return Text("none", style="dim")
    table = Table("kind", "key", "about", show_edge=False)
    for reg in map(as_dict, rows):
        about = reg.get("doc") or reg.get("title") or ""
        table.add_row(short(reg.get("kind", "?"), 12), short(reg.get("key", "?"), 50), short(about, 80))
    return table


def hook_stats(info: dict[str, Any]) -> RenderableType:
    """Calls, errors and mean latency per hook."""
    stats = as_dict(info.get("hook_stats"))
    if not stats:
        return Text("none", style="dim")
    table = Table("hook", "calls", "errors", "mean ms", show_edge=False)
    for hook, stat in stats.items():
        stat = as_dict(stat)
        table.add_row(short(hook, 40), str(int(number(stat.get("calls")))), str(int(number(stat.get("errors")))), f"{number(stat.get('mean_ms')):.3f}")
    return table


def errors(info: dict[str, Any]) -> RenderableType:
    """Recent errors, newest last, each with its traceback."""
    entries = as_list(info.get("recent_errors"))
    if not entries:
        last = info.get("last_error")
        return Text(f"last error: {last}" if last else "no recent errors", style="red" if last else "dim")
    parts: list[RenderableType] = []
    for entry in map(as_dict, entries):
        parts.append(Text.assemble((clock(entry.get("ts")) + " ", "dim"), (short(entry.get("where", ""), 40) + " ", "bold"), (str(entry.get("error", "")), "red")))
        if entry.get("traceback"):
            parts.append(Text(str(entry["traceback"]).rstrip(), style="dim"))
    return Group(*parts)


class DetailsScreen(ColonyScreen):
    """Details of one plugin (`plugins.info`)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="details.back"),
        Binding("r", "reload_info", "Refresh", id="details.refresh"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.plugin = name

    def body(self) -> ComposeResult:
        with VerticalScroll(id="details"):
            yield section("info-summary", self.plugin)
            yield section("info-config", "Config")
            yield section("info-registrations", "Registrations")
            yield section("info-hooks", "Hooks")
            yield section("info-errors", "Recent errors")

    def on_mount(self) -> None:
        """Load the plugin's details."""
        self.action_reload_info()

    @work(exclusive=True)
    async def action_reload_info(self) -> None:
        """Fetch `plugins.info` and redraw."""
        try:
            info = as_dict(await self.colony.connection.call("plugins.info", name=self.plugin))
        except (RPCError, Disconnected, ProtocolError, TimeoutError) as exc:
            self.query_one("#info-summary", Static).update(Text(f"cannot load {self.plugin}: {exc}", style="red"))
            return
        self.show(info)

    def show(self, info: dict[str, Any]) -> None:
        """Fill every section from a `plugins.info` reply."""
        manifest = as_dict(info.get("manifest"))
        summary = Table.grid(padding=(0, 2))
        summary.add_column(style="dim")
        summary.add_column()
        for label, value in (
            ("version", info.get("version", "")),
            ("state", f"{info.get('state', '?')} {info.get('reason') or ''}".strip()),
            ("source", info.get("source_text", "")),
            ("requires", ", ".join(map(str, as_list(info.get("requires")))) or "-"),
            ("about", manifest.get("description", "")),
            ("calls", f"{int(number(info.get('calls')))} ({int(number(info.get('errors')))} errors, mean {number(info.get('mean_ms')):.3f} ms)"),
        ):
            summary.add_row(label, short(value, 200))
        self.query_one("#info-summary", Static).update(summary)
        config = json.dumps(info.get("config", {}), indent=2, sort_keys=True, default=str)
        self.query_one("#info-config", Static).update(Text(config))
        self.query_one("#info-registrations", Static).update(registrations(info))
        self.query_one("#info-hooks", Static).update(hook_stats(info))
        self.query_one("#info-errors", Static).update(errors(info))
