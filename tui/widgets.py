"""Widgets every screen shares: the connection line and the error banner."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class ConnectionBar(Horizontal):
    """Connection state on the left, the latest protocol error (if any) as a banner below."""

    def compose(self) -> ComposeResult:
        yield Static(id="conn-state")
        yield Static(id="conn-target")

    def on_mount(self) -> None:
        """Follow the app's connection reactives."""
        self.watch(self.app, "conn_state", self.redraw)
        self.watch(self.app, "conn_detail", self.redraw)

    def redraw(self) -> None:
        """Show the state, colour-coded, with what we are attached to."""
        state = getattr(self.app, "conn_state", "connecting")
        detail = getattr(self.app, "conn_detail", "")
        label = self.query_one("#conn-state", Static)
        label.update(f"● {state}" + (f"  {detail}" if detail else ""))
        label.set_classes(f"state-{state}")
        self.query_one("#conn-target", Static).update(getattr(self.app, "target", ""))


class Banner(Static):
    """The latest protocol error from the node; hidden when there is none, dismissed with `b`."""

    def on_mount(self) -> None:
        """Follow the app's banner reactive."""
        self.watch(self.app, "banner", self.redraw)

    def redraw(self, text: str) -> None:
        """Show `text`, or hide when empty."""
        self.update(f"⚠ {text}  (b to dismiss)" if text else "")
        self.display = bool(text)
