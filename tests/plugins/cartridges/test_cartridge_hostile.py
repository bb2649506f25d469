"""Hostile cartridges: each gets a clear error while other requests keep being served and the store stays intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import wasmtime

from colony.plugins.cartridges.abi import DeployError
from tests.plugins.cartridges.conftest import ECHO, Rig, guest, handler

# Run-time attacks: (slug, module, manifest extras, kind of failure, words the error must contain).
RUNTIME: list[tuple[str, bytes, dict[str, Any], str, str]] = [
    ("spin", handler("    (loop $l (br $l))"), {"limits": {"fuel": 10**10, "deadline_ms": 50}}, "deadline", "ran past its deadline"),
    ("burn", handler("    (loop $l (br $l))"), {"limits": {"fuel": 1_000_000, "deadline_ms": 10_000}}, "fuel", "ran out of fuel"),
    (
        "bomb",
        handler("    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))\n    unreachable"),
        {"limits": {"memory_mib": 8}},
        "trap",
        "unreachable` instruction executed (memory 8.0 of its 8 MiB cap)",
    ),
    ("deep", guest('  (func $r (export "x402_handle") (param i32 i32) (call $r (local.get 0) (local.get 1)))'), {}, "trap", "overflowed its stack"),
    (
        "huge",
        handler("    (drop (memory.grow (i32.const 40)))\n    (call $response (i32.const 200) (i32.const 0) (i32.const 2097152) (i32.const 0) (i32.const 0))"),
        {},
        "trap",
        "response body of 2097152 bytes is over the 1048576-byte limit",
    ),
    (
        "oob-body",
        handler("    (call $response (i32.const 200) (i32.const -256) (i32.const 16) (i32.const 0) (i32.const 0))"),
        {},
        "trap",
        "response body: 16 bytes at 4294967040 lie outside the guest's 131072-byte memory",
    ),
    (
        "oob-kv",
        handler("    (drop (call $kv_set (i32.const 131070) (i32.const 8) (i32.const 0) (i32.const 1)))"),
        {},
        "trap",
        "kv_set key: 8 bytes at 131070 lie outside",
    ),
    ("oob-log", handler("    (call $log (i32.const 1) (i32.const 0) (i32.const 100000000))"), {}, "trap", "log: 100000000 bytes at 0 lie outside"),
    (
        "oob-alloc",
        wasmtime.wat2wasm(
            '(module (memory (export "memory") 1) (func (export "x402_alloc") (param i32) (result i32) (i32.const -16))'
            ' (func (export "x402_handle") (param i32 i32)))'
        ),
        {},
        "trap",
        "lie outside the guest's 65536-byte memory",
    ),
]

# Deploy-time attacks: (slug, module, manifest extras, words the refusal must contain).
REFUSED: list[tuple[str, bytes, dict[str, Any], str]] = [
    ("garbage", b"not wasm at all", {}, "does not compile"),
    ("empty", b"", {}, "does not compile"),
    ("truncated", ECHO[: len(ECHO) // 2], {}, "does not compile"),
    ("bad-section", b"\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f", {}, "does not compile"),
    ("headless", wasmtime.wat2wasm('(module (memory (export "memory") 1))'), {}, "must export x402_handle"),
    ("amnesiac", wasmtime.wat2wasm('(module (func (export "x402_handle") (param i32 i32)))'), {}, "does not export its memory"),
    ("still", wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "x402_get_framebuffer") (result i32) i32.const 0))'), {"kind": "interactive"}, "must export x402_tick"),
    (
        "wasi",
        wasmtime.wat2wasm('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "x402_handle") (param i32 i32)))'),
        {},
        "imports wasi_snapshot_preview1.fd_write, which the host does not provide",
    ),
    ("greedy", wasmtime.wat2wasm('(module (memory (export "memory") 2000) (func (export "x402_handle") (param i32 i32)))'), {}, "memory minimum size of 2000 pages exceeds memory limits"),
    ("sulky", guest('  (func (export "x402_init") (result i32) (i32.const 3))\n  (func (export "x402_handle") (param i32 i32))\n'), {}, "x402_init returned 3"),
    (
        "eager",
        wasmtime.wat2wasm(
            '(module (import "x402" "log" (func $log (param i32 i32 i32))) (memory (export "memory") 1)'
            ' (func $s (call $log (i32.const 0) (i32.const 0) (i32.const 0))) (start $s) (func (export "x402_handle") (param i32 i32)))'
        ),
        {},
        "cannot be called while the module is being instantiated",
    ),
    (
        "offscreen",
        wasmtime.wat2wasm(
            '(module (memory (export "memory") 1) (func (export "x402_tick"))'
            ' (func (export "x402_get_framebuffer") (result i32) (i32.const 60000)))'
        ),
        {"kind": "interactive"},
        "x402_get_framebuffer: 307200 bytes at 60000 lie outside",
    ),
    (
        "wide",
        wasmtime.wat2wasm(
            '(module (memory (export "memory") 1) (func (export "x402_tick")) (func (export "x402_get_width") (result i32) (i32.const 100000))'
            ' (func (export "x402_get_framebuffer") (result i32) (i32.const 0)))'
        ),
        {"kind": "interactive"},
        "x402_get_width returned 100000",
    ),
]

# A cartridge with committed KV data that must come through every attack untouched.
LEDGER = handler(
    "    (drop (call $kv_set (i32.const 16) (call $str (i32.const 16)) (i32.const 32) (call $str (i32.const 32))))\n"
    "    (call $reply (i32.const 200) (i32.const 32) (call $str (i32.const 32)))",
    {16: "balance", 32: "100"},
)


async def served_meanwhile(rig: Rig, attack: Any) -> Any:
    """Run `attack()` while other requests are served; returns its result after checking every echo succeeded."""
    results: dict[str, Any] = {}
    echoes: list[Any] = []

    async def attacker() -> None:
        results["attack"] = await attack()

    async def bystander() -> None:
        while "attack" not in results or len(echoes) < 3:
            echoes.append(await rig.call("echo", body="still here"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attacker)
        nursery.start_soon(bystander)
    assert echoes and all(e.ok and json.loads(e.body)["body"] == "still here" for e in echoes)
    return results["attack"]


async def check_store(rig: Rig) -> None:
    assert rig.kv.items("ledger") == [(b"balance", b"100")]
    assert (await rig.call("ledger")).body == b"100"
    assert sorted(key for key, _ in rig.namespace.scan("cart/")) == sorted(f"cart/{slug}" for slug in rig.library.slots)


@pytest.fixture
async def armed(rig: Rig) -> Rig:
    await rig.deploy("echo", ECHO)
    await rig.deploy("ledger", LEDGER)
    assert (await rig.call("ledger")).ok
    return rig


@pytest.mark.parametrize(("slug", "wasm", "extra", "kind", "words"), RUNTIME, ids=[case[0] for case in RUNTIME])
async def test_runtime_attacks_fail_clearly(armed: Rig, slug: str, wasm: bytes, extra: dict[str, Any], kind: str, words: str) -> None:
    await armed.deploy(slug, wasm, **extra)
    outcome = await served_meanwhile(armed, lambda: armed.call(slug))
    assert not outcome.ok
    assert outcome.kind == kind, outcome.error
    assert words in (outcome.error or ""), outcome.error
    row = armed.library.describe(slug)
    assert row["errors"] == 1 and row["traps"]["fuel" if kind == "fuel" else "deadline" if kind == "deadline" else "other"] == 1
    assert words in row["last_error"]
    await check_store(armed)


@pytest.mark.parametrize(("slug", "wasm", "extra", "words"), REFUSED, ids=[case[0] for case in REFUSED])
async def test_deploy_attacks_are_refused_clearly(armed: Rig, slug: str, wasm: bytes, extra: dict[str, Any], words: str) -> None:
    async def attempt() -> str:
        with pytest.raises(DeployError) as refused:
            await armed.deploy(slug, wasm, **extra)
        return str(refused.value)

    reason = await served_meanwhile(armed, attempt)
    assert words in reason
    assert armed.library.get(slug) is None
    assert ("cartridges.deploy_failed", {"slug": slug, "version": "1.0.0", "reason": reason}) in armed.events
    await check_store(armed)


async def test_a_refused_redeploy_leaves_the_old_version_serving(armed: Rig) -> None:
    with pytest.raises(DeployError, match="does not compile"):
        await armed.deploy("echo", b"\x00asm garbage", version="2.0.0")
    assert armed.library.get("echo").manifest.version == "1.0.0"  # type: ignore[union-attr]
    assert (await armed.call("echo", body="ok")).ok
    assert "deploy of echo 2.0.0 failed" in armed.library.describe("echo")["last_error"]


async def test_recursive_self_calls_stop_at_depth_three(armed: Rig) -> None:
    selfie = handler(
        """    (local.set $v (call $call (i32.const 16) (call $str (i32.const 16)) (local.get $req) (local.get $n)))
    (if (i64.eqz (local.get $v)) (then (call $reply (i32.const 508) (i32.const 32) (call $str (i32.const 32))) (return)))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))""",
        {16: "selfie", 32: "bottom"},
    )
    await armed.deploy("selfie", selfie)
    outcome = await served_meanwhile(armed, lambda: armed.call("selfie"))
    assert outcome.ok and outcome.status == 200
    levels, result = 0, json.loads(outcome.body)
    while result["status"] == 200:
        levels, result = levels + 1, json.loads(result["body"])
    assert (levels, result["status"], result["body"]) == (2, 508, "bottom")  # depths 1 and 2 wrap depth 3, which is refused
    assert any("call depth limit is 3" in line["message"] for line in armed.library.logs("selfie", 50))
    await check_store(armed)


async def test_a_trap_inside_a_called_cartridge_fails_only_the_call(armed: Rig) -> None:
    await armed.deploy("spin", handler("    (loop $l (br $l))"), limits={"fuel": 10**10, "deadline_ms": 20})
    calls_spin = handler(
        """    (local.set $v (call $call (i32.const 16) (call $str (i32.const 16)) (local.get $req) (local.get $n)))
    (call $reply (select (i32.const 502) (i32.const 200) (i64.eqz (local.get $v))) (i32.const 0) (i32.const 0))""",
        {16: "spin"},
    )
    await armed.deploy("boss", calls_spin, limits={"deadline_ms": 5000})
    outcome = await armed.call("boss")
    assert outcome.ok and outcome.status == 502
    assert any("call(spin) failed: the cartridge ran past its deadline" in message for _, message in outcome.logs)
    assert armed.library.describe("spin")["traps"]["deadline"] == 1
