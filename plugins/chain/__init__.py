"""chain: the node's blockchain connection, with the colony contracts deployed or found on it."""

from __future__ import annotations

from typing import Any

import trio
from web3 import Web3

from colony.core import Manifest, Option, PluginContext, RPCError

from .client import Chain, ChainError, Prepared, TxSigner
from .deploy import bind, dev_fund, ensure_dev_contracts, has_code
from .rpc import JsonRpc, proxied

__all__ = ["Chain", "ChainError", "Prepared", "TxSigner", "dev_fund"]

PRESETS: dict[str, dict[str, Any]] = {
    "tempo-moderato": {
        "url": "https://rpc.moderato.tempo.xyz",
        "chain_id": 42431,
        "token": "0x20c0000000000000000000000000000000000000",
        "identity_registry": "0x8004A818BFB912233c491871b3d84c89A494BD9e",
        "reputation_registry": "0x8004B663056A597Dffe9eCcC1965A193B7388713",
    },
}

PLUGIN = Manifest(
    name="chain",
    version="1.0.0",
    description="Connects to a chain (in-process by default) and deploys or finds the colony contracts.",
    unloadable=False,
    config={
        "url": Option("", "JSON-RPC URL of the chain; empty runs an in-process development chain (eth-tester)."),
        "preset": Option("", "A known chain filling url, chain_id and addresses: 'tempo-moderato'."),
        "chain_id": Option(0, "Refuse to start unless the chain reports this id (0 accepts any)."),
        "timeout": Option(30.0, "Seconds one chain call may take before it fails."),
        "receipt_timeout": Option(60.0, "Seconds to wait for a transaction to be mined."),
        "threads": Option(8, "Worker threads, and connections, for chain calls on a JSON-RPC chain (the in-process chain uses one)."),
        "token": Option("", "Address of the payment token; empty deploys the colony stablecoin on a dev chain."),
        "identity_registry": Option("", "Address of the ERC-8004 identity registry; empty deploys one on a dev chain."),
        "reputation_registry": Option("", "Address of the ERC-8004 reputation registry; empty deploys one on a dev chain."),
        "faucet_amount": Option(100_000_000, "Token units `colony wallet faucet` gives when no amount is named (100 tokens)."),
        "faucet_gas": Option(10**17, "Wei of gas money the faucet gives along with tokens."),
    },
)

_state: dict[str, Chain] = {}
_faucet: dict[str, int] = {}


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config with a preset's values filled in where the config leaves them empty."""
    preset = config.get("preset") or ""
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown chain preset {preset!r}; known: {', '.join(PRESETS)}")
    merged = dict(config)
    for key, value in PRESETS.get(preset, {}).items():
        if not merged.get(key):
            merged[key] = value
    return merged


def connect(config: dict[str, Any]) -> Chain:
    """Open the chain the config names (blocking: run it in a thread)."""
    timeout, receipts = float(config["timeout"]), float(config["receipt_timeout"])
    if not config["url"]:
        from web3.providers.eth_tester import EthereumTesterProvider

        # eth-tester is not thread-safe: one worker thread serialises every call.
        return Chain(Web3(EthereumTesterProvider()), timeout=timeout, receipt_timeout=receipts, threads=1, dev=True)
    # Caching lets web3 ask for the chain id once, not twice per call (validation middleware).
    w3 = Web3(Web3.HTTPProvider(config["url"], request_kwargs={"timeout": timeout}, cache_allowed_requests=True))
    dev = bool(w3.eth.accounts) if config["url"].startswith(("http://127.", "http://localhost")) else False
    # Behind a proxy only web3's requests session knows the way, so web3 makes the raw calls too.
    json_rpc = None if proxied(config["url"]) else JsonRpc(config["url"], int(config["threads"]))
    return Chain(w3, timeout=timeout, receipt_timeout=receipts, threads=int(config["threads"]), dev=dev, json_rpc=json_rpc)


