"""Reading what a screen shows, as plain text, in the TUI tests."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App
from textual.widgets import Static


def text_of(app: App[None], selector: str, width: int = 200) -> str:
    """The plain text of a Static's content, rendered `width` columns wide."""
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()
