"""The TUI's non-visual parts: the embedded node in guest mode, the file watcher, hosts.toml."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest

from colony.core.client import open_unix
from colony.core.config import Config
from colony.tui.embedded import EmbeddedNode
from colony.tui.hosts import HostsError, NodeAddress, load_hosts
from colony.tui.watch import watch


def test_embedded_node_runs_as_a_trio_guest_on_asyncio(home, sockdir):
    config = Config(environ={}, overrides={"control": {"socket": str(sockdir / "e.sock")}, "plugins": {"load": ["pulse"]}, "heartbeat": {"interval": 0.05}})

    async def scenario() -> dict:
        node = EmbeddedNode(config, home)
        socket = await node.start()
        async with await open_unix(socket) as client:
            await client.handshake()
            await asyncio.sleep(0.3)  # the heartbeat runs meanwhile, on this same loop
            status = await client.call("node.status")
        await node.stop()
        return status

    status = asyncio.run(scenario())
    assert status["plugins"]["running"] == 1 and status["heartbeat"]["ticks"] >= 2
    assert not (sockdir / "e.sock").exists()  # it stopped cleanly


def test_embedded_node_that_cannot_start_raises(home, sockdir):
    config = Config(environ={}, overrides={"control": {"socket": str(sockdir / ("x" * 120))}, "plugins": {"load": []}})

    async def scenario() -> None:
        await EmbeddedNode(config, home).start()

    with pytest.raises(OSError, match="over 107 bytes"):
        asyncio.run(scenario())


def test_watch_calls_back_once_per_save(tmp_path):
    path = tmp_path / "plug.py"
    path.write_text("v = 1\n")
    saves: list[str] = []

    async def scenario() -> None:
        async def on_save(p: Path) -> None:
            saves.append(p.read_text())

        async with anyio.create_task_group() as group:
            group.start_soon(watch, path, on_save, 0.02)
            await anyio.sleep(0.1)
            path.write_text("v = 2\n")
            await anyio.sleep(0.2)
            path.unlink()
            await anyio.sleep(0.1)
            path.write_text("v = 333\n")
            await anyio.sleep(0.2)
            group.cancel_scope.cancel()

    anyio.run(scenario)
    assert saves == ["v = 2\n", "v = 333\n"]


def test_hosts_toml(tmp_path):
    path = tmp_path / "hosts.toml"
    assert load_hosts(path) == []
    path.write_text('[hosts.prod]\nhost = "ops@prod"\nsocket = "/run/colony.sock"\n[hosts.here]\nsocket = "/tmp/c.sock"\n')
    assert load_hosts(path) == [NodeAddress("prod", "/run/colony.sock", "ops@prod"), NodeAddress("here", "/tmp/c.sock", "")]
    assert load_hosts(path)[0].describe() == "prod (ssh ops@prod /run/colony.sock)"
    for bad, message in [("[hosts.x]\nport = 1\n", "only 'socket' and 'host'"), ("[hosts.x]\n", "needs a 'socket'"), ("hosts = 3\n", "table"), ("[[", "hosts.toml")]:
        path.write_text(bad)
        with pytest.raises(HostsError, match=message):
            load_hosts(path)
