"""The settlement book: one persistent record per (payer, nonce), written before anything is broadcast."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import trio

from colony.core import Namespace

PENDING, SETTLED, FAILED = "pending", "settled", "failed"


@dataclass
class Record:
    """What happened to one authorization: its transaction, outcome and whether content went out."""

    payer: str
    nonce: str
    network: str
    amount: int
    pay_to: str
    state: str = PENDING
    transaction: str = ""
    raw: str = ""  # the signed transaction, so a retry can resend the very same one
    reason: str = ""
    delivered: bool = False
    valid_before: int = 0
    route: str = ""
    created: float = field(default_factory=time.time)
    scheme: str = "exact"  # records written before tempo-tip20 existed are all exact
    sent_nonce: int = -1  # the facilitator's account nonce the transaction takes (tempo-tip20 records)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the store."""
        return asdict(self)


def key_of(payer: str, nonce: str, scheme: str = "exact") -> str:
    """The store key of an authorization; each scheme has its own nonces (exact keys keep their old form)."""
    key = f"settle/{payer.lower()}/{nonce.lower()}"
    return key if scheme == "exact" else f"{key}/{scheme}"


class SettlementBook:
    """Records in the gateway's store, and an in-flight lock per authorization."""

    def __init__(self, store: Namespace) -> None:
        self.store = store
        self._locks: dict[str, tuple[trio.Lock, int]] = {}
        # Scanned once here and kept by put(): /health asks on every probe, and the book only grows.
        self._pending = {key for key, value in store.scan("settle/") if value.get("state") == PENDING}

    @asynccontextmanager
    async def locked(self, payer: str, nonce: str, scheme: str = "exact") -> AsyncIterator[None]:
        """Hold the one lock of (payer, nonce); concurrent copies of a payment queue here."""
        key = key_of(payer, nonce, scheme)
        lock, users = self._locks.get(key, (trio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def get(self, payer: str, nonce: str, scheme: str = "exact") -> Record | None:
        """The record of an authorization, if it was ever settled or tried."""
        data = self.store.get(key_of(payer, nonce, scheme))
        return Record(**data) if data else None

    async def put(self, record: Record) -> None:
        """Write a record durably (LMDB commit) before the caller goes on."""
        key = key_of(record.payer, record.nonce, record.scheme)
        await self.store.put(key, record.to_dict())
        if record.state == PENDING:
            self._pending.add(key)
        else:
            self._pending.discard(key)

    def pending(self) -> list[Record]:
        """Every record whose outcome is not known yet."""
        return [Record(**self.store.get(key)) for key in sorted(self._pending)]
