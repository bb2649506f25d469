"""The node's ERC-8004 agent: find or mint it once, keep its agentURI current, and discover peers."""

from __future__ import annotations

from typing import Any

import trio
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import BlockNotFound, ContractLogicError
from web3.logs import DISCARD

from colony.core import PluginContext
from colony.plugins.chain import Chain, ChainError

from . import registration
from .keys import Signer

LOG_CHUNK = 10_000  # blocks per eth_getLogs call; public RPC endpoints refuse wide ranges
MAX_DATA_URI = 8192  # characters the colony registry stores in an agentURI
REVERTS = (ContractLogicError, TransactionFailed)  # how a JSON-RPC chain and the in-process chain report a revert


class IdentityError(RuntimeError):
    """The agent cannot be registered or updated as configured."""


class Agent:
    """One node's agent in one identity registry; everything it learns is kept in the store."""

    def __init__(self, ctx: PluginContext, chain: Chain, wallet: Signer) -> None:
        self.ctx = ctx
        self.chain = chain
        self.wallet = wallet
        self.registry = chain.contract("identity")
        self.scope = f"{chain.network}/{self.registry.address}"
        self.lock = trio.Lock()
        self.mode = str(ctx.config["uri_mode"])
        self.public_url = str(ctx.config["public_url"])
        self.from_block = int(ctx.config["from_block"])
        if self.mode not in registration.URI_MODES:
            raise IdentityError(f"identity.uri_mode must be one of {', '.join(registration.URI_MODES)}, not {self.mode!r}")
        if not self.public_url.startswith(("http://", "https://")):
            raise IdentityError(f"identity.public_url must be an http(s) URL, not {self.public_url!r}")
        if float(ctx.config["refresh"]) <= 0:
            raise IdentityError("identity.refresh must be a positive number of seconds")

    # -- what the node publishes ---------------------------------------------------------------

    @property
    def agent_registry(self) -> str:
        """`eip155:<chain>:<registry address>`."""
        return registration.agent_registry(self.chain.network, self.registry.address)

    def record(self) -> dict[str, Any] | None:
        """The stored agent of this wallet in this registry: agent_id, transaction, uri, hash."""
        found: dict[str, Any] | None = self.ctx.store.get(f"agent/{self.scope}")
        return found

    def document(self) -> dict[str, Any]:
        """The registration file as it should read now."""
        record = self.record()
        payment = registration.Payment(self.chain.network, self.chain.contract("token").address, self.wallet.address)
        return registration.build(
            self.ctx.config,
            default_name=f"colony {self.ctx.node_id[:8]}",
            services=registration.paid_services(self.ctx.registrations("route"), self.public_url, payment),
            agent_id=None if record is None else record["agent_id"],
            registry=self.agent_registry,
        )

    def uri(self, document: dict[str, Any]) -> str:
        """The agentURI for `document`, refused when the registry could not store it."""
        uri = registration.agent_uri(document, self.mode, self.public_url)
        if len(uri) > MAX_DATA_URI:
            raise IdentityError(f"the registration file makes a {len(uri)}-character data: URI (at most {MAX_DATA_URI}); set identity.uri_mode = 'url'")
        return uri

    def published(self) -> bool:
        """Whether the agentURI on chain is the one the current file calls for."""
        record = self.record()
        if record is None:
            return False
        document = self.document()
        try:
            return (self.uri(document), registration.digest(document)) == (record["uri"], record["hash"])
        except IdentityError:
            return False

    # -- registration --------------------------------------------------------------------------

    async def ensure(self) -> dict[str, Any]:
        """The agent record, found (stored, then in the Registered logs) before anything is minted."""
        async with self.lock:
            record = self.record()
            if record is not None and await self._owns(record["agent_id"]):
                return record
            found = await self._search()
            if found is None:
                record = await self._mint()
            else:
                agent_id, tx = found
                uri = str(await self.chain.call("identity", "tokenURI", agent_id))
                record = {"agent_id": agent_id, "transaction": tx, "uri": uri, "hash": published_hash(uri), "minted": False}
            await self.ctx.store.put(f"agent/{self.scope}", record)
        self.ctx.publish(
            "identity.registered",
            {"agent_id": record["agent_id"], "registry": self.agent_registry, "minted": record["minted"], "transaction": record["transaction"]},
        )
        self.ctx.log.info("agent %d in %s (%s)", record["agent_id"], self.agent_registry, "minted" if record["minted"] else "found")
        return record

    async def _owns(self, agent_id: int) -> bool:
        """Whether the wallet owns `agent_id`; a revert (no such agent) is a no, a failed call raises."""
        return bool(await self.chain.run(owner_of, self.registry, agent_id) == self.wallet.address)

    async def _search(self) -> tuple[int, str] | None:
        """The newest agent the wallet registered and still owns, from the Registered logs."""
        if await self.chain.call("identity", "balanceOf", self.wallet.address) == 0:
            return None
        latest = await self.chain.block_number()
        for event in reversed(await self._logs("Registered", self.from_block, latest, {"owner": self.wallet.address})):
            if await self._owns(event.args.agentId):
                return int(event.args.agentId), event.transactionHash.to_0x_hex()
        return None

    async def _mint(self) -> dict[str, Any]:
        """Register a new agent; its file names no registrations until the id is known."""
        document = self.document()
        uri = self.uri(document)
        register = self.registry.get_function_by_signature("register(string)")
        receipt = await self.chain.send(self.wallet, register(uri))
        (event,) = self.registry.events.Registered().process_receipt(receipt, errors=DISCARD)
        tx = receipt["transactionHash"].to_0x_hex()
        return {"agent_id": int(event.args.agentId), "transaction": tx, "uri": uri, "hash": registration.digest(document), "minted": True}

    async def sync(self) -> bool:
        """Call setAgentURI once if the file or its URI changed since it was published; whether it did."""
        async with self.lock:
            record = self.record()
            if record is None or self.published():
                return False
            document = self.document()
            uri, digest = self.uri(document), registration.digest(document)
            receipt = await self.chain.send(self.wallet, self.registry.functions.setAgentURI(record["agent_id"], uri))
            tx = receipt["transactionHash"].to_0x_hex()
            await self.ctx.store.put(f"agent/{self.scope}", {**record, "uri": uri, "hash": digest, "updated": tx})
        self.ctx.publish("identity.uri_updated", {"agent_id": record["agent_id"], "hash": digest, "transaction": tx})
        return True

    # -- discovery -----------------------------------------------------------------------------

    def peers(self) -> list[dict[str, Any]]:
        """The other agents seen in this registry, by agentId."""
        return sorted((peer for _, peer in self.ctx.store.scan(f"peer/{self.scope}/")), key=lambda peer: peer["agentId"])

    async def scan(self) -> int:
        """Read Registered and URIUpdated logs since the last scan into the peer list; how many peers changed."""
        cursor: dict[str, Any] | None = self.ctx.store.get(f"cursor/{self.scope}")
        fresh = cursor is None or not await self._still_there(cursor)
        start = self.from_block if cursor is None or fresh else cursor["block"] + 1
        latest = await self.chain.block_number()
        if start > latest:
            return 0
        known = {} if fresh else {peer["agentId"]: peer for peer in self.peers()}
        events = await self._logs("Registered", start, latest) + await self._logs("URIUpdated", start, latest)
        changed: dict[int, dict[str, Any]] = {}
        for event in sorted(events, key=lambda e: (e.blockNumber, e.logIndex)):
            agent_id = int(event.args.agentId)
            if event.event == "Registered" and event.args.owner != self.wallet.address:
                changed[agent_id] = known[agent_id] = peer_entry(agent_id, event.args.owner, event.args.agentURI)
            elif event.event == "URIUpdated" and agent_id in known:
                changed[agent_id] = known[agent_id] = peer_entry(agent_id, known[agent_id]["owner"], event.args.newURI)
        tip = await self.chain.run(block_hash, self.chain, latest)
        async with self.ctx.store.transaction() as tx:
            if fresh:
                for key, _ in self.ctx.store.scan(f"peer/{self.scope}/"):
                    tx.delete(key)
            for agent_id, peer in changed.items():
                tx.put(f"peer/{self.scope}/{agent_id}", peer)
            tx.put(f"cursor/{self.scope}", {"block": latest, "hash": tip})
        for peer in changed.values():
            self.ctx.publish("identity.peer", {"agent_id": peer["agentId"], "owner": peer["owner"]})
        return len(changed)

    async def _still_there(self, cursor: dict[str, Any]) -> bool:
        """Whether the last scanned block is still on the chain (a dev chain restart or reorg removes it)."""
        return bool(await self.chain.run(block_hash, self.chain, cursor["block"]) == cursor["hash"])

    async def _logs(self, name: str, start: int, end: int, filters: dict[str, Any] | None = None) -> list[Any]:
        """Decoded `name` events of the registry between two blocks, in chunks."""
        event = getattr(self.registry.events, name)()
        found: list[Any] = []
        for low in range(start, end + 1, LOG_CHUNK):
            found += await self.chain.run(fetch_logs, event, low, min(low + LOG_CHUNK - 1, end), filters)
        return found

    # -- the background task -------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then every `refresh` seconds publish file changes and scan for peers."""
        while True:
            try:
                await self.ensure()
                await self.sync()
                await self.scan()
            except (ChainError, IdentityError) as exc:  # the next round retries
                self.ctx.log.warning("ERC-8004 round failed, retrying in %ss: %s", self.ctx.config["refresh"], exc)
            await trio.sleep(float(self.ctx.config["refresh"]))


