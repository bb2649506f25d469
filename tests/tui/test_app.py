"""The TUI against a real node (RunningNode) and against misbehaving fake nodes."""

from __future__ import annotations

import asyncio
import re
import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static

from colony.testing import RunningNode
from colony.tui.app import ColonyApp, unix_opener
from colony.core.cli import Settings
from colony.tui.keymap import load_keymap

from tui_support import drive, wait_for, wait_until_thread
from fakenode import FakeNode

SWAPPED = '''
from colony.plugins.pulse import *  # noqa: F403
from colony.plugins.pulse import PLUGIN
import dataclasses
PLUGIN = dataclasses.replace(PLUGIN, version="9.9.9")
'''


@pytest.fixture
def node(tmp_path: Path):
    with RunningNode(tmp_path / "home", plugins=["pulse"]) as running:
        yield running


def state_of(node: RunningNode, name: str) -> str:
    return {row["name"]: row for row in node.call("plugins.list")}[name]["state"]


def log_text(app: ColonyApp, selector: str) -> str:
    return "\n".join(strip.text for strip in app.screen.query_one(selector, RichLog).lines)


def cell_text(app: ColonyApp, widget_id: str) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(app.screen.query_one(widget_id, Static).content)
    return console.export_text()


async def connected(app: ColonyApp, pilot: Pilot) -> None:
    await wait_for(pilot, lambda: app.conn_state == "connected" and app.plugins)


async def table_loaded(app: ColonyApp, pilot: Pilot) -> DataTable:
    await wait_for(pilot, lambda: app.screen.query(DataTable) and app.screen.query_one(DataTable).row_count)
    table = app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("pulse") if "pulse" in table.rows else 0)
    return table


def test_dashboard_shows_node_and_plugin_counts(node: RunningNode) -> None:
    node_id = node.call("node.status")["node"]

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await wait_for(pilot, lambda: app.status.get("node") == node_id and app.panels and app.sub_title.endswith(node_id))
        assert "pulse" in app.panels and "gauges" in app.panels["pulse"]["data"]
        assert app.status["plugins"]["running"] == 1
        assert re.search(r"running +1", cell_text(app, "#card-plugins"))
        assert node_id[:20] in cell_text(app, "#card-node")

    drive(ColonyApp(unix_opener(node.socket)), scenario)


def test_plugins_lifecycle_through_keys(node: RunningNode) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("p")
        table = await table_loaded(app, pilot)
        assert table.get_row("pulse")[0] == "pulse"
        await pilot.press("u")
        await wait_until_thread(lambda: state_of(node, "pulse") == "stopped", pilot)
        await pilot.press("l")
        await wait_until_thread(lambda: state_of(node, "pulse") == "running", pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: "swap switched" in log_text(app, "#activity"))
        await pilot.press("x")
        await wait_until_thread(lambda: state_of(node, "pulse") == "disabled", pilot)
        await pilot.press("n")
        await wait_until_thread(lambda: state_of(node, "pulse") == "running", pilot)

    drive(ColonyApp(unix_opener(node.socket)), scenario)


def test_swap_with_confirmation_and_rollback(node: RunningNode, tmp_path: Path) -> None:
    good = tmp_path / "pulse_v9.py"
    good.write_text(SWAPPED)
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('broken on import')\n")

    async def swap(app: ColonyApp, pilot: Pilot, path: Path) -> None:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "PromptScreen")
        for char in str(path):
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("p")
        await table_loaded(app, pilot)
        await swap(app, pilot, good)
        await wait_for(pilot, lambda: "swap switched" in log_text(app, "#activity"))
        assert {r["name"]: r for r in await asyncio.to_thread(node.call, "plugins.list")}["pulse"]["version"] == "9.9.9"
        await swap(app, pilot, bad)
        await wait_for(pilot, lambda: "swap rolled-back" in log_text(app, "#activity"), timeout=15)
        assert "failed" in log_text(app, "#activity")
        pulse = {r["name"]: r for r in await asyncio.to_thread(node.call, "plugins.list")}["pulse"]
        assert (pulse["state"], pulse["version"]) == ("running", "9.9.9")

    drive(ColonyApp(unix_opener(node.socket)), scenario)


