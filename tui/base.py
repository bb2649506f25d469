"""What every main screen has: header, connection bar, error banner, footer, and a data refresh hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from .widgets import Banner, ConnectionBar

if TYPE_CHECKING:
    from .app import ColonyApp


class ColonyScreen(Screen[None]):
    """A main screen; subclasses yield their body and redraw in `refresh_data`."""

    @property
    def colony(self) -> ColonyApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar()
        yield Banner()
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        """The screen's own widgets."""
        yield from ()

    def on_mount(self) -> None:
        """Redraw whenever the app polled fresh data, while this screen is the one shown."""
        self.watch(self.app, "data_version", self.refresh_if_shown)

    def refresh_if_shown(self) -> None:
        """Hidden screens skip redraws; they catch up when shown again."""
        if self.is_current:
            self.refresh_data()

    def on_screen_resume(self) -> None:
        """Shown again: catch up with the latest data."""
        self.refresh_data()

    def refresh_data(self) -> None:
        """Redraw from the app's latest data."""
