"""Deploying: hot swap, rollback, refused versions, the module cache across restarts, and interactive sessions."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import trio

from colony.plugins.cartridges.abi import DeployError, Policy
from colony.plugins.cartridges.sessions import Sessions, SessionError
from tests.plugins.cartridges.conftest import Rig, guest, handler


def version(text: str) -> bytes:
    """A backend answering `text`."""
    return handler("    (call $reply (i32.const 200) (i32.const 16) (call $str (i32.const 16)))", {16: text})


# A 4x2 screen: x402_tick adds 1 to every byte of the framebuffer at 1024; a key down writes its code into byte 0.
SCREEN = guest(
    """  (global $w (mut i32) (i32.const 0))
  (global $h (mut i32) (i32.const 0))
  (func (export "x402_init") (param i32 i32) (global.set $w (i32.const 4)) (global.set $h (i32.const 2)))
  (func (export "x402_get_width") (result i32) (global.get $w))
  (func (export "x402_get_height") (result i32) (global.get $h))
  (func (export "x402_get_framebuffer") (result i32) (i32.const 1024))
  (func (export "x402_key_down") (param $code i32) (i32.store8 (i32.const 1024) (local.get $code)))
  (func (export "x402_key_up") (param $code i32) (i32.store8 (i32.const 1025) (local.get $code)))
  (func (export "x402_tick") (local $i i32)
    (loop $l
      (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (i32.add (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 32)))))
