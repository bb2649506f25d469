"""The tempo-tip20 facilitator on a real in-process chain and a real LMDB book: verify order, claims, reconciling.

These are the cases a live node reaches only by crashing: a record written but its transaction
never sent, a transaction whose account nonce another one took, a facilitator out of gas.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from colony.core.store import Store
from colony.plugins.chain import Chain, connect, dev_fund
from colony.plugins.chain.deploy import bind, ensure_dev_contracts
from colony.plugins.gateway import reconcile_pending, tip20
from colony.plugins.gateway.facilitator import Facilitator
from colony.plugins.gateway.paywall import Paywall
from colony.plugins.gateway.settlement import FAILED, PENDING, SETTLED, Record, SettlementBook
from colony.plugins.gateway.tip20_facilitator import TRANSFER_FROM_GAS, Tip20Facilitator
from colony.plugins.gateway.wire import Offer
from colony.plugins.identity.keys import Signer

PRICE = 1000
GAS = 10**17


@dataclass
class World:
    """A chain with the colony token, a payer who approved the facilitator, and the facilitator over a fresh book."""

    chain: Chain
    book: SettlementBook
    facilitator: Tip20Facilitator
    key: LocalAccount  # the facilitator's
    payer: LocalAccount
    offer: Offer
    clock: list[float]

    def payment(self) -> tip20.Tip20Payload:
        return tip20.parse(tip20.sign(Signer(self.payer, "payer"), self.offer, int(time.time())))

    async def sent(self) -> int:
        """Transactions the facilitator has had mined."""
        return int(await self.chain.run(self.chain.w3.eth.get_transaction_count, self.key.address, "latest"))

    async def record_unsent(self, payment: tip20.Tip20Payload) -> Record:
        """What a crash between the durable record and the broadcast leaves: a pending record, nothing sent."""
        auth = payment.authorization
        call = self.chain.contract("token").functions.transferFrom(auth.sender, auth.receiver, auth.value)
        prepared = await self.chain.prepare(self.key, call, gas=TRANSFER_FROM_GAS)
        record = Record(
            auth.sender, auth.nonce_hex, self.offer.network, auth.value, auth.receiver, transaction=prepared.hash,
            raw=prepared.raw.hex(), valid_before=auth.valid_before, scheme=tip20.SCHEME, sent_nonce=prepared.nonce,
        )
        await self.book.put(record)
        return record

    def paywall(self) -> Paywall:
        async def paid(record: Record) -> None:
            """Nothing listens here."""

        return Paywall(Facilitator(self.chain, self.key, self.book), self.facilitator, self.chain.chain_id, paid)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    # Receipts come at once on this chain; a lost transaction's wait gives up after a second.
    chain = connect({"url": "", "timeout": 30.0, "receipt_timeout": 1.0, "threads": 1})
    bind(chain, await ensure_dev_contracts(chain, (await chain.run(lambda: chain.w3.eth.accounts))[0]))
    key, payer, wallet = Account.create(), Account.create(), Account.create()
    await dev_fund(chain, key.address, 0, GAS)
    await dev_fund(chain, payer.address, 10 * PRICE, GAS)
    token = chain.contract("token")
    await chain.send(payer, token.functions.approve(key.address, 10 * PRICE), gas=100_000)
    store = Store(tmp_path / "state.lmdb", map_size=1 << 24)
    book = SettlementBook(store.namespace("gateway"))
    clock = [time.time()]
    facilitator = Tip20Facilitator(chain, key, book, clock=lambda: clock[0])
    offer = Offer(tip20.SCHEME, chain.network, PRICE, token.address, wallet.address, tip20.MAX_OFFER_TIMEOUT)
    yield World(chain, book, facilitator, key, payer, offer, clock)
    store.close()


async def test_a_payment_settles_once_and_its_nonce_stays_claimed(world: World) -> None:
    payment = world.payment()
    assert (await world.facilitator.verify(payment, world.offer)).valid
    settled = await world.facilitator.settle(payment, world.offer)
    assert settled.success and settled.record is not None and settled.record.scheme == tip20.SCHEME
    assert await world.chain.balance(world.offer.pay_to) == PRICE
    again = await world.facilitator.settle(payment, world.offer)
    assert again.success and again.transaction == settled.transaction  # the record, reconciled: no second transfer
    assert await world.sent() == 1 and await world.chain.balance(world.offer.pay_to) == PRICE
    verdict = await world.facilitator.verify(payment, world.offer)
    assert (verdict.valid, verdict.reason) == (False, tip20.NONCE_USED)


async def test_the_seed_order_scheme_network_and_nonce_come_before_the_signed_terms(world: World) -> None:
    """Steps 2 and 3 of the seed's verify run before the time window and the signature."""
    payment = world.payment()
    world.clock[0] += 10_000  # expired by now
    assert (await world.facilitator.verify(payment, world.offer)).reason == "invalid_tip20_valid_before"
    other = Offer(tip20.SCHEME, "eip155:42431", PRICE, world.offer.asset, world.offer.pay_to, 60)
    assert (await world.facilitator.verify(payment, other)).reason == "invalid_network"
    await world.record_unsent(payment)
    assert (await world.facilitator.verify(payment, world.offer)).reason == tip20.NONCE_USED


