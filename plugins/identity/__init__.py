"""identity: the node's keys (wallet and facilitator), their funding, and its ERC-8004 identity."""

from __future__ import annotations

from typing import Any

import trio
from web3 import Web3

from colony.core import Manifest, Option, PluginContext, RPCError
from colony.core.http import Request, Response
from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED
from colony.plugins.chain import Chain, ChainError, dev_fund

from . import tools
from .erc8004 import Agent, IdentityError
from .keys import Signer, load_or_create, passphrase
from .registration import WELL_KNOWN, short_uri

PLUGIN = Manifest(
    name="identity",
    version="1.0.0",
    requires=("chain",),
    unloadable=False,
    description="Owns the node's encrypted keys, keeps them funded, and registers the node under ERC-8004.",
    config={
        "kdf": Option("scrypt", "Key derivation for new keystores: 'scrypt' (eth-account's default) or 'pbkdf2'."),
        "kdf_iterations": Option(0, "pbkdf2 iterations for new keystores (0: eth-account's default)."),
        "fund_tokens": Option(1_000_000_000, "On a dev chain, mint the wallet this many token units when it holds less than half."),
        "fund_gas": Option(10**18, "On a dev chain, top the wallet and facilitator up to this much gas (wei)."),
        "faucet_below": Option(10_000_000, "On Tempo, ask the faucet only while the wallet holds less than this (10 pathUSD)."),
        "faucet_attempts": Option(3, "On Tempo, how many times to ask the faucet, backing off 1, 2, 4... seconds."),
        "name": Option("", "The agent's name in its ERC-8004 registration file (empty: 'colony' and the node id's first 8 characters)."),
        "description": Option("A colony agent: autonomous services paid over x402.", "The agent's description in its registration file."),
        "image": Option("", "URL of the agent's image in its registration file."),
        "public_url": Option("http://127.0.0.1:4023", "The node's public base URL: the 'web' service and the base of every paid route's endpoint."),
        "uri_mode": Option("data", "agentURI form: 'data' puts the file on-chain as a base64 data: URI; 'url' points at public_url + /.well-known/agent-registration.json."),
        "refresh": Option(10.0, "Seconds between checks that republish a changed registration file and scan the registry for peers."),
        "from_block": Option(0, "First block searched for Registered and URIUpdated logs; set it to the registry's deployment block on long chains."),
    },
)

_state: dict[str, Any] = {}


def signer(role: str) -> Signer:
    """The running plugin's signer for `role` ('wallet' or 'facilitator')."""
    found = _state.get(role)
    if found is None:
        raise RPCError(-32000, "the identity plugin is not running")
    return found


async def colony_start(ctx: PluginContext) -> None:
    chain: Chain = ctx.service("chain")
    folder = ctx.home / "keys"
    kdf, iterations = str(ctx.config["kdf"]), int(ctx.config["kdf_iterations"])
    secret = await trio.to_thread.run_sync(passphrase, folder)
    for role in ("wallet", "facilitator"):
        account = await trio.to_thread.run_sync(load_or_create, folder / f"{role}.json", secret, kdf, iterations)
        _state[role] = Signer(account, role)
    _state["chain"] = chain
    ctx.registrar.service("wallet", _state["wallet"])
    ctx.registrar.service("facilitator", _state["facilitator"])
    ctx.registrar.rpc("wallet.info", wallet_info)
    ctx.registrar.rpc("wallet.send", wallet_send, destructive=True)
    ctx.registrar.panel("wallet", wallet_panel, title="Wallet")
    agent = Agent(ctx, chain, _state["wallet"])
    _state["agent"] = agent
    ctx.registrar.route("GET", WELL_KNOWN, registration_file)
    ctx.registrar.rpc("identity.info", identity_info)
    ctx.registrar.rpc("identity.register", identity_register, destructive=True)
    ctx.registrar.rpc("identity.peers", identity_peers)
    tools.register(ctx, agent)
    ctx.registrar.panel("identity", identity_panel, title="Identity")
    if chain.dev:
        await fund_dev(chain, ctx.config)
    elif chain.chain_id == 42431:
        ctx.start_task(ask_faucet, chain, ctx)
    ctx.start_task(agent.run)


async def colony_stop(ctx: PluginContext) -> None:
    _state.clear()


async def fund_dev(chain: Chain, config: dict[str, Any]) -> None:
    """Give the wallet tokens and both keys gas from the dev chain's accounts, when they run low."""
    wallet, facilitator = _state["wallet"].address, _state["facilitator"].address
    tokens = int(config["fund_tokens"])
    short = tokens if await chain.balance(wallet) < tokens // 2 else 0
    await dev_fund(chain, wallet, short, int(config["fund_gas"]))
    await dev_fund(chain, facilitator, 0, int(config["fund_gas"]))


