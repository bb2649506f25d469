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
            await pilot.pause(0.3)
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
