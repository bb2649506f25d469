"""SVG snapshots of the main screens against a fake node that always answers the same."""

from __future__ import annotations

from pathlib import Path

from fakenode import EVENTS, FakeNode
from tui_support import wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static

from colony.tui.app import ColonyApp, unix_opener
from colony.tui.details import DetailsScreen
from colony.tui.plugins import PluginsScreen

SIZE = (150, 40)


async def settle(pilot: Pilot) -> None:
    """Wait until the fake node's data and events have arrived and are on screen."""
    app = pilot.app

    def ready() -> bool:
        table_ready = app.screen.query(DataTable) and app.screen.query_one(DataTable).row_count
        logs = app.screen.query(RichLog)
        # The fake node's events hold two plugin events, which the activity log shows.
        logged = not logs or len(logs.first().lines) >= 2
        return bool(app.conn_state == "connected" and app.plugins and table_ready and app.feed.received >= len(EVENTS) and logged)

    await wait_for(pilot, ready, "the plugins screen to fill")
    await pilot.wait_for_scheduled_animations()


def test_plugins_screen(snap_compare, short_dir: Path) -> None:
    with FakeNode(short_dir / "n.sock") as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock"), terminal_size=SIZE, run_before=lambda pilot: settle_after(pilot, "p"))


def test_details_screen(snap_compare, short_dir: Path) -> None:
    with FakeNode(short_dir / "n.sock") as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock"), terminal_size=SIZE, run_before=lambda pilot: settle_after(pilot, "p", "i"))


def test_readonly_plugins_screen(snap_compare, short_dir: Path) -> None:
    with FakeNode(short_dir / "n.sock") as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock", readonly=True), terminal_size=SIZE, run_before=lambda pilot: settle_after(pilot, "p"))


async def settle_after(pilot: Pilot, *keys: str) -> None:
    """Open the plugins screen, wait until its table and log are filled, then press the other `keys`."""
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PluginsScreen))
    await settle(pilot)
    for key in keys[1:]:
        await pilot.press(key)
    if isinstance(pilot.app.screen, DetailsScreen):
        # `show` fills the errors card last: once it has content, every card has.
        await wait_for(pilot, lambda: bool(str(pilot.app.screen.query_one("#info-errors", Static).content)))
    await pilot.wait_for_scheduled_animations()
