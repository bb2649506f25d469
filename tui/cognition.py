"""The cognition screen: the nine systems at a glance, F and its regime, Ψ, fitness, the oscillators that fired, and the Bloch sphere."""

from __future__ import annotations

import json
import math
import re
from collections import deque
from typing import Any

from rich.align import Align
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from colony.core.client import RPCError

from .bloch import STYLES, draw
from .format import as_dict, as_list, number, short
from .live import LiveScreen, Missing
from .meters import bar, trend
from .panels import sparkline

# The nine systems, in the order the heartbeat's data flows through them.
NINE = ("free_energy", "cortex", "brain", "genesis", "hivemind", "synthesis", "evaluation", "feedback", "autonomy")
REGIMES = {"explore": "bold cyan", "learn": "bold yellow", "exploit": "bold green", "anomaly": "bold red"}
HISTORY = 48  # ticks kept for the sparklines
CARD_ROWS = 12  # gauges shown per system card at most
SPHERE_ROWS = 10
SPARK = 12  # points in the headline sparklines


def regime_text(regime: Any) -> Text:
    """A regime name in capitals, in its colour."""
    name = short(regime or "-", 20)
    return Text(name.upper(), style=REGIMES.get(name.lower(), "bold"))


def gauge(value: Any, signed: bool = False) -> RenderableType:
    """One gauge's value: booleans as yes/no, shares in [0, 1] with a meter (`signed` ones such as trends with their sign), lists by count and content."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes", style="green") if value else Text("no", style="dim")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return Text(str(value), style="red")
        if signed:
            return f"{value:+.4f}"
        if 0.0 <= value <= 1.0:
            return Text.assemble(bar(value, 1.0, 8, "cyan"), f" {value:.3f}")
        return f"{value:.4g}"
    if isinstance(value, list):
        return short(f"{len(value)}: " + ", ".join(short(item, 24) for item in value), 40) if value else "0"
    if isinstance(value, str):
        return regime_text(value) if value.lower() in REGIMES else short(value, 40)
    return short(json.dumps(value, default=str), 40)


def gauge_rows(observation: dict[str, Any]) -> list[tuple[str, RenderableType]]:
    """An observation's gauges, one level of nesting shown indented (synthesis's weights, evaluation's Brier scores)."""
    rows: list[tuple[str, RenderableType]] = []
    for key, value in observation.items():
        if isinstance(value, dict):
            rows.append((short(key, 20), Text("")))
            rows.extend((f"  {short(sub, 18)}", gauge(inner, str(sub).endswith("trend"))) for sub, inner in value.items())
        else:
            rows.append((short(key, 20), gauge(value, str(key).endswith("trend"))))
    return rows


def system_view(observation: Any) -> RenderableType:
    """A system's card: its gauges, or a note that it did not report last tick."""
    if not isinstance(observation, dict):
        return Text("no observation last tick", style="dim")
    rows = gauge_rows(observation)
    if not rows:
        return Text("(reported nothing)", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for label, value in rows[:CARD_ROWS]:
        table.add_row(label, value)
    if len(rows) > CARD_ROWS:
        table.add_row(Text(f"… {len(rows) - CARD_ROWS} more", style="dim"), "")
    return table


def bloch_view(bloch: dict[str, Any], size: int = SPHERE_ROWS) -> RenderableType:
    """The sphere with the state vector in the regime's colour, then θ, φ, exploration and regime."""
    theta, phi = bloch.get("theta"), bloch.get("phi")
    known = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (theta, phi))
    regime = str(bloch.get("regime", ""))
    colour = REGIMES.get(regime.lower(), STYLES["vector"])
    picture = draw(number(theta), number(phi), size) if known else draw(None, None, size)
    parts: list[RenderableType] = [Align.center(picture.text({**STYLES, "vector": colour, "tip": colour}))]
    if known:
        parts.append(Text.assemble(("θ ", "dim"), f"{number(theta):.3f} ({math.degrees(number(theta)):.0f}°)", ("   φ ", "dim"), f"{number(phi):.3f} ({math.degrees(number(phi)) % 360:.0f}°)"))
        parts.append(Text.assemble(("exploration ", "dim"), f"{number(bloch.get('exploration')):.3f}  ", regime_text(regime)))
    else:
        parts.append(Text("no Bloch state", style="dim"))
    return Group(*parts)


