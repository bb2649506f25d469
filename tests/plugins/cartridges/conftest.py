"""WAT guests for the cartridge tests, and a rig: a real LMDB store, engine and library, without a node."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import wasmtime

from colony.core.store import Store
from colony.plugins.cartridges.abi import Outcome, Policy, encode_request, to_json
from colony.plugins.cartridges.engine import Engine
from colony.plugins.cartridges.kv import KV, Quota
from colony.plugins.cartridges.library import Library
from colony.plugins.cartridges.manifest import parse
from colony.testing import RunningNode
from tests.plugins.conftest import FAST_KEYS

# Every guest imports the whole ABI (module x402), exports memory and a bump allocator, and has
# helpers: $ptr/$len unpack a packed i64; $str(offset) gives the length of a NUL-terminated string.
PRELUDE = """
  (import "{mod}" "{p}log" (func $log (param i32 i32 i32)))
  (import "{mod}" "{p}kv_get" (func $kv_get (param i32 i32) (result i64)))
  (import "{mod}" "{p}kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "{mod}" "{p}payment_info" (func $payment_info (result i64)))
  (import "{mod}" "{p}response" (func $response (param i32 i32 i32 i32 i32)))
  (import "{mod}" "{p}call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") {pages})
  (global $bump (mut i32) (i32.const 65536))
  (func $alloc {export} (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func $ptr (param i64) (result i32) local.get 0 i64.const 32 i64.shr_u i32.wrap_i64)
  (func $len (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func $str (param $at i32) (result i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $at) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    local.get $n)
  (func $reply (param $status i32) (param $ptr i32) (param $len i32)
    (call $response (local.get $status) (local.get $ptr) (local.get $len) (i32.const 0) (i32.const 0)))
"""


def guest(body: str, data: dict[int, str] | None = None, pages: int = 2, env: bool = False, alloc: bool = True, imports: str = "") -> bytes:
    """A guest module: `imports`, the prelude, NUL-terminated strings at fixed offsets, and `body` (functions and exports).

    `env` imports the legacy `env.x402_*` names; `alloc=False` leaves x402_alloc unexported.
    """
    segments = "".join(f'  (data (i32.const {at}) "{text}\\00")\n' for at, text in (data or {}).items())
    export = '(export "x402_alloc")' if alloc else ""
    prelude = PRELUDE.format(mod="env" if env else "x402", p="x402_" if env else "", pages=pages, export=export)
    return wasmtime.wat2wasm(f"(module\n{imports}{prelude}{segments}{body})")


def handler(instructions: str, data: dict[int, str] | None = None, **kwargs: Any) -> bytes:
    """A guest whose x402_handle(req, len) runs `instructions` (locals $req, $n and $v (i64) are there)."""
    body = f"""  (func (export "x402_handle") (param $req i32) (param $n i32) (local $v i64)
{instructions})
"""
    return guest(body, data, **kwargs)


ECHO = handler("(call $response (i32.const 200) (local.get $req) (local.get $n) (i32.const 16) (call $str (i32.const 16)))", {16: "text/plain"})


def manifest(slug: str, kind: str = "backend", **extra: Any) -> dict[str, Any]:
    """A manifest dict for `slug`."""
    return {"slug": slug, "kind": kind, "version": extra.pop("version", "1.0.0"), "lang": "wat", **extra}


def b64(wasm: bytes) -> str:
    return base64.b64encode(wasm).decode()


class Rig:
    """A library over a real store and engine: deploy guests and call them as the plugin does."""

    def __init__(self, home: Path, store: Store, policy: Policy, quota: Quota) -> None:
        self.home = home
        self.store = store
        self.namespace = store.namespace("cartridges")
        self.engine = Engine(home / "cache")
        self.kv = KV(self.namespace, quota)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.library = Library(self.namespace, self.engine, policy, self.kv, trio.CapacityLimiter(2), 200, lambda topic, data: self.events.append((topic, data)))

    async def deploy(self, slug: str, wasm: bytes, kind: str = "backend", **extra: Any) -> dict[str, Any]:
        return await self.library.deploy(parse(manifest(slug, kind, **extra)), wasm)

    async def call(self, slug: str, method: str = "GET", path: str = "/", body: str = "", payment: dict[str, Any] | None = None) -> Outcome:
        cartridge = self.library.get(slug)
        assert cartridge is not None, f"{slug} is not deployed"
        raw = encode_request(method, path, body, {}, payment)
        return await self.library.invoke(cartridge, raw, to_json(payment))

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Rig]]:
    """Rigs over one store and home: `make_rig(policy=..., quota=...)`; a second one is the same node restarted."""
    store = Store(tmp_path / "state.lmdb")
    made: list[Rig] = []

    def make(policy: Policy | None = None, quota: Quota | None = None) -> Rig:
        made.append(Rig(tmp_path, store, policy or Policy(), quota or Quota()))
        return made[-1]

    try:
        yield make
    finally:
        for each in made:
            each.close()
        store.close()


@pytest.fixture
async def rig(make_rig: Callable[..., Rig]) -> Rig:
    """A rig with the default limits."""
    return make_rig()


@pytest.fixture(scope="module")
def gateway_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A real node serving cartridges through its gateway (on a free port) on the in-process chain; one per module."""
    config = {"plugin": {"identity": dict(FAST_KEYS), "gateway": {"port": 0}}}
    with RunningNode(tmp_path_factory.mktemp("cartridges"), plugins=("chain", "identity", "gateway", "cartridges"), config=config) as node:
        states = {row["name"]: (row["state"], row["reason"]) for row in node.call("plugins.list")}
        assert all(states[name][0] == "running" for name in ("chain", "identity", "gateway", "cartridges")), states
        yield node


def deploy(node: RunningNode, slug: str, wasm: bytes, kind: str = "backend", **extra: Any) -> dict[str, Any]:
    """Deploy over RPC, as `colony cartridge deploy` does."""
    return node.call("cartridges.deploy", wasm=b64(wasm), manifest=manifest(slug, kind, **extra))  # type: ignore[no-any-return]
