"""discover_peers: agents from the ERC-8004 registry on anvil, and the other nodes on this machine."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from colony.testing import Anvil, RunningNode
from tests.plugins.conftest import FAST_KEYS, wait_for
from tests.plugins.tools.conftest import UNMETERED, call


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runtime folder ($XDG_RUNTIME_DIR), whose colony/ subfolder is where local nodes are looked for."""
    base = Path(tempfile.mkdtemp(prefix="colony-rt-", dir="/tmp"))
    (base / "colony").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    yield base / "colony"
    shutil.rmtree(base, ignore_errors=True)


def node_config(anvil: Anvil, name: str) -> dict[str, Any]:
    return {
        **UNMETERED,
        "node": {"name": name},
        "plugin": {"chain": {"url": anvil.url}, "identity": {**FAST_KEYS, "refresh": 0.1, "name": name}, "gateway": {"port": 0}},
    }


def test_discovers_registry_peers_and_local_nodes(anvil_chain: Anvil, runtime: Path, running_node: Callable[..., RunningNode]) -> None:
    one = running_node(plugins=["chain", "identity", "tools"], config=node_config(anvil_chain, "one"))
    two = running_node(plugins=["chain", "identity", "gateway"], config=node_config(anvil_chain, "two"))
    # Where nodes started with default sockets would put them: node one's own is there too.
    (runtime / "one.sock").symlink_to(one.socket)
    (runtime / "two.sock").symlink_to(two.socket)
    (runtime / "stale.sock").touch()  # a socket file nobody listens on
    agent = wait_for(lambda: (info := two.call("identity.info"))["published"] and info, "node two's agent to be on chain")

    def seen() -> dict[str, Any] | None:
        peers = call(one, "discover_peers")
        found = [p for p in peers["registry"] if p["agent_id"] == agent["agent_id"] and p["name"] == "two"]
        return peers if found else None

    peers = wait_for(seen, "node one to find node two in the registry")
    (entry,) = [p for p in peers["registry"] if p["agent_id"] == agent["agent_id"]]
    assert entry["owner"] == agent["owner"] and "uri" not in entry  # a data: URI is read, not repeated
    assert {"name": "web", "endpoint": "http://127.0.0.1:4023"} in entry["services"]
    gateway = two.call("gateway.info")["listening"]
    two_status = two.call("node.status")
    assert peers["local"] == [{"name": "two", "node": two_status["node"], "socket": str(runtime / "two.sock"), "urls": gateway}]
    assert call(one, "discover_peers", local=False)["local"] == []
    with socket.socket(socket.AF_UNIX) as hung:  # a node that takes connections and never answers is left out
        hung.bind(str(runtime / "hung.sock"))
        hung.listen()
        assert call(one, "discover_peers")["local"] == peers["local"]