"""
)


async def test_hot_swap_rollback_and_previous(rig: Rig) -> None:
    first = await rig.deploy("app", version("one"))
    assert (first["version"], first["previous"], first["compiled"]) == ("1.0.0", None, "compiled")
    second = await rig.deploy("app", version("two"), version="2.0.0")
    assert (second["version"], second["previous"]) == ("2.0.0", "1.0.0")
    assert (await rig.call("app")).body == b"two"
    back = await rig.library.rollback("app")
    assert (back["version"], back["previous"]) == ("1.0.0", "2.0.0")
    assert (await rig.call("app")).body == b"one"
    forth = await rig.library.rollback("app")
    assert (forth["version"], (await rig.call("app")).body) == ("2.0.0", b"two")
    assert [topic for topic, _ in rig.events] == ["cartridges.deployed", "cartridges.deployed", "cartridges.rolled_back", "cartridges.rolled_back"]
    await rig.deploy("solo", version("s"))
    with pytest.raises(DeployError, match="no previous version"):
        await rig.library.rollback("solo")
    with pytest.raises(LookupError):
        await rig.library.rollback("nobody")


async def test_in_flight_calls_finish_on_the_version_they_started_with(rig: Rig) -> None:
    await rig.deploy("app", version("old"))
    started = rig.library.get("app")  # what a request holds from the moment it is routed
    await rig.deploy("app", version("new"), version="2.0.0")
    assert started is not None
    assert (await rig.library.invoke(started, b"{}")).body == b"old"
    assert (await rig.call("app")).body == b"new"


async def test_deploys_under_concurrent_calls_never_fail_one(rig: Rig) -> None:
    await rig.deploy("app", version("v0"))
    seen: list[bytes] = []
    done = trio.Event()

    async def client() -> None:
        while not done.is_set():
            outcome = await rig.call("app")
            assert outcome.ok, outcome.error
            seen.append(outcome.body)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        nursery.start_soon(client)
        for n in range(1, 21):
            await rig.deploy("app", version(f"v{n}"), version=f"1.0.{n}")
        done.set()
    assert seen and (await rig.call("app")).body == b"v20"
    assert rig.library.describe("app")["errors"] == 0


async def test_a_refused_version_is_reported_and_the_old_one_serves(rig: Rig) -> None:
    await rig.deploy("app", version("good"))
    failing_init = guest('  (func (export "x402_init") (result i32) (i32.const 1))\n  (func (export "x402_handle") (param i32 i32))\n')
    with pytest.raises(DeployError, match="x402_init returned 1"):
        await rig.deploy("app", failing_init, version="2.0.0")
    with pytest.raises(DeployError, match="the manifest says sha256"):
        await rig.deploy("app", version("other"), version="3.0.0", sha256="0" * 64)
    row = rig.library.describe("app")
    assert (row["version"], row["previous"]) == ("1.0.0", None)
    assert "deploy of app 3.0.0 failed" in row["last_error"]
    assert (await rig.call("app")).body == b"good"


async def test_the_module_cache_survives_a_restart_without_recompiling(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await rig.deploy("app", version("cached"))
    await rig.deploy("app", version("newer"), version="2.0.0")
    assert rig.engine.stats.compiles == 2
    again = make_rig()  # a fresh engine over the same home and store: the node restarted
    await again.library.load()
    assert (again.engine.stats.compiles, again.engine.stats.disk_loads) == (0, 2)
    assert (await again.call("app")).body == b"newer"
    await again.library.rollback("app")
    assert (await again.call("app")).body == b"cached"


async def test_a_damaged_cache_file_is_recompiled_not_loaded(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await rig.deploy("app", version("intact"))
    (cached,) = (rig.home / "cache").glob("*.cwasm")
    raw = bytearray(cached.read_bytes())
    raw[-100] ^= 0xFF
    cached.write_bytes(bytes(raw))
    again = make_rig()
    await again.library.load()
    assert (again.engine.stats.cache_rejects, again.engine.stats.compiles) == (1, 1)
    assert (await again.call("app")).body == b"intact"


async def test_unloadable_stored_versions_are_listed_with_the_reason(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    info = await rig.deploy("app", version("lost"))
    await rig.namespace.delete(f"wasm/{info['sha256']}")
    again = make_rig()
    await again.library.load()
    assert again.library.get("app") is None
    (row,) = again.library.rows()
    assert row["slug"] == "app" and "missing from the store" in row["last_error"]
    await again.library.remove("app")
    assert again.library.rows() == []


async def test_stored_modules_are_kept_while_any_version_uses_them(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()

    def stored() -> set[str]:
        return {key.removeprefix("wasm/") for key, _ in rig.namespace.scan("wasm/")}

    await rig.deploy("app", version("one"))
    two = await rig.deploy("app", version("two"), version="2.0.0")
    three = await rig.deploy("app", version("three"), version="3.0.0")
    assert stored() == {two["sha256"], three["sha256"]}
    shared = await rig.deploy("twin", version("three"))
    await rig.library.remove("app")
    assert stored() == {shared["sha256"]} == {three["sha256"]}
    big = await rig.deploy("big", version("b" * 4096))
    again = make_rig(Policy(max_wasm=len(version("b" * 4096)) - 1))
    await again.library.load()
    assert "big" in again.library.failed
    await again.library.remove("twin")
    assert stored() == {big["sha256"]}
    await again.deploy("big", version("small"))
    assert stored() == {again.library.describe("big")["sha256"]}


async def test_interactive_sessions_tick_take_keys_and_return_changed_frames(rig: Rig) -> None:
    await rig.deploy("screen", SCREEN, kind="interactive")
    sessions = Sessions(rig.library.host, rig.kv, rig.library.limiter, most=1, idle=60)
    cartridge = rig.library.get("screen")
    assert cartridge is not None
    opened = await sessions.open(cartridge, 320, 240)
    assert (opened["width"], opened["height"]) == (4, 2)
    assert base64.b64decode(opened["frame"]) == bytes(32)
    ticked = await sessions.step(opened["session"], [(65, True), (66, False)])
    assert base64.b64decode(ticked["frame"]) == bytes([66, 67]) + bytes([1] * 30)
    unchanged = await sessions.step(opened["session"], [], tick=False)
    assert unchanged["frame"] is None  # nothing new to send
    with pytest.raises(SessionError, match="sessions are open already"):
        await sessions.open(cartridge, 320, 240)
    await rig.deploy("echo", version("e"))
    with pytest.raises(SessionError, match="not an interactive one"):
        await sessions.open(rig.library.get("echo"), 1, 1)  # type: ignore[arg-type]
    assert sessions.close(opened["session"]) and not sessions.close(opened["session"])
    with pytest.raises(SessionError, match="no open session"):
        await sessions.step(opened["session"], [])
    assert rig.library.describe("screen")["calls"] == 3


async def test_a_session_whose_cartridge_traps_is_closed(rig: Rig) -> None:
    stuck = guest(
        """  (func (export "x402_get_framebuffer") (result i32) (i32.const 0))
  (func (export "x402_get_width") (result i32) (i32.const 1))
  (func (export "x402_get_height") (result i32) (i32.const 1))
  (func (export "x402_tick") (loop $l (br $l)))
"""
    )
    await rig.deploy("stuck", stuck, kind="interactive", limits={"fuel": 10**10, "deadline_ms": 20})
    sessions = Sessions(rig.library.host, rig.kv, rig.library.limiter, most=2, idle=60)
    opened = await sessions.open(rig.library.get("stuck"), 8, 8)  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="stopped \\(deadline\\).*the session is closed"):
        await sessions.step(opened["session"], [])
    assert sessions.open_sessions == {}


async def test_idle_sessions_are_reaped(rig: Rig) -> None:
    await rig.deploy("screen", SCREEN, kind="interactive")
    sessions = Sessions(rig.library.host, rig.kv, rig.library.limiter, most=2, idle=0.05)
    await sessions.open(rig.library.get("screen"), 4, 2)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sessions.reap)
        with trio.fail_after(60):  # a hang guard, not a timing threshold
            while sessions.open_sessions:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
