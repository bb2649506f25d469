"""Shared pieces of the identity plugin's tests: node config, condition waits, chain reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from colony.plugins.chain import Chain
from colony.testing import RunningNode

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
            "identity": {"kdf": "pbkdf2", "kdf_iterations": 1000, "refresh": 0.1, **identity},
        }
    }


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `condition` until it returns something truthy and return that; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def published(node: RunningNode) -> dict[str, Any]:
    """identity.info once the agent is registered and its current file is on chain."""
    return wait_for(lambda: (info := node.call("identity.info"))["published"] and info, "the agent's file to be on chain")


def on_chain(node: RunningNode, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking web3 call against the node's own chain, in its chain worker thread."""
    chain: Chain = node.kernel.registry.get("service", "chain").value  # type: ignore[union-attr]
    return node.run(chain.run, fn, *args)


def registry_events(node: RunningNode, name: str, **filters: Any) -> list[Any]:
    """Every `name` event the node's identity registry has emitted, oldest first."""
    chain: Chain = node.kernel.registry.get("service", "chain").value  # type: ignore[union-attr]
    event = getattr(chain.contract("identity").events, name)()
    return on_chain(node, lambda: list(event.get_logs(from_block=0, argument_filters=filters or None)))


@pytest.fixture
def identity_node(running_node: Callable[..., RunningNode]) -> RunningNode:
    """A node on the in-process chain running chain and identity."""
    return running_node(plugins=["chain", "identity"], config=identity_config())
