"""`Chain`: a web3 connection whose blocking calls run in worker threads, under timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import trio
from eth_account.datastructures import SignedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TimeExhausted, TransactionNotFound

T = TypeVar("T")

GAS_PRICE_TTL = 5.0  # seconds a fetched gas price is reused; dev chains barely move it


class ChainError(RuntimeError):
    """A chain call failed or took longer than its timeout."""


class TxSigner(Protocol):
    """Whatever signs transactions for an address (the identity plugin's keys, never exposed)."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction: ...


@dataclass(frozen=True)
class Prepared:
    """A signed transaction not yet broadcast: its hash is known before it is sent."""

    sender: str
    nonce: int
    raw: bytes
    hash: str


class Chain:
    """One chain: chain id, contracts, and async wrappers that keep web3 off the event loop."""

    def __init__(self, w3: Web3, *, timeout: float, receipt_timeout: float, threads: int, dev: bool) -> None:
        self.w3 = w3
        self.timeout = timeout
        self.receipt_timeout = receipt_timeout
        self.dev = dev
        self.chain_id: int = w3.eth.chain_id
        self.limiter = trio.CapacityLimiter(threads)
        self.contracts: dict[str, Any] = {}
        self._nonces: dict[str, int] = {}
        self._sender_locks: dict[str, trio.Lock] = {}
        self._gas_price: tuple[float, int] = (0.0, 0)
        self.calls = 0
        self.failures = 0

    @property
    def network(self) -> str:
        """The CAIP-2 name of this chain."""
        return f"eip155:{self.chain_id}"

    def contract(self, name: str) -> Any:
        """A deployed contract by name (`token`, `identity`, `reputation`)."""
        try:
            return self.contracts[name]
        except KeyError:
            raise ChainError(f"no {name} contract on chain {self.chain_id}") from None

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run a blocking web3 call in a worker thread; raise ChainError on failure or timeout."""
        limit = self.timeout if timeout is None else timeout
        self.calls += 1
        try:
            with trio.fail_after(limit):
                return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter, abandon_on_cancel=True)
        except trio.TooSlowError:
            self.failures += 1
            raise ChainError(f"{getattr(fn, '__name__', 'chain call')} took longer than {limit}s") from None
        except ChainError:
            self.failures += 1
            raise
        except Exception as exc:
            self.failures += 1
            raise ChainError(f"{type(exc).__name__}: {exc}") from exc

    async def call(self, contract: str, function: str, *args: Any) -> Any:
        """Call a view function of a deployed contract."""
        fn = getattr(self.contract(contract).functions, function)(*args)
        return await self.run(fn.call)

    async def balance(self, address: str) -> int:
        """The token balance of `address`, in atomic units."""
        return int(await self.call("token", "balanceOf", Web3.to_checksum_address(address)))

    async def native_balance(self, address: str) -> int:
        """The native (gas) balance of `address`, in wei."""
        return int(await self.run(self.w3.eth.get_balance, Web3.to_checksum_address(address)))

    async def block_number(self) -> int:
        """The latest block number."""
        return int(await self.run(lambda: self.w3.eth.block_number))

    def _lock(self, sender: str) -> trio.Lock:
        return self._sender_locks.setdefault(sender, trio.Lock())

    def _price(self) -> int:
        fetched, price = self._gas_price
        if time.monotonic() - fetched > GAS_PRICE_TTL:
            price = int(self.w3.eth.gas_price)
            self._gas_price = (time.monotonic(), price)
        return price

    def _build(self, signer: TxSigner, call: Any, nonce: int, gas: int | None) -> Prepared:
        tx: dict[str, Any] = {"from": signer.address, "nonce": nonce, "chainId": self.chain_id, "gasPrice": self._price()}
        if gas is not None:
            tx["gas"] = gas
        built = call.build_transaction(tx) if not isinstance(call, dict) else {**call, **tx}
        if "gas" not in built:
            built["gas"] = self.w3.eth.estimate_gas(built)
        signed = signer.sign_transaction(built)
        return Prepared(signer.address, nonce, bytes(signed.raw_transaction), HexBytes(signed.hash).to_0x_hex())

    async def prepare(self, signer: TxSigner, call: Any, *, gas: int | None = None) -> Prepared:
        """Sign `call` (a contract call or a tx dict) with the sender's next nonce, without sending it.

        Hold `sending(signer.address)` around prepare and broadcast, so two transactions never
        take the same nonce.
        """
        chain_nonce = await self.run(self.w3.eth.get_transaction_count, signer.address, "pending")
        nonce = max(chain_nonce, self._nonces.get(signer.address, 0))
        return await self.run(self._build, signer, call, nonce, gas)

    def sending(self, sender: str) -> trio.Lock:
        """The lock that orders one sender's transactions."""
        return self._lock(sender)

    async def broadcast(self, prepared: Prepared) -> str:
        """Send a prepared transaction and advance the sender's nonce."""
        try:
            await self.resend(prepared.raw)
        except ChainError:
            self._nonces.pop(prepared.sender, None)
            raise
        self._nonces[prepared.sender] = prepared.nonce + 1
        return prepared.hash

    async def resend(self, raw: bytes) -> None:
        """Send signed bytes; sending the same bytes again is harmless (the chain knows them already)."""
        try:
            await self.run(self.w3.eth.send_raw_transaction, raw)
        except ChainError as exc:
            if "already known" not in str(exc).lower() and "alreadyknown" not in str(exc).lower():
                raise

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction `tx_hash` if the chain knows it, mined or waiting."""

        def look() -> dict[str, Any] | None:
            try:
                return dict(self.w3.eth.get_transaction(HexBytes(tx_hash)))
            except TransactionNotFound:
                return None

        return await self.run(look)

    async def receipt(self, tx_hash: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The receipt of `tx_hash`, waiting up to `timeout` (0 = only look); None if not mined yet."""
        limit = self.receipt_timeout if timeout is None else timeout

        def wait() -> dict[str, Any] | None:
            try:
                if limit <= 0:
                    return dict(self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
                return dict(self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=limit, poll_latency=0.05))
            except (TimeExhausted, TransactionNotFound):
                return None

        return await self.run(wait, timeout=limit + self.timeout)

    async def send(self, signer: TxSigner, call: Any, *, gas: int | None = None) -> dict[str, Any]:
        """Sign, send and wait for `call`; raise ChainError unless it succeeded."""
        async with self.sending(signer.address):
            prepared = await self.prepare(signer, call, gas=gas)
            await self.broadcast(prepared)
        receipt = await self.receipt(prepared.hash)
        if receipt is None:
            raise ChainError(f"transaction {prepared.hash} was not mined within {self.receipt_timeout}s")
        if receipt.get("status") != 1:
            raise ChainError(f"transaction {prepared.hash} reverted")
        return receipt

    async def transact_unlocked(self, sender: str, call: Any) -> dict[str, Any]:
        """Send from an account the node itself unlocks (dev chains only) and wait for success."""

        def go() -> dict[str, Any]:
            tx_hash = call.transact({"from": sender}) if not isinstance(call, dict) else self.w3.eth.send_transaction({"from": sender, **call})
            return dict(self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.05))

        async with self.sending(sender):
            receipt = await self.run(go, timeout=self.receipt_timeout + self.timeout)
        if receipt.get("status") != 1:
            raise ChainError("dev transaction reverted")
        return receipt
