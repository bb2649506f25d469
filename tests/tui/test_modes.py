"""The TUI's modes: an embedded node, the --watch save loop, and switching nodes from the palette."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from tui_support import drive, wait_for

from colony.core.config import Config
from colony.testing import RunningNode
from colony.tui.app import ColonyApp, unix_opener
from colony.tui.embedded import EmbeddedNode
from colony.tui.hosts import NodeAddress

PLUGIN = '''
from colony.core import Manifest
PLUGIN = Manifest(name="live", version="{version}")
def colony_register(registrar):
    registrar.rpc("live.version", lambda: "{version}")
'''


def test_embedded_node_is_operated_then_stopped_cleanly_on_quit(home, sockdir):
    socket = sockdir / "embedded.sock"
    config = Config(environ={}, overrides={"control": {"socket": str(socket)}, "plugins": {"load": ["pulse"]}})
    node = EmbeddedNode(config, home)
    app = ColonyApp(unix_opener(socket), target="embedded", embedded=node)

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.conn_state == "connected" and app.plugins)
        assert [row["state"] for row in app.plugins if row["name"] == "pulse"] == ["running"]
        await pilot.press("q")

    drive(app, scenario)
    assert not socket.exists()  # the node stopped and removed its socket


def test_watch_swaps_the_plugin_in_on_every_save(home):
    path = home / "plugins" / "live.py"
    path.write_text(PLUGIN.format(version="1"))
    with RunningNode(home, plugins=[]) as node:
        app = ColonyApp(unix_opener(node.socket), watch_path=path)

        async def scenario(app: ColonyApp, pilot: Pilot) -> None:
            await wait_for(pilot, lambda: app.conn_state == "connected")
            path.write_text(PLUGIN.format(version="2"))  # not running yet: the first save loads it
            await wait_for(pilot, lambda: any(r["name"] == "live" and r["state"] == "running" for r in app.plugins))
            path.write_text(PLUGIN.format(version="3") + "\n")
            await wait_for(pilot, lambda: any(r["name"] == "live" and r["version"] == "3" for r in app.plugins))
            path.write_text("def broken(:\n")
            await wait_for(pilot, lambda: any("not swapped in" in (n.title or "") for n in app._notifications))

        drive(app, scenario)
        assert node.call("live.version") == "3"  # the broken save rolled back; version 3 still serves


def test_palette_switches_between_nodes(tmp_path):
    with RunningNode(tmp_path / "a", plugins=["pulse"]) as first, RunningNode(tmp_path / "b", plugins=[]) as second:
        nodes = [NodeAddress("a", str(first.socket)), NodeAddress("b", str(second.socket))]
        app = ColonyApp(unix_opener(first.socket), nodes=nodes)
        ids = {first.call("node.status")["node"]: "a", second.call("node.status")["node"]: "b"}

        async def scenario(app: ColonyApp, pilot: Pilot) -> None:
            await wait_for(pilot, lambda: ids.get(app.hello.get("node")) == "a")
            await pilot.press("ctrl+p")
            await pilot.press(*"switch to node b")
            await wait_for(pilot, lambda: app.screen.query("CommandList") and app.screen.query_one("CommandList").option_count)
            await pilot.press("enter")
            await wait_for(pilot, lambda: ids.get(app.hello.get("node")) == "b" and app.conn_state == "connected")

        drive(app, scenario)


def test_tui_command_is_mounted_on_the_core_cli():
    from click.testing import CliRunner

    from colony.core.cli import cli

    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0
    for option in ("--socket", "--host", "--readonly", "--embedded", "--watch", "--hosts"):
        assert option in result.output
    assert "tui" in CliRunner().invoke(cli, ["--help"]).output


def test_bad_hosts_file_is_a_clear_cli_error(tmp_path: Path):
    from click.testing import CliRunner

    from colony.core.cli import cli

    hosts = tmp_path / "hosts.toml"
    hosts.write_text("[hosts.x]\nport = 1\n")
    result = CliRunner().invoke(cli, ["tui", "--hosts", str(hosts)])
    assert result.exit_code == 1 and "only 'socket' and 'host'" in result.output


def test_dashboard_draws_panel_series_as_charts(tmp_path):
    from colony.tui.panels import PanelView, SeriesChart

    with RunningNode(tmp_path, plugins=["pulse"]) as node:
        for _ in range(3):
            node.tick()
        app = ColonyApp(unix_opener(node.socket))

        async def scenario(app: ColonyApp, pilot: Pilot) -> None:
            await wait_for(pilot, lambda: app.screen.query(SeriesChart))
            (panel,) = app.screen.query(PanelView)
            assert panel.border_title == "Heartbeat" and panel.border_subtitle == "pulse"
            assert [chart.name for chart in panel.query(SeriesChart)] == ["tick_ms"]

        drive(app, scenario)


def test_offers_to_start_a_node_when_none_answers(home, sockdir):
    socket = sockdir / "later.sock"
    config = Config(environ={}, overrides={"control": {"socket": "/unused"}, "plugins": {"load": ["pulse"]}})
    app = ColonyApp(
        unix_opener(socket),
        target=str(socket),
        offer_node=lambda: EmbeddedNode(config.with_overrides({"control": {"socket": str(socket)}}), home),
    )

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.screen.query("ConfirmScreen") or type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.conn_state == "connected" and app.plugins, timeout=20)
        assert app.embedded is not None
        await pilot.press("q")

    drive(app, scenario)
    assert not socket.exists()


def test_mouse_clicks_switch_screens_and_open_a_plugin(tmp_path):
    from textual.widgets import DataTable

    with RunningNode(tmp_path, plugins=["pulse"]) as node:
        app = ColonyApp(unix_opener(node.socket))

        async def scenario(app: ColonyApp, pilot: Pilot) -> None:
            def plugins_keys() -> list:
                return [key for key in app.screen.query("FooterKey") if key.description == "Plugins"]

            await wait_for(pilot, lambda: app.conn_state == "connected" and app.plugins and plugins_keys())
            await wait_for(pilot, lambda: plugins_keys()[0].region.width > 0)  # laid out, so a click can aim at it
            await pilot.click(plugins_keys()[0])
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PluginsScreen")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count)
            row = [r.value for r in table.rows].index("pulse")
            if row:  # a click on another row moves the cursor there
                await pilot.click(table, offset=(2, 1 + row))
                await wait_for(pilot, lambda: app.screen.selected() == "pulse")  # type: ignore[attr-defined]
            await pilot.click(table, offset=(2, 1 + row))  # a click on the cursor's row opens its details
            await wait_for(pilot, lambda: getattr(app.screen, "plugin", None) == "pulse")

        drive(app, scenario)


def test_events_search_narrows_the_log(tmp_path):
    from textual.widgets import RichLog

    with RunningNode(tmp_path, plugins=["pulse"]) as node:
        app = ColonyApp(unix_opener(node.socket))

        def log_text() -> str:
            return "\n".join(line.text for line in app.screen.query_one("#event-log", RichLog).lines)

        async def scenario(app: ColonyApp, pilot: Pilot) -> None:
            await wait_for(pilot, lambda: app.conn_state == "connected")
            await pilot.press("e")
            node.call("plugins.reload", name="pulse")
            node.tick()
            await wait_for(pilot, lambda: "heartbeat.tick" in log_text() and "switched" in log_text())
            await pilot.press("slash", *"switched")
            await wait_for(pilot, lambda: "heartbeat.tick" not in log_text())
            assert "switched" in log_text() and app.screen.search == "switched"  # type: ignore[attr-defined]

        drive(app, scenario)
