"""Per-cartridge KV: committed atomically per invocation, nothing on a trap or timeout, gone on remove, within quota."""

from __future__ import annotations

from collections.abc import Callable

import trio

from colony.plugins.cartridges.kv import Quota
from tests.plugins.cartridges.conftest import Rig, handler

# Appends one byte to the value at "n" (after `pre`), then runs `post`: answers the new value, or traps.
APPEND = """    (local.set $v (call $kv_get (i32.const 16) (call $str (i32.const 16))))
    (if (i32.eqz (i64.eqz (local.get $v)))
      (then (memory.copy (i32.const 4096) (call $ptr (local.get $v)) (call $len (local.get $v)))))
    (i32.store8 (i32.add (i32.const 4096) (call $len (local.get $v))) (i32.const 120))
    (if (call $kv_set (i32.const 16) (call $str (i32.const 16)) (i32.const 4096) (i32.add (call $len (local.get $v)) (i32.const 1)))
      (then (call $reply (i32.const 507) (i32.const 0) (i32.const 0)) (return)))
{post}"""
ANSWER = "    (call $reply (i32.const 200) (i32.const 4096) (i32.add (call $len (local.get $v)) (i32.const 1)))"
COUNTER = handler(APPEND.format(post=ANSWER), {16: "n"})
TRAPS_AFTER = handler(APPEND.format(post="    unreachable"), {16: "n"})
SPINS_AFTER = handler(APPEND.format(post="    (loop $l (br $l))"), {16: "n"})


async def test_writes_commit_after_a_clean_return_and_survive_a_restart(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await rig.deploy("counter", COUNTER)
    bodies = [(await rig.call("counter")).body for _ in range(3)]
    assert bodies == [b"x", b"xx", b"xxx"]
    restarted = make_rig()
    await restarted.library.load()
    assert (await restarted.call("counter")).body == b"xxxx"
    assert restarted.kv.usage("counter") == len("n") + 4


async def test_a_trap_or_a_timeout_commits_nothing(rig: Rig) -> None:
    await rig.deploy("counter", COUNTER)
    await rig.call("counter")
    await rig.deploy("counter", TRAPS_AFTER, version="1.0.1")
    trapped = await rig.call("counter")
    assert trapped.kind == "trap"
    await rig.deploy("counter", SPINS_AFTER, version="1.0.2", limits={"fuel": 10**10, "deadline_ms": 30})
    timed_out = await rig.call("counter")
    assert timed_out.kind == "deadline"
    assert rig.kv.items("counter") == [(b"n", b"x")]
    await rig.library.rollback("counter")  # back to 1.0.1, which traps
    await rig.deploy("counter", COUNTER, version="1.0.3")
    assert (await rig.call("counter")).body == b"xx"


async def test_concurrent_invocations_never_lose_an_update(rig: Rig) -> None:
    await rig.deploy("counter", COUNTER)
    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(rig.call, "counter")
    assert rig.kv.items("counter") == [(b"n", b"x" * 20)]
    assert rig.library.describe("counter")["errors"] == 0


async def test_remove_deletes_the_kv_and_a_new_deploy_starts_empty(rig: Rig) -> None:
    await rig.deploy("counter", COUNTER)
    await rig.call("counter")
    await rig.call("counter")
    removed = await rig.library.remove("counter")
    assert removed == {"slug": "counter", "removed": True, "kv_keys": 1}
    assert rig.kv.items("counter") == [] and rig.kv.usage("counter") == 0
    assert rig.namespace.scan("wasm/") == [] and rig.namespace.scan("cart/") == []
    await rig.deploy("counter", COUNTER)
    assert (await rig.call("counter")).body == b"x"


async def test_quota_refuses_writes_with_minus_one(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(quota=Quota(max_value=3, max_bytes=1 << 20))
    await rig.deploy("counter", COUNTER)
    assert [(await rig.call("counter")).status for _ in range(4)] == [200, 200, 200, 507]
    assert rig.kv.items("counter") == [(b"n", b"xxx")]
    small = make_rig(quota=Quota(max_bytes=3))  # "n" plus two bytes fill it
    await small.deploy("tiny", COUNTER)
    assert [(await small.call("tiny")).status for _ in range(3)] == [200, 200, 507]
    assert small.kv.usage("tiny") == 3
