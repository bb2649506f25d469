"""Draws plugin panels, which arrive as plain data: gauges, series, a table and text."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

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


class SeriesChart(PlotextPlot):
    """One of a panel's series as a line chart (textual-plotext)."""

    def draw(self, name: str, values: list[Any]) -> None:
        """Plot the latest values."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(name)
        plt.plot([number(v) for v in values[-200:]], marker="braille")
        self.refresh()


class PanelView(Vertical):
    """One plugin panel, titled with its title and owner: the data as text, and its series as charts."""

    DEFAULT_CLASSES = "card"

    def __init__(self, panel: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield Static(classes="panel-body")

    def on_mount(self) -> None:
        self.show(self.panel)

    def show(self, panel: dict[str, Any]) -> None:
        """Redraw from a `panels.get` reply; a series with a few points gets a chart below."""
        self.panel = panel
        self.border_title = short(panel.get("title") or panel.get("name") or "panel", 40)
        self.border_subtitle = short(panel.get("owner", ""), 30)
        data = as_dict(panel.get("data"))
        self.query_one(".panel-body", Static).update(render_panel(data))
        series = {str(k): as_list(v) for k, v in as_dict(data.get("series")).items() if len(as_list(v)) >= 2}
        charts = {chart.name: chart for chart in self.query(SeriesChart)}
        for name, chart in charts.items():
            if name not in series:
                chart.remove()
        for name, values in series.items():
            chart = charts.get(name)
            if chart is None:
                chart = SeriesChart(name=name, classes="series-chart")
                self.mount(chart)
            chart.draw(name, values)