async def ask_faucet(chain: Chain, ctx: PluginContext) -> None:
    """Ask Tempo's faucet (`tempo_fundAddress`) for the wallet and facilitator, only when low."""
    if await chain.balance(_state["wallet"].address) >= int(ctx.config["faucet_below"]):
        return
    for attempt in range(int(ctx.config["faucet_attempts"])):
        try:
            for role in ("wallet", "facilitator"):
                await chain.run(chain.w3.provider.make_request, "tempo_fundAddress", [_state[role].address])
            ctx.log.info("the Tempo faucet funded %s", _state["wallet"].address)
            return
        except ChainError as exc:
            ctx.log.warning("Tempo faucet attempt %d failed: %s", attempt + 1, exc)
            await trio.sleep(2**attempt)


async def wallet_info() -> dict[str, Any]:
    """The wallet and facilitator addresses, with their token and gas balances."""
    wallet, facilitator = signer("wallet"), signer("facilitator")
    chain: Chain = _state["chain"]
    return {
        "address": wallet.address,
        "facilitator": facilitator.address,
        "network": chain.network,
        "token": chain.contract("token").address,
        "balance": await chain.balance(wallet.address),
        "gas": await chain.native_balance(wallet.address),
        "facilitator_gas": await chain.native_balance(facilitator.address),
    }


async def wallet_send(to: str, amount: int) -> dict[str, Any]:
    """Send `amount` token units from the wallet to `to`; returns the transaction hash."""
    wallet = signer("wallet")
    if not Web3.is_address(to):
        raise RPCError(-32602, f"not an address: {to!r}")
    if amount <= 0 or amount >= 2**256:
        raise RPCError(-32602, "amount must be a positive integer of token units")
    chain: Chain = _state["chain"]
    if amount > await chain.balance(wallet.address):
        raise RPCError(-32000, "the wallet holds less than that")
    try:
        receipt = await chain.send(wallet, chain.contract("token").functions.transfer(Web3.to_checksum_address(to), amount), gas=100_000)
    except ChainError as exc:
        raise RPCError(-32000, f"not sent: {exc}") from None
    return {"transaction": receipt["transactionHash"].to_0x_hex(), "balance": await chain.balance(wallet.address)}


async def wallet_panel() -> dict[str, Any]:
    """The wallet panel: balances as gauges, the addresses as text."""
    info = await wallet_info()
    return {
        "gauges": {"balance": info["balance"], "gas": info["gas"], "facilitator_gas": info["facilitator_gas"]},
        "text": f"wallet {info['address']}\nfacilitator {info['facilitator']}\n{info['network']} token {info['token']}",
    }


def _agent() -> Agent:
    agent: Agent | None = _state.get("agent")
    if agent is None:
        raise RPCError(OPERATION_FAILED, "the identity plugin is not running")
    return agent


async def registration_file(request: Request) -> Response:
    """GET /.well-known/agent-registration.json: the node's current ERC-8004 registration file."""
    return Response.json(_agent().document())


async def identity_info() -> dict[str, Any]:
    """The node's ERC-8004 agent: id (null until registered), registry, agentURI, registration file, transaction, and whether the URI is current."""
    agent = _agent()
    record = agent.record() or {}
    return {
        "agent_id": record.get("agent_id"),
        "owner": agent.wallet.address,
        "network": agent.chain.network,
        "registry": agent.agent_registry,
        "registry_address": agent.registry.address,
        "agent_uri": record.get("uri"),
        "registration": agent.document(),
        "transaction": record.get("transaction"),
        "published": agent.published(),
        "peers": len(agent.peers()),
    }


async def identity_register() -> dict[str, Any]:
    """Find the node's agent or mint it, then publish a changed registration file; returns identity.info."""
    agent = _agent()
    try:
        await agent.ensure()
        await agent.sync()
    except (ChainError, IdentityError) as exc:
        raise RPCError(OPERATION_FAILED, f"identity.register failed: {exc}") from None
    return await identity_info()


async def identity_peers(limit: int | None = None) -> list[dict[str, Any]]:
    """Other agents found in the registry's logs, by agentId: agentId, owner, uri and name; at most `limit`."""
    if limit is not None and limit < 1:
        raise RPCError(INVALID_PARAMS, "invalid params for identity.peers: 'limit' must be a positive integer")
    return _agent().peers()[:limit]


def identity_panel() -> dict[str, Any]:
    """The identity panel: peer count as a gauge; agent id, registry and agentURI as text."""
    agent = _agent()
    record = agent.record()
    uri = "" if record is None else short_uri(record["uri"])
    agent_id = "not registered yet" if record is None else str(record["agent_id"])
    return {
        "gauges": {"peers": len(agent.peers())},
        "text": f"agent {agent_id}\nregistry {agent.agent_registry}\nuri {uri}",
    }
