"""ERC-8004 on a shared anvil chain: a restarted node keeps its one agent, and nodes discover each other."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3 import Web3

from colony.plugins.chain import build
from colony.plugins.identity.registration import decode_data_uri
from colony.testing import RunningNode
from colony.testing.anvil import Anvil
from tests.plugins.conftest import wait_for
from tests.plugins.identity.conftest import identity_config, published


def registry(anvil: Anvil, info: dict[str, Any]) -> Any:
    """The identity registry a node uses, read straight from anvil."""
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    return w3.eth.contract(address=info["registry_address"], abi=build.load_artifact("identity")["abi"])


def test_a_restarted_node_finds_its_agent_instead_of_minting(anvil_chain: Anvil, tmp_path: Path) -> None:
    home, config = tmp_path / "home", identity_config(anvil_chain.url, name="ada")  # the default name follows the node id
    with RunningNode(home, plugins=["chain", "identity"], config=config) as node:
        first = published(node)
    contract = registry(anvil_chain, first)
    mints = lambda: contract.events.Registered().get_logs(from_block=0, argument_filters={"owner": first["owner"]})  # noqa: E731
    updates = lambda: contract.events.URIUpdated().get_logs(from_block=0, argument_filters={"agentId": first["agent_id"]})  # noqa: E731
    assert [event.args.agentId for event in mints()] == [first["agent_id"]]
    updated = len(updates())

    with RunningNode(home, plugins=["chain", "identity"], config=config) as node:  # same home: the stored agent
        assert node.call("identity.register")["agent_id"] == first["agent_id"]
        assert published(node)["agent_uri"] == first["agent_uri"]

    # A new home with the same keys has no stored agent: it is found in the Registered logs.
    other = tmp_path / "other"
    shutil.copytree(home / "keys", other / "keys")
    with RunningNode(other, plugins=["chain", "identity"], config=config) as node:
        found = node.call("identity.register")
        assert (found["agent_id"], found["transaction"]) == (first["agent_id"], first["transaction"])
        (event,) = node.call("events.recent", topics=["identity.registered"])
        assert event["data"]["minted"] is False
        assert published(node)["agent_uri"] == first["agent_uri"]
    assert [event.args.agentId for event in mints()] == [first["agent_id"]]  # still one agent
    assert len(updates()) == updated  # and no needless setAgentURI
    assert contract.functions.tokenURI(first["agent_id"]).call() == first["agent_uri"]


def test_nodes_on_one_chain_discover_each_other(anvil_chain: Anvil, running_node: Callable[..., RunningNode]) -> None:
    one = running_node(plugins=["chain", "identity"], config=identity_config(anvil_chain.url, name="one"))
    two = running_node(plugins=["chain", "identity"], config=identity_config(anvil_chain.url, name="two"))
    first, second = published(one), published(two)
    assert first["agent_id"] != second["agent_id"]

    def peer(node: RunningNode, agent_id: int, uri: str) -> dict[str, Any] | None:
        """`agent_id` in the node's peers once its latest URI has been seen."""
        found = [p for p in node.call("identity.peers") if p["agentId"] == agent_id]
        return found[0] if found and found[0]["uri"] == uri else None

    seen = wait_for(lambda: peer(one, second["agent_id"], second["agent_uri"]), "node one to see node two")
    assert seen == {"agentId": second["agent_id"], "owner": second["owner"], "uri": second["agent_uri"], "name": "two"}
    wait_for(lambda: peer(two, first["agent_id"], first["agent_uri"]), "node two to see node one")
    for node, own in ((one, first), (two, second)):
        assert own["agent_id"] not in [p["agentId"] for p in node.call("identity.peers")]  # never itself
    assert decode_data_uri(seen["uri"])["registrations"] == second["registration"]["registrations"]
    assert one.call("identity.peers", limit=1) == one.call("identity.peers")[:1]
    assert one.call("identity.info")["peers"] == len(one.call("identity.peers"))