def owner_of(registry: Any, agent_id: int) -> str | None:
    """The owner of `agent_id`, or None when the registry has no such agent (blocking)."""
    try:
        return str(registry.functions.ownerOf(agent_id).call())
    except REVERTS:
        return None


def block_hash(chain: Chain, number: int) -> str | None:
    """The hash of block `number`, or None when the chain has no such block (blocking)."""
    try:
        return str(chain.w3.eth.get_block(number)["hash"].to_0x_hex())
    except BlockNotFound:
        return None


def fetch_logs(event: Any, low: int, high: int, filters: dict[str, Any] | None) -> list[Any]:
    """One eth_getLogs call for `event` (blocking)."""
    return list(event.get_logs(from_block=low, to_block=high, argument_filters=filters))


def published_hash(uri: str) -> str:
    """The digest of the file inside a data: URI; empty for a URL, whose file the chain does not hold."""
    try:
        return registration.digest(registration.decode_data_uri(uri))
    except ValueError:
        return ""


def peer_entry(agent_id: int, owner: str, uri: str) -> dict[str, Any]:
    """A peer as stored: id, owner, URI, and its name when the URI carries the file."""
    try:
        name = str(registration.decode_data_uri(uri).get("name", ""))
    except ValueError:
        name = ""
    return {"agentId": agent_id, "owner": owner, "uri": uri, "name": name}
