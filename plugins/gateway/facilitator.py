"""The embedded facilitator: verifies payments against the chain and settles them exactly once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from colony.plugins.chain import Chain, ChainError, TxSigner

from . import exact
from .settlement import FAILED, SETTLED, Record, SettlementBook
from .wire import Offer, Payment, WireError

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
SETTLE_GAS = 150_000


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification."""

    valid: bool
    reason: str = ""
    payer: str = ""


@dataclass(frozen=True)
class Settlement:
    """The outcome of a settlement; `pending` means broadcast but not yet mined."""

    success: bool
    network: str
    transaction: str = ""
    reason: str = ""
    payer: str = ""
    pending: bool = False
    record: Record | None = None


def transfer_logged(receipt: dict[str, Any], asset: str, sender: str, receiver: str, value: int) -> bool:
    """Whether a successful receipt holds the token's Transfer(sender -> receiver, value) log."""
    if receipt.get("status") != 1:
        return False
    for log in receipt.get("logs", []):
        topics = [bytes(t).rjust(32, b"\0") for t in log.get("topics", [])]
        if (
            len(topics) == 3
            and str(log["address"]).lower() == asset.lower()
            and "0x" + topics[0].hex() == TRANSFER_TOPIC
            and topics[1][12:] == bytes.fromhex(sender[2:])
            and topics[2][12:] == bytes.fromhex(receiver[2:])
            and int.from_bytes(bytes(log["data"]), "big") == value
        ):
            return True
    return False


class Settler:
    """What a scheme's facilitator works with: the chain, its token, the facilitator key and the settlement book."""

    def __init__(self, chain: Chain, signer: TxSigner, book: SettlementBook, *, simulate: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.chain = chain
        self.signer = signer
        self.book = book
        self.simulate = simulate
        self.clock = clock
        self.token = chain.contract("token")

    async def follow(self, record: Record, timeout: float | None, mismatch: str, abandoned: Callable[[Record], Awaitable[bool]]) -> Settlement:
        """Wait for a recorded transaction's receipt, resending its own signed bytes if the chain lost them, and book the outcome.

        Bytes the chain refuses may be a passing failure: the record fails only when `abandoned(record)`
        says that transaction can no longer pay; else it stays pending. `mismatch` is the reason for a
        mined transaction without the expected Transfer.
        """
        try:
            receipt = await self.chain.receipt(record.transaction, timeout)
            if receipt is None and await self.chain.transaction(record.transaction) is None:
                try:
                    await self.chain.resend(bytes.fromhex(record.raw))
                except ChainError:
                    if not await abandoned(record):
                        raise
                    receipt = {"status": 0}
                else:
                    receipt = await self.chain.receipt(record.transaction, timeout)
        except ChainError:
            receipt = None
        if receipt is None:
            return Settlement(False, record.network, record.transaction, "settlement_pending", record.payer, pending=True, record=record)
        if transfer_logged(receipt, self.token.address, record.payer, record.pay_to, record.amount):
            record.state, record.reason = SETTLED, ""
        else:
            record.state, record.reason = FAILED, mismatch if receipt.get("status") == 1 else "transaction_failed"
        await self.book.put(record)
        return Settlement(record.state == SETTLED, record.network, record.transaction, record.reason, record.payer, record=record)


class Facilitator(Settler):
    """Verify and settle `exact` EIP-3009 payments on one chain, with a persistent settlement book."""

    def _tx(self, parsed: exact.ExactPayload) -> dict[str, Any]:
        return {"to": self.token.address, "data": exact.settle_data(parsed)}

    async def verify(self, payment: Payment, offer: Offer) -> Verdict:
        """Every off-chain rule, then the chain: asset, nonce unused, balance, and a simulated transfer."""
        try:
            parsed = exact.parse_exact(payment.payload)
        except WireError as exc:
            return Verdict(False, exc.reason)
        payer = parsed.authorization.sender
        # Inline: hashing by hand and coincurve's recovery take ~0.1 ms, less than a worker thread's round trip.
        reason = exact.rules(parsed, payment, offer, int(self.clock()))
        if reason:
            return Verdict(False, reason, payer)
        if offer.network != self.chain.network:
            return Verdict(False, "invalid_network", payer)
        if offer.asset.lower() != self.token.address.lower():
            return Verdict(False, "asset_not_deployed_contract", payer)
        record = self.book.get(payer, parsed.authorization.nonce_hex)
        if record is not None and record.state != FAILED:
            return Verdict(False, "invalid_exact_evm_nonce_already_used", payer)
        try:
            if self.simulate:
                try:
                    await self.chain.simulate({"from": self.signer.address, **self._tx(parsed)})
                    return Verdict(True, "", payer)
                except ChainError:
                    pass  # diagnose below, as the SDK does
            auth = parsed.authorization
            if await self.chain.call("token", "authorizationState", auth.sender, auth.nonce):
                return Verdict(False, "invalid_exact_evm_nonce_already_used", payer)
            if await self.chain.balance(auth.sender) < auth.value:
                return Verdict(False, "insufficient_funds", payer)
        except ChainError:
            return Verdict(False, "unexpected_verify_error", payer)
        if self.simulate:
            return Verdict(False, "invalid_exact_evm_transaction_simulation_failed", payer)
        return Verdict(True, "", payer)

    async def settle(self, payment: Payment, offer: Offer, route: str = "", verified: bool = False) -> Settlement:
        """Settle a payment once: reconcile a known record, else verify, record, broadcast and check.

        The caller holds `book.locked(payer, nonce)`, so concurrent copies of one payment never
        broadcast twice; the record is durable before the transaction leaves. `verified` skips a
        second verification when the caller verified under the same lock.
        """
        network = offer.network
        parsed = exact.parse_exact(payment.payload)
        auth = parsed.authorization
        nonce = auth.nonce_hex
        record = self.book.get(auth.sender, nonce)
        if record is not None and record.state != FAILED:
            return await self.reconcile(record)
        if not verified:
            verdict = await self.verify(payment, offer)
            if not verdict.valid:
                return Settlement(False, network, reason=verdict.reason, payer=verdict.payer)
        record = None
        try:
            async with self.chain.sending(self.signer.address):
                prepared = await self.chain.prepare(self.signer, self._tx(parsed), gas=SETTLE_GAS)
                record = Record(
                    auth.sender, nonce, network, auth.value, auth.receiver,
                    transaction=prepared.hash, raw=prepared.raw.hex(), valid_before=auth.valid_before, route=route,
                )
                await self.book.put(record)
                await self.chain.broadcast(prepared)
        except ChainError:
            if record is not None:
                return await self.reconcile(record)  # it may have left anyway: never send a second one
            return Settlement(False, network, reason="unexpected_settle_error", payer=auth.sender, transaction="")
        return await self.reconcile(record)

    async def reconcile(self, record: Record, timeout: float | None = None) -> Settlement:
        """Find out what became of a recorded transaction, resending the same bytes if the chain lost it."""
        if record.state == SETTLED:
            return Settlement(True, record.network, record.transaction, payer=record.payer, record=record)
        return await self.follow(record, timeout, "invalid_exact_evm_transfer_event_mismatch", self._unused)

    async def _unused(self, record: Record) -> bool:
        """Whether the record's authorization is still unused, so a new attempt is safe.

        The token's one-use nonce lets at most one of the attempts ever pay.
        """
        return not await self.chain.call("token", "authorizationState", record.payer, bytes.fromhex(record.nonce[2:]))

    async def mark_delivered(self, record: Record) -> None:
        """Note that the paid content went out, so a replay of this payment gets nothing."""
        record.delivered = True
        await self.book.put(record)
