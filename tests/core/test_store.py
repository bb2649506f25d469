"""The LMDB store: namespaces, transactions, scans, growth, threads, and a model-based check."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.core.store import Store, StoreError, encode_key, pack


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "state.lmdb", map_size=1 << 20)
    yield s
    s.close()


async def test_put_get_delete_and_namespaces_are_isolated(store):
    a, b = store.namespace("a"), store.namespace("b")
    await a.put("k", {"n": 1, "tags": ["x"], "raw": b"\x00\xff"})
    await b.put("k", 2)
    assert a.get("k") == {"n": 1, "tags": ["x"], "raw": b"\x00\xff"}
    assert b.get("k") == 2
    await a.delete("k")
    assert a.get("k", "gone") == "gone" and b.get("k") == 2
    assert {"a", "b"} <= set(store.namespaces())


async def test_scan_prefix_order_and_pagination(store):
    ns = store.namespace("scan")
    async with ns.transaction() as txn:
        for i in range(25):
            txn.put(f"item/{i:03d}", i)
        txn.put("other", -1)
    assert [v for _, v in ns.scan("item/")] == list(range(25))
    page = ns.scan("item/", after="item/009", limit=5)
    assert [k for k, _ in page] == [f"item/{i:03d}" for i in range(10, 15)]
    assert list(dict(ns).values())[-1] == -1 and ns.count() == 26
    assert store.last("scan") == ("other", -1)


async def test_transaction_is_atomic_and_reads_its_own_writes(store):
    ns = store.namespace("txn")
    await ns.put("balance", 10)
    with pytest.raises(RuntimeError):
        async with ns.transaction() as txn:
            txn.put("balance", 0)
            txn.put("log", "spent")
            assert txn.get("balance") == 0
            raise RuntimeError("abort")
    assert ns.get("balance") == 10 and ns.get("log") is None
    async with ns.transaction() as txn:
        txn.put("balance", 3)
        txn.put("mirror", 3, namespace="other")
        txn.delete("balance")
        assert txn.get("balance", "deleted") == "deleted"
    assert ns.get("balance") is None and store.get("other", "mirror") == 3


async def test_map_grows_when_full(tmp_path):
    store = Store(tmp_path / "small.lmdb", map_size=64 << 10)
    try:
        ns = store.namespace("blob")
        for i in range(40):
            await ns.put(f"b{i}", b"x" * 16_000)
        assert store.stats.grows >= 1 and store.map_size() > 64 << 10
        assert ns.get("b39") == b"x" * 16_000
    finally:
        store.close()


async def test_bad_keys_and_values_are_refused_clearly(store):
    ns = store.namespace("bad")
    with pytest.raises(StoreError, match="1-511 bytes"):
        await ns.put("", 1)
    with pytest.raises(StoreError, match="1-511 bytes"):
        await ns.put("k" * 600, 1)
    with pytest.raises(StoreError, match="cannot be stored"):
        await ns.put("obj", object())
    with pytest.raises(StoreError, match="invalid namespace"):
        store.namespace("")


async def test_one_failing_submission_does_not_fail_its_batch_neighbours(store):
    ns = store.namespace("mixed")
    good = [("put", "mixed", encode_key(f"g{i}"), pack(i)) for i in range(5)]
    bad = [("put", "mixed", b"x" * 600, pack(0))]  # bypasses encode_key's check on purpose
    results: list[object] = []
    async with trio.open_nursery() as nursery:
        for ops in (good[:2], bad, good[2:]):
            nursery.start_soon(_commit_capture, store, ops, results)
    assert sum(isinstance(r, StoreError) for r in results) == 1
    assert [ns.get(f"g{i}") for i in range(5)] == list(range(5))


async def _commit_capture(store, ops, results):
    try:
        await store.commit(ops)
        results.append(None)
    except StoreError as exc:
        results.append(exc)


async def test_concurrent_writers_from_trio_and_threads(store):
    ns = store.namespace("many")

    def thread_writer() -> None:
        for i in range(200):
            store.commit_sync([("put", "many", encode_key(f"t{i}"), pack(i))])

    thread = threading.Thread(target=thread_writer)
    thread.start()
    async with trio.open_nursery() as nursery:
        for w in range(20):
            nursery.start_soon(_writer, ns, w)
    thread.join()
    assert ns.count() == 20 * 50 + 200
    assert store.stats.commits < store.stats.operations  # batches formed


async def _writer(ns, w):
    for i in range(50):
        await ns.put(f"w{w}/{i}", i)


async def test_closed_store_refuses_writes_and_reopen_sees_everything(tmp_path):
    store = Store(tmp_path / "re.lmdb")
    await store.namespace("ns").put("k", "v")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.namespace("ns").put("k2", "v")
    again = Store(tmp_path / "re.lmdb")
    try:
        assert again.get("ns", "k") == "v"
    finally:
        again.close()


keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
operations = st.lists(st.tuples(st.sampled_from(["put", "delete"]), keys, values), max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_store_matches_a_dict_model(tmp_path_factory, ops):
    store = Store(tmp_path_factory.mktemp("model") / "m.lmdb")
    model: dict[str, object] = {}

    async def run() -> None:
        ns = store.namespace("model")
        for kind, key, value in ops:
            if kind == "put":
                await ns.put(key, value)
                model[key] = value
            else:
                await ns.delete(key)
                model.pop(key, None)

    try:
        trio.run(run)
        assert dict(store.namespace("model")) == {k: model[k] for k in sorted(model, key=lambda k: k.encode())}
    finally:
        store.close()


async def test_update_is_atomic_under_concurrency(store):
    ns = store.namespace("counter")

    async def bump() -> None:
        for _ in range(50):
            await ns.update("n", lambda n: n + 1, default=0)

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(bump)
    assert ns.get("n") == 500
    assert await ns.update("n", lambda n: n * 2) == 1000
    with pytest.raises(StoreError, match="write failed"):
        await ns.update("n", lambda n: n / 0)
    assert ns.get("n") == 1000


async def test_queued_writes_commit_in_order_with_awaited_ones(store):
    ns = store.namespace("q")
    heard: list[BaseException | None] = []
    for value in range(5):
        txn = ns.transaction()
        txn.put("k", value)
        txn.queue(heard.append)
    ns.transaction().queue()  # nothing buffered: nothing queued
    await ns.put("after", True)  # committed after every queued write
    assert ns.get("k") == 4 and ns.get("after") is True
    assert heard == [None] * 5
