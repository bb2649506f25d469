"""Draws plugin panels, which arrive as plain data: gauges, series, a table and text."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from .format import as_dict, as_list, number, short

BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48


def sparkline(values: list[Any], width: int = SPARK_WIDTH) -> str:
    """The last `width` numbers as a row of block characters, scaled between their min and max."""
    points = [number(v) for v in values[-width:]]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int((p - low) / span * (len(BARS) - 1)))] for p in points)


def gauge_value(value: Any) -> str:
    """A gauge as digits: integers plainly, floats to four significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return short(value, 40)
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def render_panel(data: Any) -> RenderableType:
    """Everything a panel's data holds, top to bottom: gauges, series, table, text."""
    data = as_dict(data)
    parts: list[RenderableType] = []
    gauges = as_dict(data.get("gauges"))
    if gauges:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column(justify="right", style="bold")
        for name, value in gauges.items():
            table.add_row(str(name), gauge_value(value))
        parts.append(table)
    for name, values in as_dict(data.get("series")).items():
        points = as_list(values)
        last = gauge_value(points[-1]) if points else "-"
        parts.append(Text.assemble((f"{name} ", "dim"), (sparkline(points), "green"), f" {last}"))
    table_data = as_dict(data.get("table"))
    if table_data:
        table = Table(*[str(c) for c in as_list(table_data.get("columns"))], expand=False, show_edge=False)
        for row in as_list(table_data.get("rows"))[:50]:
            table.add_row(*[short(cell, 40) for cell in as_list(row)])
        parts.append(table)
    if isinstance(data.get("text"), str) and data["text"]:
        parts.append(Text(data["text"]))
    return Group(*parts) if parts else Text("(no data)", style="dim")


class PanelView(Static):
    """One plugin panel, titled with its title and owner."""

    DEFAULT_CLASSES = "card"

    def __init__(self, panel: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.show(panel)

    def show(self, panel: dict[str, Any]) -> None:
        """Redraw from a `panels.get` reply."""
        self.border_title = short(panel.get("title") or panel.get("name") or "panel", 40)
        self.border_subtitle = short(panel.get("owner", ""), 30)
        self.update(render_panel(panel.get("data")))
