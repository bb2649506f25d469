"""The bus (bounded, drop-oldest, never blocking) and the hash-chained audit log."""

from __future__ import annotations

import lmdb
import msgpack
import trio

from colony.core.audit import AuditLog, seq_key
from colony.core.events import Bus, Notice, PluginStateChanged
from colony.core.store import Store


async def test_slow_subscriber_loses_oldest_and_never_blocks():
    bus = Bus(channel_size=4)
    slow = bus.subscribe(["work.*"])
    everything = bus.subscribe(size=100)
    for i in range(10):
        bus.publish(Notice("work.item", {"i": i}))  # synchronous: it cannot block
    bus.publish(Notice("other", {}))
    received = [(await slow.receive()).data["i"] for _ in range(4)]
    assert received == [6, 7, 8, 9]
    assert slow.dropped == 6 and bus.dropped == 6 and everything.dropped == 0
    assert len(bus.recent) == 11


async def test_typed_events_and_subscription_close():
    bus = Bus()
    sub = bus.subscribe(["plugin.*"])
    env = bus.publish(PluginStateChanged("pulse", "running"), source="kernel")
    assert env.topic == "plugin.state" and env.data == {"plugin": "pulse", "state": "running", "reason": ""}
    assert (await sub.receive()) == env
    sub.close()
    assert bus.subscribers == 0
    received = []
    async with trio.open_nursery():
        async for item in sub:
            received.append(item)
    assert received == []


async def test_audit_chain_verifies_and_detects_tampering(tmp_path):
    path = tmp_path / "a.lmdb"
    store = Store(path)
    audit = AuditLog(store, ["plugin.*"])
    bus = Bus()
    bus.sinks.append(audit.sink)
    for i in range(20):
        bus.publish(PluginStateChanged(f"p{i}", "running"))
        bus.publish(Notice("noise", {}))  # not audited
    await store.commit([])  # the writer is FIFO: this returns after the audit entries
    assert audit.verify().to_dict() == {"ok": True, "entries": 20, "bad_seq": None, "reason": ""}
    store.close()

    # Reopening carries the chain on from its head.
    store = Store(path)
    audit = AuditLog(store, ["plugin.*"])
    audit.append("plugin.state", "kernel", 1.0, {"plugin": "late"})
    await store.commit([])
    assert audit.verify().ok and audit.verify().entries == 21
    store.close()

    env = lmdb.open(str(path), max_dbs=8)
    db = env.open_db(b"_audit")
    with env.begin(write=True, db=db) as txn:
        entry = msgpack.unpackb(txn.get(seq_key(7).encode()))
        entry["data"]["state"] = "stopped"
        txn.put(seq_key(7).encode(), msgpack.packb(entry))
    env.close()
    store = Store(path)
    verdict = AuditLog(store, ["plugin.*"]).verify()
    assert (verdict.ok, verdict.bad_seq) == (False, 7) and "hash" in verdict.reason
    store.close()


async def test_audit_detects_a_deleted_entry(tmp_path):
    store = Store(tmp_path / "d.lmdb")
    audit = AuditLog(store, ["*"])
    for i in range(5):
        audit.append("x", "k", float(i), {"i": i})
    await store.namespace("_audit").delete(seq_key(3))
    verdict = audit.verify()
    assert (verdict.ok, verdict.bad_seq) == (False, 3)
    store.close()
