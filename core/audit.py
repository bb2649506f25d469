"""The tamper-evident event log: selected topics appended to a hash chain in the store."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .events import Envelope, topic_matches
from .store import Store, pack

log = logging.getLogger("colony.audit")

NAMESPACE = "_audit"
GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, unknown types as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def storable(value: Any) -> Any:
    """`value` with integers msgpack cannot hold (beyond 64 bits, such as token amounts) as strings."""
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of an entry's canonical form without its own hash."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def seq_key(seq: int) -> str:
    """Store key of entry `seq`; zero-padded so key order is chain order."""
    return f"{seq:020d}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the chain."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the protocol."""
        return {"ok": self.ok, "entries": self.entries, "bad_seq": self.bad_seq, "reason": self.reason}


class AuditLog:
    """Appends matching events to the chain; writes are queued in order, so the chain stays a prefix."""

    def __init__(self, store: Store, patterns: Iterable[str]) -> None:
        self.store = store
        self.patterns = tuple(patterns)
        last = store.last(NAMESPACE)
        self.seq, self.head = (last[1]["seq"], last[1]["hash"]) if last else (0, GENESIS)

    def sink(self, envelope: Envelope) -> None:
        """Bus sink: append the envelope when its topic is audited."""
        if topic_matches(envelope.topic, self.patterns):
            self.append(envelope.topic, envelope.source, envelope.ts, envelope.data)

    def append(self, topic: str, source: str, ts: float, data: dict[str, Any]) -> dict[str, Any]:
        """Chain and queue one entry."""
        entry = {
            "seq": self.seq + 1,
            "ts": ts,
            "topic": topic,
            "source": source,
            # Round-trip through JSON so what is hashed is exactly what verify will read back.
            "data": storable(json.loads(canonical(data))),
            "prev": self.head,
        }
        entry["hash"] = entry_hash(entry)
        self.store.submit([("put", NAMESPACE, seq_key(entry["seq"]).encode(), pack(entry))], self._written)
        self.seq, self.head = entry["seq"], entry["hash"]
        return entry

    @staticmethod
    def _written(exc: BaseException | None) -> None:
        if exc is not None:
            log.error("audit entry not written: %s", exc)

    def entries(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Entries with seq greater than `after`, oldest first."""
        return [value for _, value in self.store.scan(NAMESPACE, after=seq_key(after), limit=limit)]

    def verify(self) -> Verdict:
        """Walk the whole chain and report the first entry that does not hold."""
        prev, expected, count = GENESIS, 1, 0
        after: str | None = None
        while page := self.store.scan(NAMESPACE, after=after, limit=1000):
            for key, entry in page:
                count += 1
                if not isinstance(entry, dict) or entry.get("seq") != expected or key != seq_key(expected):
                    return Verdict(False, count, expected, "entry missing or out of order")
                if entry.get("prev") != prev:
                    return Verdict(False, count, expected, "link to the previous entry is broken")
                if entry.get("hash") != entry_hash(entry):
                    return Verdict(False, count, expected, "entry content does not match its hash")
                prev, expected = entry["hash"], expected + 1
            after = page[-1][0]
        return Verdict(True, count)
