"""The node's LMDB store: one named database per namespace, inline reads, a batching writer thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import lmdb
import msgpack
import trio

MAX_KEY = 511  # LMDB's default maximum key size
# (put|delete|drop|open|update, namespace, key, value); an update's value maps the old bytes to new.
Op = tuple[str, str, bytes, "bytes | None | Callable[[bytes | None], bytes]"]
Done = Callable[[BaseException | None], None]


class StoreError(Exception):
    """A store operation was refused."""


def encode_key(key: str | bytes) -> bytes:
    """Keys are UTF-8 strings (or raw bytes) of 1 to 511 bytes."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if not raw or len(raw) > MAX_KEY:
        raise StoreError(f"store keys must be 1-{MAX_KEY} bytes, got {len(raw)}")
    return raw


def pack(value: Any) -> bytes:
    """Encode a value as msgpack."""
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise StoreError(f"value cannot be stored: {exc}") from None


def unpack(raw: bytes) -> Any:
    """Decode a msgpack value."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


@dataclass
class StoreStats:
    """Counters the writer thread keeps."""

    commits: int = 0
    operations: int = 0
    grows: int = 0
    failures: int = 0


class Store:
    """An LMDB environment with a writer thread that group-commits every queued submission."""

    def __init__(self, path: Path, map_size: int = 1 << 30, max_dbs: int = 256, batch_max: int = 1000) -> None:
        self.path = path
        self.batch_max = batch_max
        self.stats = StoreStats()
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=map_size, max_dbs=max_dbs, subdir=True, max_readers=512)
        self._env.reader_check()
        self._dbs: dict[str, Any] = {}
        # Held by every read transaction and by a map resize, which LMDB allows only with no live txn.
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[list[Op], Done] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="colony-store-writer", daemon=True)
        self._writer.start()
        self._closed = False

    # -- handles -------------------------------------------------------------------------

    def namespace(self, name: str) -> Namespace:
        """The namespace `name`, created on first use."""
        self._db(name)
        return Namespace(self, name)

    def namespaces(self) -> list[str]:
        """Every namespace that exists in the store."""
        with self._read_lock, self._env.begin() as txn:
            return sorted(key.decode() for key, _ in txn.cursor())

    def _db(self, name: str) -> Any:
        db = self._dbs.get(name)
        if db is None:
            if not name or len(name.encode()) > 200:
                raise StoreError(f"invalid namespace name {name!r}")
            # Only the writer thread opens databases: open_db takes LMDB's write lock while
            # holding the GIL, which deadlocks against a writer that is committing.
            self.commit_sync([("open", name, b"", None)])
            db = self._dbs[name]
        return db

    # -- reads (inline: about a microsecond, never worth a thread hop) -------------------

    def get(self, namespace: str, key: str | bytes, default: Any = None) -> Any:
        """The value at `key`, or `default`."""
        db = self._db(namespace)
        with self._read_lock, self._env.begin(db=db) as txn:
            raw = txn.get(encode_key(key))
        return default if raw is None else unpack(raw)

    def scan(
        self, namespace: str, prefix: str | bytes = b"", *, after: str | bytes | None = None, limit: int | None = None
    ) -> list[tuple[str, Any]]:
        """Items whose key starts with `prefix`, in key order, after `after`, at most `limit`."""
        db = self._db(namespace)
        start = prefix.encode() if isinstance(prefix, str) else prefix
        resume = after.encode() if isinstance(after, str) else after
        items: list[tuple[str, Any]] = []
        with self._read_lock, self._env.begin(db=db) as txn:
            cursor = txn.cursor()
            found = cursor.set_range(resume if resume is not None and resume > start else start)
            while found:
                key = cursor.key()
                if not key.startswith(start):
                    break
                if resume is None or key > resume:
                    items.append((key.decode(errors="surrogateescape"), unpack(cursor.value())))
                    if limit is not None and len(items) >= limit:
                        break
                found = cursor.next()
        return items

    def last(self, namespace: str) -> tuple[str, Any] | None:
        """The item with the greatest key, or None when the namespace is empty."""
        db = self._db(namespace)
        with self._read_lock, self._env.begin(db=db) as txn:
            cursor = txn.cursor()
            if not cursor.last():
                return None
            return cursor.key().decode(errors="surrogateescape"), unpack(cursor.value())

    def count(self, namespace: str) -> int:
        """How many keys the namespace holds."""
        db = self._db(namespace)
        with self._read_lock, self._env.begin(db=db) as txn:
            return int(txn.stat(db)["entries"])

    # -- writes (queued to the writer thread) -------------------------------------------

    def submit(self, ops: list[Op], done: Done) -> None:
        """Queue `ops` to be committed atomically; `done` is called from the writer thread."""
        if self._closed:
            raise StoreError("the store is closed")
        for kind, namespace, _, _ in ops:
            if kind != "open":
                self._db(namespace)
        self._queue.put((ops, done))

    async def commit(self, ops: list[Op]) -> None:
        """Commit `ops` atomically and durably; returns once they are on disk."""
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        outcome: list[BaseException | None] = []

        def done(exc: BaseException | None) -> None:
            outcome.append(exc)
            try:
                token.run_sync_soon(finished.set)
            except trio.RunFinishedError:
                pass

        self.submit(ops, done)
        await finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def commit_sync(self, ops: list[Op]) -> None:
        """Commit `ops` from a thread that is not running trio; blocks until durable."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(exc: BaseException | None) -> None:
            outcome.append(exc)
            finished.set()

        self.submit(ops, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            stop = False
            while size < self.batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0])
            self._commit_batch(batch)
            if stop:
                return

    def _commit_batch(self, batch: list[tuple[list[Op], Done]]) -> None:
        try:
            self._apply([ops for ops, _ in batch])
            results: list[BaseException | None] = [None] * len(batch)
        except Exception:
            # One bad submission must not fail its neighbours: retry each on its own.
            results = []
            for ops, _ in batch:
                try:
                    self._apply([ops])
                    results.append(None)
                except Exception as exc:
                    self.stats.failures += 1
                    results.append(StoreError(f"write failed: {exc}"))
        for (_, done), exc in zip(batch, results):
            done(exc)

    def _apply(self, submissions: list[list[Op]]) -> None:
        while True:
            opened: dict[str, Any] = {}
            try:
                with self._env.begin(write=True) as txn:
                    for ops in submissions:
                        for kind, namespace, key, value in ops:
                            db = self._dbs.get(namespace) or opened.get(namespace)
                            if db is None:
                                db = opened[namespace] = self._env.open_db(namespace.encode(), txn=txn, create=True)
                            if kind == "put":
                                txn.put(key, value, db=db)
                            elif kind == "update":
                                txn.put(key, value(txn.get(key, db=db)), db=db)
                            elif kind == "delete":
                                txn.delete(key, db=db)
                            elif kind == "drop":
                                txn.drop(db, delete=False)
                # A handle opened in a transaction is usable by others only once it commits.
                self._dbs.update(opened)
                self.stats.commits += 1
                self.stats.operations += sum(len(ops) for ops in submissions)
                return
            except lmdb.MapFullError:
                with self._read_lock:
                    self._env.set_mapsize(self._env.info()["map_size"] * 2)
                self.stats.grows += 1

    def map_size(self) -> int:
        """The current LMDB map size in bytes."""
        return int(self._env.info()["map_size"])

    def close(self) -> None:
        """Flush queued writes, stop the writer and close the environment."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._env.close()


def _ignore(error: BaseException | None) -> None:
    """The `done` of a queued write nobody waits on."""


class Namespace:
    """A plugin's own slice of the store."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def get(self, key: str | bytes, default: Any = None) -> Any:
        """The value at `key`, or `default`."""
        return self.store.get(self.name, key, default)

    def scan(
        self, prefix: str | bytes = b"", *, after: str | bytes | None = None, limit: int | None = None
    ) -> list[tuple[str, Any]]:
        """Items whose key starts with `prefix`, in key order."""
        return self.store.scan(self.name, prefix, after=after, limit=limit)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        after: str | None = None
        while page := self.scan(after=after, limit=500):
            yield from page
            after = page[-1][0]

    def count(self) -> int:
        """How many keys the namespace holds."""
        return self.store.count(self.name)

    async def put(self, key: str | bytes, value: Any) -> None:
        """Store `value` at `key`, durably."""
        await self.store.commit([("put", self.name, encode_key(key), pack(value))])

    async def update(self, key: str | bytes, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value at `key` with `fn(old)` (old is `default` when absent); returns the new value.

        `fn` runs on the writer thread inside the write transaction, so no other write can
        interleave; keep it short and free of side effects (it may run twice on a retry).
        """
        result: list[Any] = []

        def apply(raw: bytes | None) -> bytes:
            new = fn(default if raw is None else unpack(raw))
            result.append(new)
            return pack(new)

        await self.store.commit([("update", self.name, encode_key(key), apply)])
        return result[-1]

    async def delete(self, key: str | bytes) -> None:
        """Remove `key`, durably."""
        await self.store.commit([("delete", self.name, encode_key(key), None)])

    async def clear(self) -> None:
        """Remove every key of this namespace."""
        await self.store.commit([("drop", self.name, b"", None)])

    def transaction(self) -> Transaction:
        """Writes that commit together or not at all."""
        return Transaction(self.store, self.name)


@dataclass
class Transaction:
    """Buffered writes, possibly across namespaces, committed atomically on exit."""

    store: Store
    namespace: str
    ops: list[Op] = field(default_factory=list)
    _pending: dict[tuple[str, bytes], bytes | None] = field(default_factory=dict)

    def put(self, key: str | bytes, value: Any, *, namespace: str | None = None) -> None:
        """Buffer a put."""
        ns, raw = namespace or self.namespace, encode_key(key)
        packed = pack(value)
        self.ops.append(("put", ns, raw, packed))
        self._pending[(ns, raw)] = packed

    def delete(self, key: str | bytes, *, namespace: str | None = None) -> None:
        """Buffer a delete."""
        ns, raw = namespace or self.namespace, encode_key(key)
        self.ops.append(("delete", ns, raw, None))
        self._pending[(ns, raw)] = None

    def get(self, key: str | bytes, default: Any = None, *, namespace: str | None = None) -> Any:
        """Read, seeing this transaction's own buffered writes."""
        ns, raw = namespace or self.namespace, encode_key(key)
        if (ns, raw) in self._pending:
            packed = self._pending[(ns, raw)]
            return default if packed is None else unpack(packed)
        return self.store.get(ns, raw, default)

    async def commit(self) -> None:
        """Commit the buffered writes atomically and durably (what leaving `async with` does)."""
        if self.ops:
            await self.store.commit(self.ops)

    def queue(self, done: Done | None = None) -> None:
        """Hand the writes to the writer without waiting: they commit in order with every other write, or are lost by a crash first.

        `done(error)` is called from the writer thread once they commit or fail.
        """
        if self.ops:
            self.store.submit(self.ops, done or _ignore)

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.commit()