def headline_view(overview: dict[str, Any], history: dict[str, deque[float]]) -> RenderableType:
    """F with its trend and regime, Ψ with its trend, fitness, each with a sparkline of recent ticks, and the oscillators that fired."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim")
    table.add_column(no_wrap=True)
    table.add_column(style="green", no_wrap=True)
    free_energy = as_dict(as_dict(overview.get("systems")).get("free_energy"))
    table.add_row("F", trend(overview.get("F"), free_energy.get("trend", overview.get("F_trend")), rising_is_good=False), sparkline(list(history["F"]), SPARK))
    table.add_row("regime", regime_text(overview.get("regime")), "")
    table.add_row("Ψ", trend(overview.get("psi"), overview.get("psi_trend"), rising_is_good=True), sparkline(list(history["psi"]), SPARK))
    table.add_row("fitness", Text(f"{number(overview.get('fitness')):.4f}", style="bold"), sparkline(list(history["fitness"]), SPARK))
    fired = [short(op, 24) for op in as_list(overview.get("fired"))]
    table.add_row("fired", Text(", ".join(fired), style="magenta") if fired else Text("none", style="dim"), "")
    return table


class CognitionScreen(LiveScreen):
    """The nine systems and the colony state they add up to, from `cognition.overview`, on every tick."""

    DEFAULT_CSS = """
    #cog-status { height: 1; padding: 0 1; }
    #cog-main { height: 1fr; }
    #cog-left { width: 42; }
    #cog-systems-box { width: 1fr; }
    #cog-systems { grid-size: 3; grid-gutter: 0 1; height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.tick: Any = None
        self.history: dict[str, deque[float]] = {name: deque(maxlen=HISTORY) for name in ("F", "psi", "fitness")}

    def body(self) -> ComposeResult:
        yield Static(id="cog-status")
        with Horizontal(id="cog-main"):
            with Vertical(id="cog-left"):
                for card, title in (("bloch", "Bloch sphere"), ("headline", "Colony state")):
                    widget = Static(id=f"cog-{card}", classes="card")
                    widget.border_title = title
                    yield widget
            with VerticalScroll(id="cog-systems-box"):
                yield Grid(id="cog-systems")

    async def fetch(self) -> None:
        """`cognition.overview`; a node without colony_state says so."""
        status = self.query_one("#cog-status", Static)
        try:
            overview = as_dict(await self.call("cognition.overview"))
        except Missing:
            status.update(Text("the colony_state plugin is not running on this node (no cognition.overview)", style="yellow"))
            self.show({})
            return
        except RPCError as exc:
            status.update(Text(f"cognition.overview failed: {short(exc.message, 200)}", style="red"))
            return
        systems = as_dict(overview.get("systems"))
        reporting = sum(1 for name in NINE if isinstance(systems.get(name), dict))
        extra = sorted(str(name) for name in systems if name not in NINE)
        line = Text.assemble(("tick ", "dim"), (f"{number(overview.get('tick')):.0f}", "bold"), ("  ·  ", "dim"), f"{reporting} of 9 systems reporting")
        if extra:
            line.append(f"  ·  also {short(', '.join(extra), 80)}", "cyan")
        status.update(line)
        self.show(overview)

    def show(self, overview: dict[str, Any]) -> None:
        """Redraw the sphere, the headline and every system's card."""
        tick = overview.get("tick")
        if overview and tick != self.tick:  # one point per tick, however often we fetch
            self.tick = tick
            for name, points in self.history.items():
                value = number(overview.get(name))
                if math.isfinite(value):
                    points.append(value)
        self.query_one("#cog-bloch", Static).update(bloch_view(as_dict(overview.get("bloch"))))
        self.query_one("#cog-headline", Static).update(headline_view(overview, self.history) if overview else Text("no data", style="dim"))
        self.sync_cards(as_dict(overview.get("systems")))

    def sync_cards(self, systems: dict[str, Any]) -> None:
        """One card per system: the nine always, then every other plugin that reported, by name."""
        grid = self.query_one("#cog-systems", Grid)
        names = [*NINE, *sorted(str(name) for name in systems if name not in NINE)]
        wanted = {f"sys-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}": name for name in names}
        for card in list(grid.query(Static)):
            if card.id not in wanted:
                card.remove()
        for card_id, name in wanted.items():
            found = grid.query(f"#{card_id}")
            card = found.first(Static) if found else Static(id=card_id, classes="card")
            card.border_title = short(name.replace("_", " ").capitalize(), 30)
            card.border_subtitle = "" if isinstance(systems.get(name), dict) else "not reporting"
            card.update(system_view(systems.get(name)))
            if not found:
                grid.mount(card)
