"""The facilitator of the seed's `tempo-tip20` dialect: the seed's checks, then `transferFrom` sent by the facilitator key.

The token keeps no record of these payments (the payer only `approve`d the facilitator), so the
settlement book is the only replay protection: a nonce is claimed by a durable record before its
transaction exists anywhere but here, and that claim is never released, whatever the outcome.
"""

from __future__ import annotations

from typing import Any

import trio

from colony.plugins.chain import ChainError

from . import tip20
from .facilitator import Settlement, Settler, Verdict
from .settlement import FAILED, PENDING, SETTLED, Record
from .wire import Offer

# Tempo charges about 300k gas for a transfer to an address that never held the token.
TRANSFER_FROM_GAS = 500_000


class Tip20Facilitator(Settler):
    """Verify and settle tempo-tip20 payments on one chain, in the same settlement book as `exact`."""

    @property
    def address(self) -> str:
        """The spender payers must `approve`: the account that sends `transferFrom`."""
        return self.signer.address

    def _call(self, auth: tip20.PaymentAuthorization) -> Any:
        return self.token.functions.transferFrom(auth.sender, auth.receiver, auth.value)

    async def verify(self, payment: tip20.Tip20Payload, offer: Offer) -> Verdict:
        """The seed facilitator's checks in its order: scheme and network, nonce, the signed terms, balance, allowance."""
        auth = payment.authorization
        payer = auth.sender
        if offer.scheme != tip20.SCHEME:
            return Verdict(False, "unsupported_scheme", payer)
        if offer.network != self.chain.network:
            return Verdict(False, "invalid_network", payer)
        if self.book.get(payer, auth.nonce_hex, tip20.SCHEME) is not None:
            return Verdict(False, tip20.NONCE_USED, payer)
        # Recovering the signer is ~1 ms of ECDSA: off the event loop, so other requests go on.
        reason, _ = await trio.to_thread.run_sync(tip20.check, payment, offer, int(self.clock()))
        if reason:
            return Verdict(False, reason, payer)
        if offer.asset.lower() != self.token.address.lower():
            return Verdict(False, "asset_not_deployed_contract", payer)
        try:
            if self.simulate:
                try:
                    await self.chain.run(self._call(auth).call, {"from": self.signer.address})
                    return Verdict(True, "", payer)
                except ChainError:
                    pass  # diagnose below
            if await self.chain.balance(payer) < auth.value:
                return Verdict(False, "insufficient_funds", payer)
            if int(await self.chain.call("token", "allowance", payer, self.signer.address)) < auth.value:
                return Verdict(False, "insufficient_allowance", payer)
        except ChainError:
            return Verdict(False, "unexpected_verify_error", payer)
        if self.simulate:
            return Verdict(False, "invalid_tip20_transaction_simulation_failed", payer)
        return Verdict(True, "", payer)

    async def settle(self, payment: tip20.Tip20Payload, offer: Offer, route: str = "", verified: bool = False) -> Settlement:
        """Settle a payment at most once: claim its nonce in a durable record, then broadcast `transferFrom`.

        The caller holds `book.locked(payer, nonce, "tempo-tip20")`. A nonce with a record, whatever
        its state, is never sent again: its record is reconciled instead.
        """
        auth = payment.authorization
        record = self.book.get(auth.sender, auth.nonce_hex, tip20.SCHEME)
        if record is not None:
            return await self.reconcile(record)
        if not verified:
            verdict = await self.verify(payment, offer)
            if not verdict.valid:
                return Settlement(False, offer.network, reason=verdict.reason, payer=verdict.payer)
        record = Record(
            auth.sender, auth.nonce_hex, offer.network, auth.value, auth.receiver,
            valid_before=auth.valid_before, route=route, scheme=tip20.SCHEME,
        )
        try:
            async with self.chain.sending(self.signer.address):
                prepared = await self.chain.prepare(self.signer, self._call(auth), gas=TRANSFER_FROM_GAS)
                record.transaction, record.raw, record.sent_nonce = prepared.hash, prepared.raw.hex(), prepared.nonce
                await self.book.put(record)
                await self.chain.broadcast(prepared)
        except ChainError:
            if record.transaction:
                return await self.reconcile(record)  # it may have left anyway: never send a second one
            # Nothing was sent, yet the nonce stays claimed, as in the seed: the payer signs a new payment.
            record.state, record.reason = FAILED, "unexpected_settle_error"
            await self.book.put(record)
            return Settlement(False, record.network, reason=record.reason, payer=record.payer, record=record)
        return await self.reconcile(record)

    async def reconcile(self, record: Record, timeout: float | None = None) -> Settlement:
        """Find out what became of a recorded transaction, resending only its own signed bytes."""
        if record.state == PENDING:
            return await self.follow(record, timeout, "invalid_tip20_transfer_event_mismatch", self._orphaned)
        return Settlement(record.state == SETTLED, record.network, record.transaction, record.reason, record.payer, record=record)

    async def _orphaned(self, record: Record) -> bool:
        """Whether the facilitator's mined transactions have passed this one's account nonce while it stayed unmined."""
        mined = await self.chain.transaction_count(self.signer.address)
        return 0 <= record.sent_nonce < mined and await self.chain.receipt(record.transaction, 0) is None
