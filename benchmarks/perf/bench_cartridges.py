"""Cartridges: the per-call cost of x402_handle against bare wasmtime-py and the ctypes floor, in the same run.

What it measures (ours and a baseline, taken in turns, with their ratio):

1. A `/c/hello`-style round trip in a fresh store: store with limits, instantiate, x402_init,
   x402_alloc, copy the request in, x402_handle, one `response` host call that copies the body out.
   Ours: `Host.run` (what a worker thread runs per request: request JSON, limits, fuel accounting,
   stats) and `Library.invoke` (plus the trio thread hop and the KV commit check). Baselines: the
   same export driven through wasmtime-py's public API (`Linker.define_func`, `Instance.exports`,
   `Func.__call__`, `Memory.write/read`), and the floor: the same steps through raw ctypes calls
   into the C API with a raw host callback, nothing else.
2. Instantiation alone: `Store` + limits + `InstancePre.instantiate`, against `Linker.instantiate`.
3. Deploy to serving (a hot swap): `Library.deploy` of a new version, from the call until new
   requests get it (`swap_ms`) and until it is durably saved (`ms`); once compiling, once with the
   module already compiled. Baseline: `wasmtime.Module()` plus `instantiate_pre`, the least any
   deploy must do.
4. Requests per second on `/c/hello` over real HTTP through the gateway, sequential and with 8
   clients, against a Python route of the same node returning the same JSON.
5. Frames per second of a 320x240 interactive cartridge through `cartridges.session.tick` over
   the control socket (what the TUI calls per frame), against `node.status` round trips.
6. Framebuffer frames per second rendered in the TUI, headless (`tui_framebuffer_fps`): the
   runner's renderer and its whole loop, against naive renderers.

Defaults finish in well under a minute; `--rounds` and `--requests` make it longer.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import tempfile
import threading
from collections.abc import Callable
from ctypes import POINTER, byref
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
import trio
import wasmtime
from wasmtime import _ffi as ffi

from _common import Table, parse_args, percentiles, progress, ratio, report, time_interleaved, timed_loop
from colony.core.store import Store
from colony.plugins.cartridges.abi import Policy, encode_request
from colony.plugins.cartridges.engine import Engine
from colony.plugins.cartridges.kv import KV, Quota
from colony.plugins.cartridges.library import Library
from colony.plugins.cartridges.manifest import parse
from colony.testing import RunningNode

HELLO_BODY = b'{"message":"hello, world"}'
HELLO = wasmtime.wat2wasm(
    """(module
  (import "x402" "response" (func $response (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\\"message\\":\\"hello, world\\"}")
  (global $bump (mut i32) (i32.const 1024))
  (func (export "x402_alloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $bump)) (global.set $bump (i32.add (global.get $bump) (local.get $n))) (local.get $p))
  (func (export "x402_init") (result i32) (i32.const 0))
  (func (export "x402_handle") (param i32 i32)
    (call $response (i32.const 200) (i32.const 16) (i32.const 26) (i32.const 0) (i32.const 0))))"""
)
# 320x240 RGBA: every tick writes every pixel (a moving gradient).
SCREEN = wasmtime.wat2wasm(
    """(module
  (memory (export "memory") 6)
  (global $t (mut i32) (i32.const 0))
  (func (export "x402_get_width") (result i32) (i32.const 320))
  (func (export "x402_get_height") (result i32) (i32.const 240))
  (func (export "x402_get_framebuffer") (result i32) (i32.const 65536))
  (func (export "x402_tick") (local $i i32)
    (global.set $t (i32.add (global.get $t) (i32.const 1)))
    (loop $px
      (i32.store (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2))) (i32.or (i32.add (local.get $i) (global.get $t)) (i32.const 0xff000000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $px (i32.lt_u (local.get $i) (i32.const 76800))))))"""
)
HELLO_MANIFEST = {"slug": "hello", "version": "1.0.0", "limits": {"deadline_ms": 1000}}
REQUEST = encode_request("GET", "/", "", {"host": "127.0.0.1", "user-agent": "bench"}, None)
ROUNDS = 5
REQUESTS = 1500
CLIENTS = 8

DROPIN = f'''"""benchhello: the Python route /c/hello is compared with."""
from colony.core import Manifest, Response

PLUGIN = Manifest(name="benchhello", version="0.1.0")


def colony_register(registrar):
    registrar.route("GET", "/py/hello", lambda request: Response({HELLO_BODY!r}, 200, {{}}, "application/json"))
'''


# -- baselines -----------------------------------------------------------------------------


def config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    return cfg


def store_for(engine: wasmtime.Engine) -> wasmtime.Store:
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=64 << 20, instances=1, tables=4, memories=1)
    store.set_fuel(200_000_000)
    store.set_epoch_deadline(100)  # one second, as the deployed hello's: a busy machine must not turn a pause into a trap
    return store


def highlevel_round_trip(engine: wasmtime.Engine) -> Callable[[int], Any]:
    """The round trip through wasmtime-py's public API."""
    linker = wasmtime.Linker(engine)
    seen: list[bytes] = []

    def response(caller: wasmtime.Caller, status: int, ptr: int, length: int, ct: int, ct_len: int) -> None:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        seen.append(bytes(memory.read(caller, ptr, ptr + length)))

    i32 = wasmtime.ValType.i32()
    linker.define_func("x402", "response", wasmtime.FuncType([i32] * 5, []), response, access_caller=True)
    pre = linker.instantiate_pre(wasmtime.Module(engine, HELLO))

    def call(_: int) -> None:
        store = store_for(engine)
        exports = pre.instantiate(store).exports(store)
        exports["x402_init"](store)  # type: ignore[operator]
        ptr = exports["x402_alloc"](store, len(REQUEST))  # type: ignore[operator]
        exports["memory"].write(store, REQUEST, ptr)  # type: ignore[union-attr]
        exports["x402_handle"](store, ptr, len(REQUEST))  # type: ignore[operator]
        assert seen.pop() == HELLO_BODY

    return call


def ctypes_round_trip(engine: wasmtime.Engine) -> Callable[[int], Any]:
    """The floor: the same steps as raw C API calls, with a raw host callback."""
    linker = wasmtime.Linker(engine)
    current: dict[str, Any] = {}

    @ffi.wasmtime_func_unchecked_callback_t
    def response(env: Any, caller: Any, args: Any, n: int) -> int:
        ctx = ffi.wasmtime_caller_context(caller)
        base = ctypes.cast(ffi.wasmtime_memory_data(ctx, byref(current["memory"])), ctypes.c_void_p).value or 0
        current["body"] = ctypes.string_at(base + args[1].i32, args[2].i32)
        return 0

    i32 = wasmtime.ValType.i32()
    ty = wasmtime.FuncType([i32] * 5, [])
    no_finalizer = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
    assert not ffi.wasmtime_linker_define_func_unchecked(linker.ptr(), b"x402", 4, b"response", 8, ty.ptr(), response, None, no_finalizer)
    pre = linker.instantiate_pre(wasmtime.Module(engine, HELLO))

    def export(ctx: Any, instance: wasmtime.Instance, name: bytes) -> Any:
        item = ffi.wasmtime_extern_t()
        assert ffi.wasmtime_instance_export_get(ctx, byref(instance._instance), name, len(name), byref(item))
        return item.of

    def invoke(ctx: Any, func: Any, args: tuple[int, ...], results: int) -> int:
        params = (ffi.wasmtime_val_t * len(args))()
        for i, value in enumerate(args):
            params[i].kind, params[i].of.i32 = ffi.WASMTIME_I32.value, value
        out = (ffi.wasmtime_val_t * results)()
        trap = POINTER(ffi.wasm_trap_t)()
        assert not ffi.wasmtime_func_call(ctx, byref(func), params, len(args), out, results, byref(trap)) and not trap
        return int(out[0].of.i32) if results else 0

    def call(_: int) -> None:
        store = store_for(engine)
        instance = pre.instantiate(store)
        ctx = store._context()
        current["memory"] = export(ctx, instance, b"memory").memory
        invoke(ctx, export(ctx, instance, b"x402_init").func, (), 1)
        ptr = invoke(ctx, export(ctx, instance, b"x402_alloc").func, (len(REQUEST),), 1)
        base = ctypes.cast(ffi.wasmtime_memory_data(ctx, byref(current["memory"])), ctypes.c_void_p).value or 0
        ctypes.memmove(base + ptr, REQUEST, len(REQUEST))
        invoke(ctx, export(ctx, instance, b"x402_handle").func, (ptr, len(REQUEST)), 0)
        assert current.pop("body") == HELLO_BODY

    call.keep = response  # type: ignore[attr-defined]  # the callback must outlive the linker
    return call


# -- 1-3: in process ---------------------------------------------------------------------


class Rig:
    """A library over a temporary store, as the plugin builds it."""

    def __init__(self, folder: Path) -> None:
        self.store = Store(folder / "state.lmdb")
        namespace = self.store.namespace("cartridges")
        self.engine = Engine(folder / "cache")
        self.kv = KV(namespace, Quota())
        self.library = Library(namespace, self.engine, Policy(), self.kv, trio.CapacityLimiter(2), 200, lambda topic, data: None)

    def close(self) -> None:
        self.engine.close()
        self.store.close()


def per_call_table(rig: Rig, rounds: int) -> tuple[Table, Table]:
    """Round trips (table 1) and instantiation alone (table 2)."""
    engine = rig.engine.wasmtime
    cartridge = rig.library.get("hello")
    assert cartridge is not None

    def ours(_: int) -> None:
        assert rig.library.host.run(cartridge, REQUEST, rig.kv.view("hello")).body == HELLO_BODY

    async def invoke_loop(n: int) -> float:
        start = perf_counter()
        for _ in range(n):
            await rig.library.invoke(cartridge, REQUEST)
        return perf_counter() - start

    best = time_interleaved(
        {"ours": timed_loop(ours), "high": timed_loop(highlevel_round_trip(engine)), "floor": timed_loop(ctypes_round_trip(engine))}, rounds
    )
    invoke = min(trio.run(invoke_loop, 2000) / 2000 for _ in range(rounds))
    trips = Table(
        "1. x402_handle round trip in a fresh store (µs per call; ratio = ours / ctypes floor)",
        {"what": "what", "us": "µs", "vs_floor": "x floor", "vs_high": "x wasmtime-py"},
        [
            {"what": "ours: Host.run (a worker thread's whole request)", "us": best["ours"] * 1e6, "vs_floor": ratio(best["ours"], best["floor"]), "vs_high": ratio(best["ours"], best["high"])},
            {"what": "ours: Library.invoke (+ trio thread hop, KV check)", "us": invoke * 1e6, "vs_floor": ratio(invoke, best["floor"]), "vs_high": ratio(invoke, best["high"])},
            {"what": "baseline: wasmtime-py public API (Func.__call__)", "us": best["high"] * 1e6, "vs_floor": ratio(best["high"], best["floor"]), "vs_high": 1.0},
            {"what": "floor: raw ctypes into the C API", "us": best["floor"] * 1e6, "vs_floor": 1.0, "vs_high": ratio(best["floor"], best["high"])},
        ],
        ["every row creates a store with limits, instantiates, runs x402_init, x402_alloc, copies the request in, runs x402_handle and copies the body out"],
    )
    pre, module, linker = cartridge.pre, wasmtime.Module(engine, HELLO), rig.library.host.linker
    inst = time_interleaved(
        {
            "store": timed_loop(lambda _: store_for(engine)),
            "pre": timed_loop(lambda _: pre.instantiate(store_for(engine))),
            "linker": timed_loop(lambda _: linker.instantiate(store_for(engine), module)),
        },
        rounds,
    )
    instantiation = Table(
        "2. instantiation (µs)",
        {"what": "what", "us": "µs", "vs": "x linker.instantiate"},
        [
            {"what": "Store + limits + fuel + deadline", "us": inst["store"] * 1e6, "vs": ratio(inst["store"], inst["linker"])},
            {"what": "ours: Store + InstancePre.instantiate", "us": inst["pre"] * 1e6, "vs": ratio(inst["pre"], inst["linker"])},
            {"what": "baseline: Store + Linker.instantiate", "us": inst["linker"] * 1e6, "vs": 1.0},
        ],
    )
    return trips, instantiation


def variant(n: int) -> bytes:
    """HELLO with a different body each time, so every deploy is a new module."""
    return HELLO.replace(b"hello, world", f"hello {n:06d}".encode())


async def deploy_table(rig: Rig, rounds: int) -> Table:
    """Deploy to serving, compiling and cached, against compile + instantiate_pre."""
    manifest = parse(HELLO_MANIFEST)
    fresh, cached, floor = [], [], []
    for n in range(rounds * 4):
        wasm = variant(n)
        info = await rig.library.deploy(manifest, wasm)
        fresh.append((info["swap_ms"], info["ms"]))
        again = await rig.library.deploy(manifest, wasm)  # the module is compiled already: a pure swap
        cached.append((again["swap_ms"], again["ms"]))
        start = perf_counter()
        rig.library.host.linker.instantiate_pre(wasmtime.Module(rig.engine.wasmtime, variant(10_000 + n)))
        floor.append((perf_counter() - start) * 1000)
    base = percentiles(floor)["p50"]

    def row(what: str, samples: list[tuple[float, float]]) -> dict[str, Any]:
        swap, total = percentiles([s for s, _ in samples])["p50"], percentiles([t for _, t in samples])["p50"]
        return {"what": what, "swap": swap, "saved": total, "vs": ratio(swap, base)}

    return Table(
        "3. deploy to serving, p50 ms (ratio = serving / compile + instantiate_pre; the issue's target: a hot swap under 5 ms)",
        {"what": "what", "swap": "serving", "saved": "saved", "vs": "x floor"},
        [
            row("ours: Library.deploy of a new module (compile, check, x402_init, swap)", fresh),
            row("ours: Library.deploy of a compiled module (hot swap)", cached),
            {"what": "floor: wasmtime.Module() + instantiate_pre", "swap": base, "saved": base, "vs": 1.0},
        ],
        ["serving: from the call until new requests get the new version; saved: until the store has it on disk (one fsync)"],
    )


# -- 4-5: a node ---------------------------------------------------------------------------


def http_rate(base: str, path: str, n: int, clients: int) -> float:
    """Requests per second of GET `path` from `clients` threads, each with its own connection."""
    per = n // clients

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(per):
                assert http.get(path).content == HELLO_BODY

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per * clients / (perf_counter() - start)


def node_tables(folder: Path, requests: int, rounds: int) -> list[Table]:
    home = folder / "node"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "benchhello.py").write_text(DROPIN)
    config = {"plugin": {"identity": {"kdf": "pbkdf2", "kdf_iterations": 1000}, "gateway": {"port": 0}}}
    with RunningNode(home, plugins=("chain", "identity", "gateway", "cartridges", "benchhello"), config=config) as node:
        node.call("cartridges.deploy", wasm=base64.b64encode(HELLO).decode(), manifest=HELLO_MANIFEST)
        node.call("cartridges.deploy", wasm=base64.b64encode(SCREEN).decode(), manifest={"slug": "screen", "kind": "interactive", "version": "1.0.0"})
        url = node.call("gateway.info")["listening"][0]
        rates: dict[str, float] = {}
        for clients in (1, CLIENTS):
            for path in ("/c/hello", "/py/hello"):
                http_rate(url, path, 100, clients)  # warm up
                rates[f"{path}:{clients}"] = max(http_rate(url, path, requests, clients) for _ in range(rounds))
        http = Table(
            "4. requests per second over HTTP through the gateway (ratio = /c/hello / Python route)",
            {"what": "what", "seq": "1 client", "conc": f"{CLIENTS} clients", "ratio": f"ratio ({CLIENTS})"},
            [
                {"what": "ours: GET /c/hello (a WAT cartridge)", "seq": rates["/c/hello:1"], "conc": rates[f"/c/hello:{CLIENTS}"], "ratio": ratio(rates[f"/c/hello:{CLIENTS}"], rates[f"/py/hello:{CLIENTS}"])},
                {"what": "baseline: GET /py/hello (a Python route, same JSON)", "seq": rates["/py/hello:1"], "conc": rates[f"/py/hello:{CLIENTS}"], "ratio": 1.0},
            ],
            ["client threads and the node share this process and its GIL"],
        )
        opened = node.call("cartridges.session.open", slug="screen")
        session = opened["session"]
        ticks = time_interleaved(
            {
                "tick": timed_loop(lambda _: node.call("cartridges.session.tick", session_id=session)),
                "status": timed_loop(lambda _: node.call("node.status")),
            },
            rounds,
            min_time=0.2,
        )
        node.call("cartridges.session.close", session_id=session)
        frame = len(json.dumps(node.call("cartridges.session.open", slug="screen")))
        fps = Table(
            "5. 320x240 frames through cartridges.session.tick over the control socket",
            {"what": "what", "per_s": "per second", "ms": "ms each", "vs": "x node.status"},
            [
                {"what": "ours: session.tick (tick + 300 KiB frame as base64 JSON)", "per_s": 1 / ticks["tick"], "ms": ticks["tick"] * 1000, "vs": ratio(ticks["tick"], ticks["status"])},
                {"what": "baseline: node.status round trip", "per_s": 1 / ticks["status"], "ms": ticks["status"] * 1000, "vs": 1.0},
            ],
            [f"one reply carries {frame:,} bytes of JSON; 60 fps needs 16.7 ms or less per frame"],
        )
        tables = [http, fps]
        rendered = tui_framebuffer_fps(node)
        if rendered is not None:
            tables.append(rendered)
        return tables


def tui_framebuffer_fps(node: RunningNode) -> Table | None:
    """Framebuffer frames per second rendered in the TUI (headless), for the `screen` cartridge of `node` and a two-colour one.

    Ours: the runner's renderer (`HalfBlocks.lines`: `▀` cells in true colour, one cached segment per
    colour pair, runs merged) on 320x240 frames, at full size and shrunk to a 160x48 terminal.
    Baselines: the same cells made naively, with a new `Style` per cell, as bare segments and as one
    Rich `Text` per line. Then the whole loop with each renderer: `ColonyApp` headless on the runner
    screen (session ticks at up to 60 per second, base64 decoding, Textual's compositor drawing).
    """
    import asyncio
    import base64
    import os

    os.environ.setdefault("COLORTERM", "truecolor")  # as in a true-colour terminal, so Textual does not downgrade colours
    from rich.color import Color
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from rich.text import Text
    from textual.strip import Strip

    from colony.tui.app import ColonyApp, unix_opener
    from colony.tui.framebuffer import HALF, FrameView, HalfBlocks, fit
    from colony.tui.runner import RunnerScreen

    console = Console(color_system="truecolor", width=400)
    # A second cartridge, 320x240 in life's two colours: diagonal stripes 32 pixels wide that move one step per tick.
    stripes = wasmtime.wat2wasm(
        """(module
      (memory (export "memory") 6)
      (global $t (mut i32) (i32.const 0))
      (func (export "x402_get_width") (result i32) (i32.const 320))
      (func (export "x402_get_height") (result i32) (i32.const 240))
      (func (export "x402_get_framebuffer") (result i32) (i32.const 65536))
      (func (export "x402_tick") (local $x i32) (local $y i32) (local $p i32)
        (global.set $t (i32.add (global.get $t) (i32.const 1)))
        (local.set $p (i32.const 65536))
        (loop $rows
          (local.set $x (i32.const 0))
          (loop $cols
            (i32.store (local.get $p) (select (i32.const 0xff7fe0ff) (i32.const 0xff201010)
              (i32.and (i32.add (i32.add (i32.shr_u (local.get $x) (i32.const 3)) (i32.shr_u (local.get $y) (i32.const 3))) (global.get $t)) (i32.const 4))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br_if $cols (i32.lt_u (local.get $x) (i32.const 320))))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br_if $rows (i32.lt_u (local.get $y) (i32.const 240))))))"""
    )

    def naive_cells(frame: bytes, width: int, height: int, cols: int, rows: int) -> list[list[Style]]:
        """Each cell's style, made afresh from its two pixels (the same nearest-pixel shrinking as ours)."""
        out_width, out_height, step = fit(width, height, cols, rows)
        lines = []
        for y in range(0, out_height - 1, 2):
            line = []
            for x in range(out_width):
                top = (int(y * step) * width + int(x * step)) * 4
                bottom = (int((y + 1) * step) * width + int(x * step)) * 4
                line.append(Style(color=Color.from_rgb(*frame[top : top + 3]), bgcolor=Color.from_rgb(*frame[bottom : bottom + 3])))
            lines.append(line)
        return lines

    class Segments:
        """One segment per cell."""

        def lines(self, frame: bytes, width: int, height: int, cols: int, rows: int) -> list[Strip]:
            return [Strip([Segment(HALF, style) for style in line]) for line in naive_cells(frame, width, height, cols, rows)]

    class RichText:
        """One Rich Text per line, one span per cell."""

        def lines(self, frame: bytes, width: int, height: int, cols: int, rows: int) -> list[Strip]:
            strips = []
            for line in naive_cells(frame, width, height, cols, rows):
                text = Text()
                for style in line:
                    text.append(HALF, style)
                strips.append(Strip(text.render(console, end="")))
            return strips

    node.call("cartridges.deploy", wasm=base64.b64encode(stripes).decode(), manifest={"slug": "stripes", "kind": "interactive", "version": "1.0.0"})
    frames: dict[str, list[bytes]] = {}
    for slug in ("screen", "stripes"):
        session = node.call("cartridges.session.open", slug=slug)["session"]
        frames[slug] = [base64.b64decode(node.call("cartridges.session.tick", session_id=session)["frame"]) for _ in range(8)]
        node.call("cartridges.session.close", session_id=session)
    renderers = {"ours": HalfBlocks, "cells": Segments, "text": RichText}
    kinds = {"screen": "gradient, every pixel its own colour", "stripes": "two colours in moving stripes"}
    rows = []
    for slug, kind in kinds.items():
        for cols, lines in ((320, 120), (160, 48)):
            made = {name: make() for name, make in renderers.items()}
            best = time_interleaved(
                {name: timed_loop(lambda i, r=r: r.lines(frames[slug][i % 8], 320, 240, cols, lines)) for name, r in made.items()}, 3, min_time=0.3
            )
            rows.append({"what": f"renderer: {kind}, into {cols}x{lines} cells", **{name: 1 / best[name] for name in renderers}})

    async def run(slug: str, blocks: Any, window: float = 2.5) -> float:
        """Frames drawn per second by the runner screen in a headless 160x50 ColonyApp."""
        app = ColonyApp(unix_opener(node.socket))
        async with app.run_test(size=(160, 50)) as pilot:
            while app.conn_state != "connected":
                await pilot.pause(0.05)
            runner = RunnerScreen(slug)
            await app.push_screen(runner)
            view = runner.query_one(FrameView)
            view.blocks = blocks
            while runner.ticks < 10 and not runner.problem:
                await pilot.pause(0.05)
            if runner.problem:
                raise RuntimeError(f"the {slug} session ended: {runner.problem}")
            drawn, start = view.frames_drawn, perf_counter()
            await asyncio.sleep(window)
            return (view.frames_drawn - drawn) / (perf_counter() - start)

    for slug, kind in kinds.items():
        drawn = dict.fromkeys(renderers, 0.0)
        for _ in range(2):  # the best of two turns each, taken in turns
            for name, make in renderers.items():
                drawn[name] = max(drawn[name], asyncio.run(run(slug, make())))
        rows.append({"what": f"whole loop: {kind}, frames drawn", **drawn})
    for row in rows:
        row.update(x_cells=ratio(row["ours"], row["cells"]), x_text=ratio(row["ours"], row["text"]))
    return Table(
        "6. 320x240 framebuffer frames per second rendered in the TUI, headless (ratios = ours / naive)",
        {"what": "what", "ours": "ours", "cells": "Style per cell", "text": "Rich Text", "x_cells": "x Style per cell", "x_text": "x Rich Text"},
        rows,
        [
            "renderer: an RGBA frame to Textual strips; the gradient has 38,400 colour pairs per frame at full size, the worst case for our caches",
            "whole loop: the runner screen in a headless ColonyApp, 160x50: session.tick over the control socket, base64 decoding, our renderer, Textual's compositor; at most 60 ticks per second",
        ],
    )


# -- main ----------------------------------------------------------------------------------


def extra_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="turns each figure takes (default %(default)s)")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="HTTP requests per rate figure (default %(default)s)")


async def in_process(folder: Path, rounds: int) -> list[Table]:
    rig = Rig(folder)
    try:
        await rig.library.deploy(parse(HELLO_MANIFEST), HELLO)
        progress("per call and instantiation")
        trips, instantiation = await trio.to_thread.run_sync(per_call_table, rig, rounds)
        progress("deploy to serving")
        return [trips, instantiation, await deploy_table(rig, rounds)]
    finally:
        rig.close()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], extra_args)
    with tempfile.TemporaryDirectory(prefix="bench-cartridges-") as folder:
        tables = trio.run(in_process, Path(folder), args.rounds)
        progress("HTTP and session ticks on a node")
        tables += node_tables(Path(folder), args.requests, args.rounds)
    report("bench_cartridges", tables, args.json)


if __name__ == "__main__":
    main()
