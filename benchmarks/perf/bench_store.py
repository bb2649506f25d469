"""Store puts/s and gets/s (colony.core.store) against raw py-lmdb in the same run."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import lmdb
import trio

from _common import Table, parse_args, progress, ratio, report, time_interleaved
from colony.core.store import Namespace, Store

VALUE = "v" * 96  # msgpack makes it 98 bytes; raw lmdb stores 98 bytes too
RAW_VALUE = b"v" * 98
SEQUENTIAL = 1000  # durable puts, one commit (fsync) each
PUTTERS, PUTS_EACH = 100, 50  # concurrent trio tasks, puts per task
BATCH, BATCHES = 1000, 10  # puts per transaction, transactions
PASSES = 5  # write measurements keep the best of this many passes
KEYS = 10_000  # keys read back


def key(i: int) -> str:
    """8-byte keys."""
    return f"k{i:07d}"


def rate(ops: int, seconds: float) -> float:
    """Operations per second."""
    return ops / seconds


# -- ours --------------------------------------------------------------------------------


async def ours_sequential(ns: Namespace) -> float:
    """Each put awaited (durable) before the next."""
    start = perf_counter()
    for i in range(SEQUENTIAL):
        await ns.put(key(i), VALUE)
    return rate(SEQUENTIAL, perf_counter() - start)


async def ours_concurrent(ns: Namespace) -> tuple[float, float]:
    """PUTTERS tasks putting at once; returns puts/s and the mean number of puts per commit."""

    async def putter(task: int) -> None:
        for i in range(PUTS_EACH):
            await ns.put(key(task * PUTS_EACH + i), VALUE)

    commits = ns.store.stats.commits
    start = perf_counter()
    async with trio.open_nursery() as nursery:
        for task in range(PUTTERS):
            nursery.start_soon(putter, task)
    seconds = perf_counter() - start
    total = PUTTERS * PUTS_EACH
    return rate(total, seconds), total / max(1, ns.store.stats.commits - commits)


async def ours_transactions(ns: Namespace) -> float:
    """BATCH puts per `ns.transaction()`."""
    start = perf_counter()
    for b in range(BATCHES):
        async with ns.transaction() as tx:
            for i in range(BATCH):
                tx.put(key(b * BATCH + i), VALUE)
    return rate(BATCH * BATCHES, perf_counter() - start)


def ours_get_loop(ns: Namespace) -> Callable[[int], float]:
    """Timing loop of inline `ns.get`."""
    keys = [key(i % KEYS) for i in range(KEYS)]

    def loop(n: int) -> float:
        start = perf_counter()
        for i in range(n):
            ns.get(keys[i % KEYS])
        return perf_counter() - start

    return loop


# -- raw py-lmdb -------------------------------------------------------------------------


def raw_puts(env: Any, db: Any, per_txn: int, txns: int) -> float:
    """`per_txn` puts in each of `txns` write transactions (each commit is durable)."""
    start = perf_counter()
    for t in range(txns):
        with env.begin(write=True, db=db) as txn:
            for i in range(per_txn):
                txn.put(key(t * per_txn + i).encode(), RAW_VALUE)
    return rate(per_txn * txns, perf_counter() - start)


def raw_get_loop(env: Any, db: Any, one_txn: bool) -> Callable[[int], float]:
    """Timing loop of gets, all in one read transaction or one transaction per get."""
    keys = [key(i).encode() for i in range(KEYS)]

    def loop(n: int) -> float:
        start = perf_counter()
        if one_txn:
            with env.begin(db=db) as txn:
                for i in range(n):
                    txn.get(keys[i % KEYS])
        else:
            for i in range(n):
                with env.begin(db=db) as txn:
                    txn.get(keys[i % KEYS])
        return perf_counter() - start

    return loop


# -- the run ----------------------------------------------------------------------------


async def measure(folder: Path) -> dict[str, float]:
    """Every figure, ours and raw interleaved pass by pass so both see the same machine."""
    store = Store(folder / "ours")
    env = lmdb.open(str(folder / "raw"), map_size=1 << 30, max_dbs=4, sync=True)  # sync=True, as the store opens it
    try:
        ns, db = store.namespace("bench"), env.open_db(b"bench", create=True)
        runs: dict[str, list[float]] = defaultdict(list)
        for p in range(PASSES):
            progress(f"store: write pass {p + 1}/{PASSES}")
            runs["seq"].append(await ours_sequential(ns))
            runs["put1"].append(raw_puts(env, db, 1, SEQUENTIAL))
            puts_per_s, batch_size = await ours_concurrent(ns)
            runs["concurrent"].append(puts_per_s)
            runs["batch_size"].append(batch_size)
            runs["put100"].append(raw_puts(env, db, PUTTERS, PUTS_EACH))
            runs["tx"].append(await ours_transactions(ns))
            runs["put1000"].append(raw_puts(env, db, BATCH, BATCHES))
        assert ns.count() == KEYS and ns.get(key(KEYS - 1)) == VALUE
        progress("store: gets")
        results = {name: max(values) for name, values in runs.items()}
        results["batch_size"] = sum(runs["batch_size"]) / PASSES
        loops = {
            "get": ours_get_loop(ns),
            "get_txn_each": raw_get_loop(env, db, one_txn=False),
            "get_one_txn": raw_get_loop(env, db, one_txn=True),
        }
        results.update({name: 1 / seconds for name, seconds in time_interleaved(loops).items()})
        return results
    finally:
        store.close()
        env.close()


# -- report ------------------------------------------------------------------------------

CONCURRENT = f"{PUTTERS} tasks awaiting ns.put"
PAIRS = [  # (our figure, its label, the raw figure, its label, what the pair compares)
    ("seq", "await ns.put, one at a time", "put1", "1 put per txn", "the writer-thread hop on top of a durable commit"),
    ("concurrent", CONCURRENT, "put1", "1 put per txn", "group commit against committing each put alone"),
    ("concurrent", CONCURRENT, "put100", f"{PUTTERS} puts per txn", f"group commit against ideal batches of {PUTTERS}"),
    ("tx", f"ns.transaction, {BATCH} puts", "put1000", f"{BATCH} puts per txn", "our transaction against one raw txn"),
    ("get", "ns.get", "get_txn_each", "1 read txn per get", "same work per get: our lock, key check, msgpack"),
    ("get", "ns.get", "get_one_txn", "all gets in 1 read txn", "against the floor: no txn per get"),
]


def build_table(figures: dict[str, float]) -> Table:
    """One row per comparable pair."""
    rows = [
        {
            "ours": label,
            "ours_ops": figures[mine],
            "baseline": base_label,
            "base_ops": figures[theirs],
            "ratio": ratio(figures[theirs], figures[mine]),
            "compares": what,
        }
        for mine, label, theirs, base_label, what in PAIRS
    ]
    return Table(
        "Store: colony.core.store vs raw py-lmdb (sync=True), operations per second",
        {
            "ours": "ours",
            "ours_ops": "ours ops/s",
            "baseline": "raw lmdb",
            "base_ops": "raw ops/s",
            "ratio": "ratio",
            "compares": "what the pair compares",
        },
        rows,
        [
            "ratio = our time per op / raw time per op = raw ops/s / our ops/s (lower is better).",
            "Ours and raw run interleaved, pass by pass, so both see the same machine.",
            f"{PUTTERS} concurrent putters averaged {figures['batch_size']:.1f} puts per LMDB commit (group commit).",
            "Values are ~100 bytes, keys 8 bytes; every write commit is durable (fsync) on both sides.",
            f"Puts: best of {PASSES} passes of {SEQUENTIAL} sequential, {PUTTERS}x{PUTS_EACH} concurrent, "
            f"{BATCHES}x{BATCH} batched; gets: best of 5 interleaved timed loops over {KEYS:,} keys.",
        ],
    )


def main() -> None:
    """Run the benchmark and print its table."""
    args = parse_args(__doc__)
    folder = Path(tempfile.mkdtemp(prefix="colony-bench-store-"))
    try:
        figures = trio.run(measure, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report("bench_store", [build_table(figures)], args.json)


if __name__ == "__main__":
    main()
