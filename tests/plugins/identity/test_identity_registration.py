"""ERC-8004 registration on the in-process chain: one agent, id 0, the file on chain, one update per change."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from colony.core.http import Request, Response
from colony.core.rpc import INVALID_PARAMS, RPCError
from colony.plugins.identity.registration import TYPE, WELL_KNOWN, decode_data_uri
from colony.testing import RunningNode, temporary_plugin
from tests.plugins.conftest import wait_for
from tests.plugins.identity.conftest import PAID_ROUTE, chain_of, identity_config, on_chain, published, registry_events


def token_uri(node: RunningNode, agent_id: int) -> str:
    """The agentURI the registry holds for `agent_id`."""
    registry = chain_of(node).contract("identity")
    return str(on_chain(node, registry.functions.tokenURI(agent_id).call))


def serve_file(node: RunningNode) -> dict[str, Any]:
    """Call the well-known route's handler directly, as the gateway would."""
    route = node.kernel.registry.get("route", f"GET {WELL_KNOWN}")  # type: ignore[union-attr]
    assert route is not None and route.meta["price"] is None  # served for free
    response: Response = node.run(route.value, Request("GET", WELL_KNOWN))
    assert (response.status, response.content_type) == (200, "application/json")
    return dict(json.loads(response.body))


def test_first_agent_is_id_0_and_its_token_uri_is_the_registration_file(identity_node: RunningNode) -> None:
    info = published(identity_node)
    wallet = identity_node.call("wallet.info")["address"]
    assert info["agent_id"] == 0  # the first id, and a real one
    assert info["owner"] == wallet

    document = decode_data_uri(token_uri(identity_node, 0))
    assert document == info["registration"] == serve_file(identity_node)
    assert document["type"] == TYPE
    assert (document["x402Support"], document["active"], document["supportedTrust"]) == (True, True, ["reputation"])
    assert document["services"] == [{"name": "web", "endpoint": "http://127.0.0.1:4023"}]

    (registered,) = registry_events(identity_node, "Registered")
    assert (registered.args.agentId, registered.args.owner) == (0, wallet)
    assert registered.transactionHash.to_0x_hex() == info["transaction"]
    network = identity_node.call("chain.info")["network"]
    assert document["registrations"] == [{"agentId": registered.args.agentId, "agentRegistry": f"{network}:{registered.address}"}]
    assert info["registry"] == f"{network}:{registered.address}"

    # The mint carried a file without registrations; one setAgentURI then published the full one.
    (updated,) = registry_events(identity_node, "URIUpdated")
    assert (updated.args.agentId, updated.args.newURI, updated.args.updatedBy) == (0, info["agent_uri"], wallet)
    events = identity_node.call("events.recent", topics=["identity.*"])
    assert [e["topic"] for e in events] == ["identity.registered", "identity.uri_updated"]
    assert events[0]["data"] == {"agent_id": 0, "registry": info["registry"], "minted": True, "transaction": info["transaction"]}


def test_a_paid_route_triggers_exactly_one_set_agent_uri(identity_node: RunningNode) -> None:
    info = published(identity_node)
    before = len(registry_events(identity_node, "URIUpdated"))
    wallet = identity_node.call("wallet.info")
    with temporary_plugin(identity_node, PAID_ROUTE, name="paidroute") as row:
        assert row["state"] == "running"
        info = wait_for(
            lambda: (now := published(identity_node))["agent_uri"] != info["agent_uri"] and now, "the paid route to be published"
        )
        assert identity_node.call("identity.register")["agent_uri"] == info["agent_uri"]  # nothing left to change
        updates = registry_events(identity_node, "URIUpdated")
        assert len(updates) == before + 1
        assert updates[-1].args.newURI == info["agent_uri"] == token_uri(identity_node, 0)
        services = decode_data_uri(info["agent_uri"])["services"]
        assert services[1:] == [
            {
                "name": "x402",
                "endpoint": "http://127.0.0.1:4023/paid/answer",
                "method": "GET",
                "price": 1000,
                "scheme": "exact",
                "network": wallet["network"],
                "asset": wallet["token"],
                "payTo": wallet["address"],
            }
        ]
        assert serve_file(identity_node)["services"] == services
    wait_for(lambda: len(published(identity_node)["registration"]["services"]) == 1, "the unloaded route to leave the file")
    assert len(registry_events(identity_node, "URIUpdated")) == before + 2


