"""The TUI through a real OpenSSH hop on loopback, with `colony bridge --stdio` on the far side.

ColonyApp runs headless under asyncio (`app.run_test()` in `asyncio.run`) from a sync test, since
trio_mode runs every `async def` test under trio.
"""

from __future__ import annotations

import asyncio
import io
import json

from rich.console import Console
from textual.widgets import DataTable, RichLog, Static

from colony.tui.app import ColonyApp, ssh_opener
from tests.conftest import write_plugin
from tests.tui.tui_support import wait_for

PROBE = '''
from colony.core import Manifest
PLUGIN = Manifest(name="probe", version="1.0.0")

def colony_register(registrar):
    registrar.rpc("probe.version", lambda: "1.0.0")
'''


def card_text(app: ColonyApp, selector: str) -> str:
    """A dashboard card's text, as drawn."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


def test_tui_operates_a_node_through_ssh(serve, home, sshd, monkeypatch):
    write_plugin(home, "probe", PROBE)
    node = serve("pulse,probe")
    for key, value in sshd.items():
        monkeypatch.setenv(key, value)
    node_id = json.loads(node.cli("status", "--json").stdout)["node"]

    def states() -> dict[str, str]:
        return {row["name"]: row["state"] for row in json.loads(node.cli("plugins", "list", "--json").stdout)}

    def activity(app: ColonyApp) -> str:
        return "\n".join(strip.text for strip in app.screen.query_one("#activity", RichLog).lines)

    async def main() -> None:
        app = ColonyApp(ssh_opener("colonytest", ["--socket", str(node.socket)]), target="colonytest")
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.conn_state == "connected" and app.status.get("node"), "the connection over ssh")
            assert app.hello["node"] == node_id and app.status["node"] == node_id
            assert app.sub_title.endswith(node_id)
            await wait_for(pilot, lambda: node_id[:20] in card_text(app, "#card-node"), "the node card")

            await pilot.press("p")
            await wait_for(pilot, lambda: app.screen.query(DataTable) and "probe" in app.screen.query_one(DataTable).rows, "the plugins table")
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=table.get_row_index("probe"))
            await pilot.pause()

            await pilot.press("u")
            await wait_for(pilot, lambda: "unload probe: stopped" in activity(app), "the unload outcome")
            assert (await asyncio.to_thread(states))["probe"] == "stopped"
            await pilot.press("l")
            await wait_for(pilot, lambda: "load probe: running" in activity(app), "the load outcome")
            assert (await asyncio.to_thread(states))["probe"] == "running"
            await pilot.press("q")

    asyncio.run(main())
    assert json.loads(node.cli("rpc", "probe.version").stdout) == "1.0.0"
