"""Shared pieces of the identity plugin's tests: node config, condition waits, chain reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from colony.plugins.chain import Chain
from colony.testing import RunningNode
from tests.plugins.conftest import FAST_KEYS, wait_for

PAID_ROUTE = '''
from colony.core import Manifest

PLUGIN = Manifest(name="paidroute", version="1.0.0")


async def answer(request):
    return {"answer": 42}


def colony_register(registrar):
    registrar.route("GET", "/paid/answer", answer, price=1000)
'''


def identity_config(chain_url: str = "", **identity: Any) -> dict[str, Any]:
    """Node config with cheap key derivation and a fast refresh, on `chain_url` (empty: in-process)."""
    return {
        "plugin": {
            "chain": {"url": chain_url},
            "identity": {**FAST_KEYS, "refresh": 0.1, **identity},
        }
    }


def published(node: RunningNode) -> dict[str, Any]:
    """identity.info once the agent is registered and its current file is on chain."""
    return wait_for(lambda: (info := node.call("identity.info"))["published"] and info, "the agent's file to be on chain")


def chain_of(node: RunningNode) -> Chain:
    """The node's own `chain` service object."""
    return node.kernel.registry.get("service", "chain").value  # type: ignore[union-attr,no-any-return]


def on_chain(node: RunningNode, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking web3 call against the node's own chain, in its chain worker thread."""
    return node.run(chain_of(node).run, fn, *args)


def registry_events(node: RunningNode, name: str, **filters: Any) -> list[Any]:
    """Every `name` event the node's identity registry has emitted, oldest first."""
    event = getattr(chain_of(node).contract("identity").events, name)()
    return on_chain(node, lambda: list(event.get_logs(from_block=0, argument_filters=filters or None)))


@pytest.fixture
def identity_node(running_node: Callable[..., RunningNode]) -> RunningNode:
    """A node on the in-process chain running chain and identity."""
    return running_node(plugins=["chain", "identity"], config=identity_config())