def test_events_live_filter_and_pause(node: RunningNode) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("e")
        await asyncio.to_thread(node.tick)
        await wait_for(pilot, lambda: "heartbeat.tick" in log_text(app, "#event-log"))
        await pilot.press("f", *"plugin.*", "enter")
        await wait_for(pilot, lambda: "heartbeat.tick" not in log_text(app, "#event-log"))
        assert app.screen.topics == ["plugin.*"]
        await pilot.press("space")
        assert app.screen.paused
        await asyncio.to_thread(node.call, "plugins.reload", name="pulse")
        swapped = lambda: any(e.get("topic") == "plugin.swap" for _, e in app.feed.history)  # noqa: E731
        # A frame has run since the swap arrived once the status line counts it; paused, it draws nothing.
        await wait_for(pilot, lambda: swapped() and f"{app.feed.received} received" in cell_text(app, "#event-status"))
        assert "plugin.swap" not in log_text(app, "#event-log")
        await pilot.press("space")
        await wait_for(pilot, lambda: "plugin.swap" in log_text(app, "#event-log"))
        await pilot.press("a")
        await wait_for(pilot, lambda: "audit log replay" in log_text(app, "#event-log"))
        assert "chain ok" in log_text(app, "#event-log")

    drive(ColonyApp(unix_opener(node.socket)), scenario)


def test_readonly_hides_actions(node: RunningNode) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("p")
        await table_loaded(app, pilot)
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not any(action.startswith(("lifecycle", "swap")) for action in shown)
        await pilot.press("u", "x", "s")
        # An action that slipped through runs as a "plugin-ops" worker; none must exist, let alone finish.
        assert not [w for w in app.workers if w.group == "plugin-ops"]
        assert type(app.screen).__name__ == "PluginsScreen"  # no confirmation or swap dialog opened either
        assert await asyncio.to_thread(state_of, node, "pulse") == "running"

    drive(ColonyApp(unix_opener(node.socket), readonly=True), scenario)


def test_details_show_config_registrations_and_errors(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("p")
        await table_loaded(app, pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: "sensor offline" in cell_text(app, "#info-errors"))
        assert "threshold" in cell_text(app, "#info-config")
        assert "flaky.py" in cell_text(app, "#info-errors")

    with FakeNode(short_dir / "n.sock") as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_node_going_away_shows_disconnected(tmp_path: Path) -> None:
    running = RunningNode(tmp_path / "home", plugins=["pulse"]).start()

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await asyncio.to_thread(running.stop)
        await wait_for(pilot, lambda: app.conn_state == "disconnected")
        assert "retrying" in app.conn_detail

    drive(ColonyApp(unix_opener(running.socket)), scenario)


def test_reconnects_and_resubscribes(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        assert fake.connections >= 2 and app.connection.attempts >= 2
        await wait_for(pilot, lambda: app.feed.received >= 4)

    with FakeNode(short_dir / "n.sock", mode="close-first") as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


@pytest.mark.parametrize(("mode", "expected"), [("garbage", "not an object"), ("version", "handshake"), ("shape", "")])
def test_hostile_node_gets_a_banner_not_a_crash(short_dir: Path, mode: str, expected: str) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        if mode == "shape":
            await wait_for(pilot, lambda: app.data_version >= 2)
            await pilot.press("p")
            polled = app.data_version
            await wait_for(pilot, lambda: app.data_version > polled)  # another poll of the bad answers
            assert app.status == {}
        else:
            await wait_for(pilot, lambda: expected in app.banner)
            assert app.screen.query_one("Banner").display
            await pilot.press("b")
            attempts = fake.connections
            await wait_for(pilot, lambda: fake.connections > attempts)  # a reconnect met the same error
            assert app.banner == ""
        assert app.is_running

    with FakeNode(short_dir / "n.sock", mode=mode) as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_flood_drops_rendering_not_the_connection() -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EventsScreen")
        for n in range(3000):
            app.feed.push({"seq": n, "ts": 1.0, "topic": "flood", "source": "t", "data": {}})
        await wait_for(pilot, lambda: app.screen.render_dropped > 0)
        assert app.screen.cursor == app.feed.received
        assert "dropped:" in cell_text(app, "#event-status")

    drive(ColonyApp(unix_opener("/nonexistent/colony.sock")), scenario)


def test_keymap_remaps_binding_ids(tmp_path: Path, short_dir: Path) -> None:
    config = tmp_path / "tui.toml"
    config.write_text('[keymap]\n"screen.plugins" = "f2"\n')
    assert load_keymap(config) == ({"screen.plugins": "f2"}, "")

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await connected(app, pilot)
        await pilot.press("f2")
        await table_loaded(app, pilot)

    with FakeNode(short_dir / "n.sock") as fake:
        drive(ColonyApp(unix_opener(fake.path), keymap_path=config), scenario)


def test_default_socket_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLONY_HOME", str(tmp_path))
    monkeypatch.setenv("COLONY_CONTROL__SOCKET", "/tmp/x.sock")
    assert str(Settings(None, None, None).socket()) == "/tmp/x.sock"
    monkeypatch.delenv("COLONY_CONTROL__SOCKET")
    monkeypatch.setenv("COLONY_NODE__NAME", "alpha")
    assert Settings(None, None, None).socket().name == "alpha.sock"