async def colony_start(ctx: PluginContext) -> None:
    config = settings(ctx.config)
    try:
        with trio.fail_after(float(config["timeout"]) * 2):
            chain = await trio.to_thread.run_sync(connect, config, abandon_on_cancel=True)
    except trio.TooSlowError:
        raise ChainError(f"no answer from {config['url']}") from None
    if config["chain_id"] and chain.chain_id != int(config["chain_id"]):
        raise ChainError(f"the chain at {config['url']} has id {chain.chain_id}, not {config['chain_id']}")
    named = {name: config[key] for name, key in (("token", "token"), ("identity", "identity_registry"), ("reputation", "reputation_registry")) if config[key]}
    if chain.dev and len(named) < 3:
        funder = (await chain.run(lambda: chain.w3.eth.accounts))[0]
        addresses = {**await ensure_dev_contracts(chain, funder), **named}
    elif len(named) == 3:
        addresses = named
    else:
        raise ChainError("on a chain without development accounts, set chain.token, chain.identity_registry and chain.reputation_registry")
    for name, address in addresses.items():
        if not await has_code(chain, address):
            raise ChainError(f"no contract at the {name} address {address}")
    bind(chain, addresses)
    _faucet.update(amount=int(config["faucet_amount"]), gas=int(config["faucet_gas"]))
    _state["chain"] = chain
    ctx.registrar.service("chain", chain)
    ctx.registrar.rpc("chain.info", chain_info)
    ctx.registrar.rpc("chain.faucet", chain_faucet, destructive=True)
    await ctx.store.put("contracts", {"chain_id": chain.chain_id, **addresses})


async def colony_stop(ctx: PluginContext) -> None:
    chain = _state.pop("chain", None)
    if chain is not None:
        await chain.aclose()


async def colony_health(ctx: PluginContext) -> bool | str:
    chain = _state.get("chain")
    if chain is None:
        return "not connected"
    try:
        await chain.block_number()
    except ChainError as exc:
        return str(exc)
    return True


def colony_metrics() -> dict[str, float]:
    chain = _state.get("chain")
    if chain is None:
        return {}
    return {"chain_calls": chain.calls, "chain_failures": chain.failures}


def _chain() -> Chain:
    chain = _state.get("chain")
    if chain is None:
        raise RPCError(-32000, "the chain is not connected")
    return chain


async def chain_info() -> dict[str, Any]:
    """The chain id, latest block, whether it is a dev chain, and the contract addresses and token."""
    chain = _chain()
    token = chain.contract("token")
    name, version, symbol, decimals = await chain.run(
        lambda: (token.functions.name().call(), token.functions.version().call(), token.functions.symbol().call(), token.functions.decimals().call())
    )
    return {
        "chain_id": chain.chain_id,
        "network": chain.network,
        "dev": chain.dev,
        "block": await chain.block_number(),
        "contracts": {name_: c.address for name_, c in chain.contracts.items()},
        "token": {"name": name, "version": version, "symbol": symbol, "decimals": decimals},
    }


async def chain_faucet(address: str, amount: int | None = None) -> dict[str, Any]:
    """Give `address` tokens (and some gas) on a development chain; `amount` in token units."""
    chain = _chain()
    if not chain.dev:
        raise RPCError(-32000, "the faucet exists only on development chains")
    if not Web3.is_address(address):
        raise RPCError(-32602, f"not an address: {address!r}")
    amount = _faucet["amount"] if amount is None else amount
    if amount <= 0 or amount >= 2**255:
        raise RPCError(-32602, "amount must be a positive integer of token units")
    target = Web3.to_checksum_address(address)
    try:
        receipt = await dev_fund(chain, target, amount, _faucet["gas"])
    except ChainError as exc:
        raise RPCError(-32000, str(exc)) from None
    return {"address": target, "amount": amount, "balance": await chain.balance(target), "transaction": receipt["transactionHash"].to_0x_hex()}
