"""identity: the node's keys (wallet and facilitator), their funding, and its ERC-8004 identity."""

from __future__ import annotations

from typing import Any

import trio
from web3 import Web3

from colony.core import Manifest, Option, PluginContext, RPCError
from colony.plugins.chain import Chain, ChainError, dev_fund

from .keys import Signer, load_or_create, passphrase

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
    if chain.dev:
        await fund_dev(chain, ctx.config)
    elif chain.chain_id == 42431:
        ctx.start_task(ask_faucet, chain, ctx)


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
