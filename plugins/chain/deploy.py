"""Find or deploy the colony contracts, at addresses every node on a dev chain can compute."""

from __future__ import annotations

from typing import Any

import rlp
import trio
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from . import build
from .client import Chain, ChainError

# A publicly known key, used only on development chains: it deploys the contracts at nonces
# 0, 1 and 2, so every node sharing an anvil chain computes the same addresses and finds them.
DEV_DEPLOYER = Account.from_key(keccak(text="colony development deployer"))
DEV_FUNDING = 10**18  # wei for the deployer's gas
TOKEN = ("Colony Dollar", "CUSD", "1")
ORDER = ("token", "identity", "reputation")
ARTIFACTS = {"token": "stablecoin", "identity": "identity", "reputation": "reputation"}
DEPLOY_GAS = 6_000_000


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender` at `nonce` gets."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def dev_addresses() -> dict[str, str]:
    """Where the deployer puts each contract on a fresh development chain."""
    return {name: create_address(DEV_DEPLOYER.address, nonce) for nonce, name in enumerate(ORDER)}


def bind(chain: Chain, addresses: dict[str, str]) -> None:
    """Attach web3 contract objects for the given addresses to `chain`."""
    for name, address in addresses.items():
        abi = build.load_artifact(ARTIFACTS[name])["abi"]
        chain.contracts[name] = chain.w3.eth.contract(address=to_checksum_address(address), abi=abi)


async def has_code(chain: Chain, address: str) -> bool:
    """Whether a contract lives at `address`."""
    return len(await chain.run(chain.w3.eth.get_code, to_checksum_address(address))) > 0


async def ensure_dev_contracts(chain: Chain, funder: str) -> dict[str, str]:
    """Deploy the contracts on a dev chain unless they are already there; return their addresses.

    Two nodes starting together on one anvil may race: the loser's transactions fail on a used
    nonce, and it then finds the winner's contracts at the same addresses.
    """
    addresses = dev_addresses()
    args: dict[str, tuple[Any, ...]] = {"token": TOKEN, "identity": (), "reputation": (addresses["identity"],)}
    for nonce, name in enumerate(ORDER):
        if await has_code(chain, addresses[name]):
            continue
        if await chain.native_balance(DEV_DEPLOYER.address) < DEV_FUNDING // 2:
            await chain.transact_unlocked(funder, {"to": DEV_DEPLOYER.address, "value": DEV_FUNDING})
        artifact = build.load_artifact(ARTIFACTS[name])
        factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        deployed = await chain.run(chain.w3.eth.get_transaction_count, DEV_DEPLOYER.address)
        try:
            if deployed == nonce:
                await chain.send(DEV_DEPLOYER, factory.constructor(*args[name]), gas=DEPLOY_GAS)
        except ChainError:
            pass  # another node took this nonce; its contract appears below
        for _ in range(100):
            if await has_code(chain, addresses[name]):
                break
            await trio.sleep(0.1)
        else:
            raise ChainError(f"the {name} contract did not appear at {addresses[name]}")
    return addresses


async def dev_fund(chain: Chain, address: str, tokens: int, gas: int) -> dict[str, Any]:
    """Mint `tokens` to `address` and top its gas up to `gas` wei (dev chains only); the mint receipt."""
    if not chain.dev:
        raise ChainError("funding from development accounts works only on a development chain")
    target = to_checksum_address(address)
    receipt: dict[str, Any] = {}
    if tokens:
        receipt = await chain.send(DEV_DEPLOYER, chain.contract("token").functions.mint(target, tokens), gas=200_000)
    missing = gas - await chain.native_balance(target)
    if missing > 0:
        funder = (await chain.run(lambda: chain.w3.eth.accounts))[0]
        await chain.transact_unlocked(funder, {"to": target, "value": missing})
    return receipt
