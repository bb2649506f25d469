"""The ERC-8004 registration file: what it says, its canonical bytes, and the agentURI that points at it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from colony.core.context import Registration
from colony.core.rpc import loads

TYPE = "https://eips.ethereum.org/EIPS/eip-8004#registration-v1"
WELL_KNOWN = "/.well-known/agent-registration.json"
DATA_PREFIX = "data:application/json;base64,"
URI_MODES = ("data", "url")


@dataclass(frozen=True)
class Payment:
    """Where a paid route's money goes: the chain, the token and the receiving address."""

    network: str
    asset: str
    pay_to: str


def agent_registry(network: str, registry: str) -> str:
    """The global registry id, `eip155:<chain>:<address>`."""
    return f"{network}:{registry}"


def paid_services(routes: Iterable[Registration], public_url: str, payment: Payment) -> list[dict[str, Any]]:
    """One services entry per route that has a price, in route order."""
    services = []
    for route in sorted(routes, key=lambda reg: reg.key):
        price = route.meta.get("price")
        if price is None:
            continue
        method, path = route.key.split(" ", 1)
        services.append(
            {
                "name": "x402",
                "endpoint": public_url.rstrip("/") + path,
                "method": method,
                "price": price,
                "scheme": "exact",
                "network": payment.network,
                "asset": payment.asset,
                "payTo": payment.pay_to,
            }
        )
    return services


def build(
    config: dict[str, Any],
    *,
    default_name: str,
    services: list[dict[str, Any]],
    agent_id: int | None,
    registry: str,
) -> dict[str, Any]:
    """The registration file; `registrations` is empty until the agent has an id."""
    public_url = str(config["public_url"])
    return {
        "type": TYPE,
        "name": str(config["name"]) or default_name,
        "description": str(config["description"]),
        "image": str(config["image"]),
        "services": [{"name": "web", "endpoint": public_url}, *services],
        "x402Support": True,
        "active": True,
        "registrations": [] if agent_id is None else [{"agentId": agent_id, "agentRegistry": registry}],
        "supportedTrust": ["reputation"],
    }


def canonical(document: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces, UTF-8), so equal files hash equally."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(document: dict[str, Any]) -> str:
    """The SHA-256 hex digest of the canonical JSON."""
    return hashlib.sha256(canonical(document)).hexdigest()


def agent_uri(document: dict[str, Any], mode: str, public_url: str) -> str:
    """The agentURI: the file itself as a base64 data: URI, or the URL where the node serves it."""
    if mode == "data":
        return DATA_PREFIX + base64.b64encode(canonical(document)).decode()
    if mode == "url":
        return public_url.rstrip("/") + WELL_KNOWN
    raise ValueError(f"uri_mode must be one of {', '.join(URI_MODES)}, not {mode!r}")


def decode_data_uri(uri: str) -> dict[str, Any]:
    """The registration file inside a base64 data: URI (ValueError for anything else)."""
    if not uri.startswith(DATA_PREFIX):
        raise ValueError("not a base64 application/json data: URI")
    document = loads(base64.b64decode(uri[len(DATA_PREFIX) :], validate=True))  # a peer's: depth-checked
    if not isinstance(document, dict):
        raise ValueError("the data: URI does not hold a JSON object")
    return document


def short_uri(uri: str, width: int = 72) -> str:
    """An agentURI cut to `width` characters for display."""
    return uri if len(uri) <= width else uri[: width - 3] + "..."
