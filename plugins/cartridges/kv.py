"""Per-cartridge key-value data in the plugin's store namespace, applied atomically per invocation.

A guest reads committed values and its own pending writes; the writes commit together after a
clean return, or not at all after a trap or timeout. Commits are optimistic: one whose reads were
overwritten by a commit that landed meanwhile is refused, and the caller runs the guest again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import trio

from colony.core import Namespace


@dataclass(frozen=True)
class Quota:
    """How much KV data a cartridge may hold and write."""

    max_key: int = 256
    max_value: int = 64 << 10
    max_bytes: int = 16 << 20
    max_writes: int = 1000


def _prefix(slug: str) -> str:
    return f"kv/{slug}/"


def _usage_key(slug: str) -> str:
    return f"kvbytes/{slug}"


def _size(key: bytes, value: bytes | None) -> int:
    """What an entry counts against the quota: its key and value bytes (nothing when absent)."""
    return 0 if value is None else len(key) + len(value)


@dataclass
class View:
    """One invocation's window on a cartridge's KV: committed values plus pending writes."""

    slug: str
    quota: Quota
    store: Namespace | None  # None: an isolated view (a called cartridge's), never committed
    generation: int = 0
    epoch: int = 0
    usage: int | None = None  # see committed_usage
    reads: set[bytes] = field(default_factory=set)
    writes: dict[bytes, bytes] = field(default_factory=dict)
    growth: int = 0

    def key(self, key: bytes) -> bytes:
        """The store key of a guest's key."""
        return _prefix(self.slug).encode() + key

    def committed(self, key: bytes) -> bytes | None:
        """The committed value at `key` (always None in an isolated view)."""
        if self.store is None:
            return None
        value = self.store.get(self.key(key))
        return value if isinstance(value, bytes) else None

    def committed_usage(self) -> int:
        """The cartridge's committed bytes, read once per view."""
        if self.usage is None:
            self.usage = 0 if self.store is None else int(self.store.get(_usage_key(self.slug), 0))
        return self.usage

    def get(self, key: bytes) -> bytes | None:
        """The value at `key`, seeing this invocation's own writes."""
        if key in self.writes:
            return self.writes[key]
        if not 0 < len(key) <= self.quota.max_key:
            return None
        self.reads.add(key)
        return self.committed(key)

    def set(self, key: bytes, value: bytes) -> bool:
        """Stage a write; False when the key, the value or the cartridge's quota refuses it."""
        if not 0 < len(key) <= self.quota.max_key or len(value) > self.quota.max_value:
            return False
        if key not in self.writes and len(self.writes) >= self.quota.max_writes:
            return False
        before = self.writes[key] if key in self.writes else self.committed(key)
        growth = self.growth + _size(key, value) - _size(key, before)
        if self.store is not None and self.committed_usage() + growth > self.quota.max_bytes:
            return False
        self.writes[key] = value
        self.growth = growth
        return True


class KV:
    """Every cartridge's KV data, and the bookkeeping that keeps concurrent invocations consistent."""

    def __init__(self, store: Namespace, quota: Quota) -> None:
        self.store = store
        self.quota = quota
        self._generation = 0
        self._written: dict[str, dict[bytes, int]] = defaultdict(dict)  # slug -> key -> generation of its last commit
        self._epochs: dict[str, int] = defaultdict(int)  # bumped on remove, so late commits of a removed cartridge drop
        self._locks: dict[str, trio.Lock] = defaultdict(trio.Lock)

    def view(self, slug: str, isolated: bool = False) -> View:
        """A fresh view for one invocation; take it before the guest runs."""
        if isolated:
            return View(slug, self.quota, None)
        return View(slug, self.quota, self.store, self._generation, self._epochs[slug])

    def usage(self, slug: str) -> int:
        """Bytes of keys and values the cartridge holds."""
        return int(self.store.get(_usage_key(slug), 0))

    async def commit(self, view: View, force: bool = False) -> bool:
        """Apply a view's writes atomically; False when a read was overwritten meanwhile (run it again) or over quota.

        `force` skips the read check, for a long-lived instance that cannot run its step again.
        """
        if view.store is None or not view.writes:
            return True
        async with self._locks[view.slug]:
            return await self.apply(view, force)

    def lock(self, slug: str) -> trio.Lock:
        """The lock commits of `slug` take: hold it across a run and `apply` to be sure nothing interleaves."""
        return self._locks[slug]

    async def apply(self, view: View, force: bool = False) -> bool:
        """`commit` for a caller that holds the cartridge's lock."""
        slug = view.slug
        if view.store is None or not view.writes or view.epoch != self._epochs[slug]:
            return True  # nothing to write, or removed while it ran: its writes go with it
        written = self._written[slug]
        if not force and any(written.get(key, 0) > view.generation for key in view.reads):
            return False
        usage = self.usage(slug)
        growth = sum(_size(key, value) - _size(key, view.committed(key)) for key, value in view.writes.items())
        if usage + growth > self.quota.max_bytes:
            return False
        async with self.store.transaction() as tx:
            for key, value in view.writes.items():
                tx.put(view.key(key), value)
            tx.put(_usage_key(slug), usage + growth)
        self._generation += 1
        for key in view.writes:
            written[key] = self._generation
        return True

    def items(self, slug: str, limit: int = 1000) -> list[tuple[bytes, bytes]]:
        """The cartridge's committed keys and values, in key order."""
        prefix = _prefix(slug)
        return [(key[len(prefix) :].encode(errors="surrogateescape"), value) for key, value in self.store.scan(prefix, limit=limit)]

    async def remove(self, slug: str) -> int:
        """Delete all of a cartridge's KV data; returns how many keys went."""
        async with self._locks[slug]:
            self._epochs[slug] += 1
            self._written.pop(slug, None)
            removed = 0
            prefix = _prefix(slug)
            while page := self.store.scan(prefix, limit=500):
                async with self.store.transaction() as tx:
                    for key, _ in page:
                        tx.delete(key.encode(errors="surrogateescape"))
                removed += len(page)
            await self.store.delete(_usage_key(slug))
        return removed
