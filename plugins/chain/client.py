"""`Chain`: one chain's calls under timeouts: raw JSON-RPC for the hot ones, web3 in worker threads for the rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import trio
from eth_account.datastructures import SignedTransaction
from hexbytes import HexBytes
from web3 import Web3

from .rpc import JsonRpc, json_tx, quantity, shaped

T = TypeVar("T")

GAS_PRICE_TTL = 5.0  # seconds a fetched gas price is reused; dev chains barely move it
# Receipt polling: the first look is immediate (an automining chain has mined by then), then the
# waits double up to the cap, so a slow chain costs a few calls a second per waiting payment.
RECEIPT_POLL = 0.005
RECEIPT_POLL_MAX = 0.25


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
    """One chain: chain id, contracts, and async calls that keep blocking I/O off the event loop.

    The hot calls (nonces, gas price, eth_call, sending, receipts) are raw JSON-RPC (`rpc`), on
    `json_rpc` when given; web3 (`w3`, contract objects, `run`) serves everything else in worker threads.
    """

    def __init__(self, w3: Web3, *, timeout: float, receipt_timeout: float, threads: int, dev: bool, json_rpc: JsonRpc | None = None) -> None:
        self.w3 = w3
        self.timeout = timeout
        self.receipt_timeout = receipt_timeout
        self.dev = dev
        self.json_rpc = json_rpc
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
        thread = trio.to_thread.run_sync(fn, *args, limiter=self.limiter, abandon_on_cancel=True)
        return await self._guarded(getattr(fn, "__name__", "chain call"), thread, timeout)

    async def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call, params in JSON-RPC form; raise ChainError on failure or timeout."""
        if self.json_rpc is not None:
            return await self._guarded(method, self.json_rpc.request(method, list(params)))
        # The in-process chain, or a chain behind a proxy: web3 makes the raw call, in a worker thread.
        thread = trio.to_thread.run_sync(self.w3.manager.request_blocking, method, list(params), limiter=self.limiter, abandon_on_cancel=True)
        return await self._guarded(method, thread)

    async def aclose(self) -> None:
        """Close the chain's idle connections."""
        if self.json_rpc is not None:
            await self.json_rpc.aclose()

    async def _guarded(self, name: str, call: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Await `call` within the timeout, counting it; whatever it raises becomes ChainError."""
        limit = self.timeout if timeout is None else timeout
        self.calls += 1
        try:
            # A bare CancelScope: fail_after's generator wrappers cost more than a JSON-RPC call.
            with trio.CancelScope(deadline=trio.current_time() + limit):
                return await call
        except ChainError:
            self.failures += 1
            raise
        except Exception as exc:
            self.failures += 1
            raise ChainError(f"{type(exc).__name__}: {exc}") from exc
        self.failures += 1  # only a deadline that passed gets here
        raise ChainError(f"{name} took longer than {limit}s")

    async def call(self, contract: str, function: str, *args: Any) -> Any:
        """Call a view function of a deployed contract."""
        fn = getattr(self.contract(contract).functions, function)(*args)
        return await self.run(fn.call)

    async def simulate(self, tx: dict[str, Any]) -> bytes:
        """Run a transaction dict (`to`, `data`, ...) with eth_call on the latest state; ChainError when it reverts."""
        return bytes(HexBytes(await self.rpc("eth_call", json_tx(tx), "latest")))

    async def balance(self, address: str) -> int:
        """The token balance of `address`, in atomic units."""
        return int(await self.call("token", "balanceOf", Web3.to_checksum_address(address)))

    async def native_balance(self, address: str) -> int:
        """The native (gas) balance of `address`, in wei."""
        return quantity(await self.rpc("eth_getBalance", Web3.to_checksum_address(address), "latest"))

    async def block_number(self) -> int:
        """The latest block number."""
        return quantity(await self.rpc("eth_blockNumber"))

    async def transaction_count(self, address: str, block: str = "latest") -> int:
        """The account nonce of `address`: its transactions mined by `block` ("latest" or "pending")."""
        return quantity(await self.rpc("eth_getTransactionCount", address, block))

    def _lock(self, sender: str) -> trio.Lock:
        return self._sender_locks.setdefault(sender, trio.Lock())

    async def gas_price(self) -> int:
        """The chain's gas price, fetched at most every GAS_PRICE_TTL seconds."""
        fetched, price = self._gas_price
        if time.monotonic() - fetched > GAS_PRICE_TTL:
            price = quantity(await self.rpc("eth_gasPrice"))
            self._gas_price = (time.monotonic(), price)
        return price

    async def prepare(self, signer: TxSigner, call: Any, *, gas: int | None = None) -> Prepared:
        """Sign `call` (a contract call or a tx dict) with the sender's next nonce, without sending it.

        Hold `sending(signer.address)` around prepare and broadcast, so two transactions never
        take the same nonce.
        """
        chain_nonce = await self.transaction_count(signer.address, "pending")
        nonce = max(chain_nonce, self._nonces.get(signer.address, 0))
        tx: dict[str, Any] = {"from": signer.address, "nonce": nonce, "chainId": self.chain_id, "gasPrice": await self.gas_price()}
        if gas is not None:
            tx["gas"] = gas
        # A contract call is ABI-encoded by web3 (which estimates the gas when none is given).
        built = {**call, **tx} if isinstance(call, dict) else await self.run(call.build_transaction, tx)
        if "gas" not in built:
            built["gas"] = quantity(await self.rpc("eth_estimateGas", json_tx(built)))
        # Inline: signing takes ~0.3 ms with coincurve, less than a worker thread's round trip.
        signed = signer.sign_transaction(built)
        return Prepared(signer.address, nonce, bytes(signed.raw_transaction), HexBytes(signed.hash).to_0x_hex())

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
            await self.rpc("eth_sendRawTransaction", "0x" + raw.hex())
        except ChainError as exc:
            if "already known" not in str(exc).lower() and "alreadyknown" not in str(exc).lower():
                raise

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction `tx_hash` if the chain knows it, mined or waiting."""
        found = await self.rpc("eth_getTransactionByHash", tx_hash)
        return None if found is None else shaped(found)

    async def receipt(self, tx_hash: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The receipt of `tx_hash`, waiting up to `timeout` (0 = only look); None if not mined yet."""
        deadline = trio.current_time() + (self.receipt_timeout if timeout is None else timeout)
        wait = RECEIPT_POLL
        while (found := await self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            left = deadline - trio.current_time()
            if left <= 0:
                return None
            await trio.sleep(min(wait, left))
            wait = min(wait * 2, RECEIPT_POLL_MAX)
        return shaped(found)

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