async def test_a_record_whose_transaction_never_left_is_sent_at_start_with_the_same_bytes(world: World) -> None:
    """Crash after the record, before the broadcast: the start-up reconcile sends those very bytes; one transfer."""
    payment = world.payment()
    record = await world.record_unsent(payment)
    assert await world.sent() == 0 and [r.nonce for r in world.book.pending()] == [record.nonce]
    await reconcile_pending(world.paywall())
    stored = world.book.get(record.payer, record.nonce, tip20.SCHEME)
    assert stored is not None and (stored.state, stored.transaction) == (SETTLED, record.transaction)
    assert world.book.pending() == []
    assert await world.sent() == 1 and await world.chain.balance(world.offer.pay_to) == PRICE
    assert (await world.facilitator.settle(payment, world.offer)).transaction == record.transaction
    assert await world.sent() == 1


async def test_a_transaction_whose_account_nonce_was_taken_is_failed_and_never_signed_again(world: World) -> None:
    """Another transaction took the slot, so the recorded one can never mine: failed, no transfer, the claim kept."""
    payment = world.payment()
    record = await world.record_unsent(payment)
    await world.chain.send(world.key, {"to": world.key.address, "value": 0}, gas=21_000)
    await reconcile_pending(world.paywall())
    stored = world.book.get(record.payer, record.nonce, tip20.SCHEME)
    assert stored is not None and (stored.state, stored.reason) == (FAILED, "transaction_failed")
    settled = await world.facilitator.settle(payment, world.offer)
    assert (settled.success, settled.reason, settled.transaction) == (False, "transaction_failed", record.transaction)
    assert (await world.facilitator.verify(payment, world.offer)).reason == tip20.NONCE_USED
    assert await world.sent() == 1 and await world.chain.balance(world.offer.pay_to) == 0


async def test_a_refused_broadcast_stays_pending_until_the_same_bytes_can_go(world: World) -> None:
    """The facilitator has no gas: the record stays pending (never failed, never re-signed); funded, it settles."""
    key = Account.create()
    facilitator = Tip20Facilitator(world.chain, key, world.book)
    token = world.chain.contract("token")
    await world.chain.send(world.payer, token.functions.approve(key.address, 10 * PRICE), gas=100_000)
    payment = world.payment()
    pending = await facilitator.settle(payment, world.offer, verified=True)  # (its simulation fails too, without gas)
    assert pending.pending and pending.reason == "settlement_pending" and pending.transaction
    assert (await facilitator.settle(payment, world.offer)).transaction == pending.transaction
    await dev_fund(world.chain, key.address, 0, GAS)
    settled = await facilitator.settle(payment, world.offer)
    assert settled.success and settled.transaction == pending.transaction
    assert await world.chain.balance(world.offer.pay_to) == PRICE


async def test_a_reverted_transfer_from_keeps_the_nonce(world: World) -> None:
    """The allowance is withdrawn between verify and settle: the transfer reverts, and the payment is spent for good."""
    payment = world.payment()
    assert (await world.facilitator.verify(payment, world.offer)).valid
    token = world.chain.contract("token")
    await world.chain.send(world.payer, token.functions.approve(world.key.address, 0), gas=100_000)
    failed = await world.facilitator.settle(payment, world.offer, verified=True)
    assert (failed.success, failed.reason) == (False, "transaction_failed")
    await world.chain.send(world.payer, token.functions.approve(world.key.address, 10 * PRICE), gas=100_000)
    assert not (await world.facilitator.settle(payment, world.offer)).success
    assert await world.sent() == 1 and await world.chain.balance(world.offer.pay_to) == 0


async def test_records_from_before_tip20_load_as_exact(world: World) -> None:
    """A stored record without `scheme` or `sent_nonce` is an exact one, under its old key."""
    old = {
        "payer": world.payer.address, "nonce": "0x" + "ab" * 32, "network": world.offer.network, "amount": PRICE,
        "pay_to": world.offer.pay_to, "state": PENDING, "transaction": "0x" + "cd" * 32, "raw": "", "reason": "",
        "delivered": False, "valid_before": 0, "route": "", "created": 1.0,
    }
    await world.book.store.put(f"settle/{world.payer.address.lower()}/{old['nonce']}", old)
    record = world.book.get(world.payer.address, old["nonce"])
    assert record is not None and (record.scheme, record.sent_nonce) == ("exact", -1)
    assert world.book.get(world.payer.address, old["nonce"], tip20.SCHEME) is None
    assert [r.scheme for r in SettlementBook(world.book.store).pending()] == ["exact"]