def test_a_restarted_dev_chain_gets_exactly_one_new_agent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with RunningNode(home, plugins=["chain", "identity"], config=identity_config()) as node:
        wallet = published(node)["owner"]
    # The in-process chain starts empty again: the stored agent 0 is stale, and is minted anew, once.
    with RunningNode(home, plugins=["chain", "identity"], config=identity_config()) as node:
        wait_for(lambda: registry_events(node, "Registered"), "the agent to be minted on the new chain")
        info = node.call("identity.register")
        assert info["agent_id"] == 0 and info["published"]
        (registered,) = registry_events(node, "Registered")
        assert (registered.args.agentId, registered.args.owner) == (0, wallet)
        assert decode_data_uri(token_uri(node, 0))["registrations"][0]["agentId"] == 0


def test_url_mode_points_at_the_well_known_file(running_node: Callable[..., RunningNode]) -> None:
    node = running_node(plugins=["chain", "identity"], config=identity_config(uri_mode="url", public_url="https://agent.example", name="Ada"))
    info = published(node)
    assert info["agent_uri"] == token_uri(node, info["agent_id"]) == "https://agent.example/.well-known/agent-registration.json"
    document = serve_file(node)
    assert document["name"] == "Ada"
    assert document["services"] == [{"name": "web", "endpoint": "https://agent.example"}]
    assert document["registrations"][0]["agentId"] == info["agent_id"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("uri_mode", "ipfs", "uri_mode"), ("public_url", "ftp://x", "public_url"), ("refresh", 0.0, "refresh")],
)
def test_bad_config_stops_the_plugin_with_a_reason(
    running_node: Callable[..., RunningNode], option: str, value: Any, message: str
) -> None:
    node = running_node(plugins=["chain", "identity"], config=identity_config(**{option: value}))
    row = node.call("plugins.info", name="identity")
    assert row["state"] == "failed" and message in row["reason"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("identity.peers", {"limit": 0}),
        ("identity.peers", {"limit": "5"}),
        ("identity.peers", {"limit": True}),
        ("identity.peers", {"limit": 1.5}),
        ("identity.peers", {"bogus": 1}),
        ("identity.info", {"agent_id": 1}),
        ("identity.register", {"force": True}),
    ],
)
def test_hostile_params_get_clear_errors(identity_node: RunningNode, method: str, params: dict[str, Any]) -> None:
    with pytest.raises(RPCError) as caught:
        identity_node.call(method, **params)
    assert caught.value.code == INVALID_PARAMS
    assert method in caught.value.message
    assert identity_node.call("identity.peers", limit=10) == []
    row = identity_node.call("plugins.info", name="identity")
    assert (row["state"], row["errors"]) == ("running", 0)


def test_the_identity_panel(identity_node: RunningNode) -> None:
    info = published(identity_node)
    panel = identity_node.call("panels.get", name="identity")
    assert panel["title"] == "Identity"
    assert panel["data"]["gauges"] == {"peers": 0}
    assert f"agent {info['agent_id']}\nregistry {info['registry']}\nuri data:application/json;base64," in panel["data"]["text"]


def test_a_deeply_nested_data_uri_is_refused_not_a_crash() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))  # as web3's py_ecc leaves it in a node: plain json.loads would overflow the C stack
    try:
        deep = "data:application/json;base64," + base64.b64encode(b"[" * 100_000).decode()
        with pytest.raises(ValueError, match="nested deeper"):
            decode_data_uri(deep)
    finally:
        sys.setrecursionlimit(limit)
