"""`discover_peers`: the soul's tool listing the agents this node knows of, from the ERC-8004 registry and on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from colony.core import PluginContext, RPCError
from colony.core.client import Disconnected, ProtocolError, open_unix
from colony.core.paths import runtime_dir

from .erc8004 import Agent
from .registration import decode_data_uri

MAX_SERVICES = 50  # per peer: the registry is written by strangers
MAX_LOCAL = 32  # control sockets asked
ASK_SECONDS = 2.0  # per local node


def services(uri: str) -> list[dict[str, Any]]:
    """The services a peer's data: URI registration file lists (name, endpoint, and method and price when paid)."""
    try:
        listed = decode_data_uri(uri).get("services")
    except (ValueError, RecursionError):
        return []
    found = []
    for entry in listed[:MAX_SERVICES] if isinstance(listed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("endpoint"), str):
            fields = {key: entry[key] for key in ("name", "endpoint", "method", "price") if type(entry.get(key)) in (str, int)}
            found.append({key: value[:500] if isinstance(value, str) else value for key, value in fields.items()})
    return found


async def local_nodes(own: str) -> list[dict[str, Any]]:
    """Other nodes with a control socket in this user's runtime folder: name, node id, socket, and gateway URL when they serve one."""
    folder = runtime_dir()
    sockets = sorted(await trio.to_thread.run_sync(lambda: list(folder.glob("*.sock")) if folder.is_dir() else []))[:MAX_LOCAL]
    answers: list[dict[str, Any] | None] = [None] * len(sockets)

    async def ask_into(index: int, socket: Path) -> None:
        answers[index] = await ask(socket, own)

    # Asked together: silent nodes cost ASK_SECONDS once, not once each (32 in a row would outlast a tool call's timeout).
    async with trio.open_nursery() as nursery:
        for index, socket in enumerate(sockets):
            nursery.start_soon(ask_into, index, socket)
    return [answer for answer in answers if answer is not None]


async def ask(socket: Path, own: str) -> dict[str, Any] | None:
    """The node behind `socket`, or None when it is this node or does not answer within ASK_SECONDS."""
    with trio.move_on_after(ASK_SECONDS):
        try:
            async with await open_unix(socket) as client:
                status = await client.call("node.status")
                if not isinstance(status, dict) or status.get("node") == own:
                    return None
                try:
                    gateway = await client.call("gateway.info")
                except RPCError:
                    gateway = {}
        except (Disconnected, ProtocolError, RPCError, OSError):
            return None
        listening = gateway.get("listening") if isinstance(gateway, dict) else None
        urls = [url for url in listening if isinstance(url, str)] if isinstance(listening, list) else []
        return {"name": status.get("name"), "node": status.get("node"), "socket": str(socket), "urls": urls}
    return None


def register(ctx: PluginContext, agent: Agent) -> None:
    """Offer `discover_peers` to the soul."""

    async def discover_peers(local: bool = True) -> dict[str, Any]:
        registry = [
            {"agent_id": peer["agentId"], "owner": peer["owner"], "name": peer["name"], "services": services(peer["uri"]),
             **({} if peer["uri"].startswith("data:") else {"uri": peer["uri"][:500]})}
            for peer in agent.peers()
        ]
        return {"registry": registry, "local": await local_nodes(ctx.node_id) if local else []}

    ctx.registrar.tool("discover_peers", discover_peers, description=(
        "List the agents this node knows of: peers found in the ERC-8004 identity registry (with the services and prices "
        "their registration files list) and other colony nodes on this machine (with their gateway URLs)."
    ), parameters={
        "type": "object",
        "properties": {"local": {"type": "boolean", "description": "Also ask the other nodes on this machine. Default true."}},
    })
