"""Small text meters: a bar in eighths of a cell, and a value with its trend."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from .format import number

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(used: Any, limit: Any, width: int = 12, style: str = "") -> Text:
    """How much of `limit` is used, in eighths of a cell; green, yellow past 60 %, red past 90 % unless `style` is given.

    A dim rule when there is no limit.
    """
    if not isinstance(limit, (int, float)) or isinstance(limit, bool) or limit <= 0:
        return Text("╌" * width, style="dim")
    share = min(max(number(used) / limit, 0.0), 1.0)
    full, part = divmod(round(share * width * 8), 8)
    drawn = "█" * full + (EIGHTHS[part] if part else "")
    colour = style or ("red" if share >= 0.9 else "yellow" if share >= 0.6 else "green")
    return Text.assemble((drawn, colour), ("·" * (width - len(drawn)), "dim"))


def trend(value: Any, change: Any, rising_is_good: bool) -> Text:
    """`0.4321 ↗ +0.0123`, the change green when it goes the good way and red when not."""
    delta = number(change)
    arrow = "↗" if delta > 0 else "↘" if delta < 0 else "→"
    style = "dim" if delta == 0 else "green" if (delta > 0) == rising_is_good else "red"
    return Text.assemble((f"{number(value):.4f} ", "bold"), (f"{arrow} {delta:+.4f}", style))
