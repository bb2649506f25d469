"""The dashboard: the node at a glance, and the panels plugins contribute."""

from __future__ import annotations

import re

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Static

from .base import ColonyScreen
from .format import as_dict, clock, duration, number, short
from .panels import PanelView


def grid(rows: list[tuple[str, str]]) -> Table:
    """Label/value rows as a two-column grid."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column(style="bold")
    for label, value in rows:
        table.add_row(label, value)
    return table


class DashboardScreen(ColonyScreen):
    """Node id, uptime, heartbeat, plugins by state, events per second, errors, and plugin panels."""

    def body(self) -> ComposeResult:
        with Grid(id="cards"):
            for card, title in (("node", "Node"), ("heartbeat", "Heartbeat"), ("plugins", "Plugins"), ("events", "Events")):
                widget = Static(id=f"card-{card}", classes="card")
                widget.border_title = title
                yield widget
        yield VerticalScroll(id="panels")

    def refresh_data(self) -> None:
        """Redraw the cards and the panels."""
        app = self.colony
        status = as_dict(app.status)
        beat = as_dict(status.get("heartbeat"))
        events = as_dict(status.get("events"))
        self.query_one("#card-node", Static).update(
            grid(
                [
                    ("id", short(status.get("node", app.hello.get("node", "-")), 40)),
                    ("name", short(status.get("name", "-"), 40)),
                    ("colony", short(status.get("colony", "-"), 20)),
                    ("uptime", duration(status.get("uptime"))),
                    ("errors", str(int(number(status.get("errors"))))),
                ]
            )
        )
        interval = number(beat.get("interval"))
        self.query_one("#card-heartbeat", Static).update(
            grid(
                [
                    ("enabled", "yes" if beat.get("enabled") else "no"),
                    ("rate", f"{1 / interval:.3g}/s" if interval else "-"),
                    ("measured", f"{app.tick_rate:.3g} ticks/s"),
                    ("last tick", f"#{int(number(beat.get('tick_number')))} at {clock(beat.get('last_tick_at'))}"),
                    ("duration", f"{number(beat.get('last_tick_ms')):.3g} ms (mean {number(beat.get('mean_tick_ms')):.3g})"),
                ]
            )
        )
        states = as_dict(status.get("plugins"))
        self.query_one("#card-plugins", Static).update(
            grid([(short(state, 20), str(count)) for state, count in sorted(states.items())] or [("none", "")])
        )
        self.query_one("#card-events", Static).update(
            grid(
                [
                    ("per second", f"{app.feed.rate:.1f}"),
                    ("published", str(int(number(events.get("published"))))),
                    ("dropped (node)", str(int(number(events.get("dropped"))))),
                    ("dropped (here)", str(app.feed.client_dropped + app.feed.node_dropped)),
                    ("subscribers", str(int(number(events.get("subscribers"))))),
                ]
            )
        )
        self.sync_panels()

    def sync_panels(self) -> None:
        """Update panel widgets in place; add new ones, remove those that went away."""
        box = self.query_one("#panels", VerticalScroll)
        wanted = {f"panel-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}": panel for name, panel in self.colony.panels.items()}
        for widget in list(box.query(PanelView)):
            if widget.id not in wanted:
                widget.remove()
        for widget_id, panel in wanted.items():
            found = box.query(f"#{widget_id}")
            if found:
                found.first(PanelView).show(panel)
            else:
                box.mount(PanelView(panel, id=widget_id))
