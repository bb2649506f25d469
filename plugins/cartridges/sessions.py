"""The interactive runtime: a long-lived instance per session, ticked by a client (the TUI) at up to 60 fps."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import trio
import wasmtime

from . import native
from .abi import Cartridge, Host, Invocation, Outcome, read_frame, start_frame
from .engine import elapsed_ms
from .kv import KV, View
from .native import I32, GuestFault


class SessionError(Exception):
    """A session cannot be opened or used: unknown, closed, or its cartridge trapped."""


class Session:
    """A live instance of an interactive cartridge; use it from one thread at a time (its lock sees to that)."""

    def __init__(self, host: Host, cartridge: Cartridge, view: View, width: int, height: int) -> None:
        self.id = secrets.token_hex(8)
        self.host = host
        self.cartridge = cartridge
        self.lock = trio.Lock()
        self.used = time.monotonic()
        self.last: bytes | None = None
        self.store = host.engine.store(cartridge.limits)
        self.inv = Invocation(cartridge, view, b"null", 0, Outcome(cartridge.slug))
        host.enter(self.inv)
        try:
            self.ctx, self.instance = host.instantiate(self.store, self.inv)
            self.width, self.height = start_frame(self.ctx, self.instance, self.inv, width, height)
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestFault) as exc:
            host.fail(self.inv, exc)
            raise SessionError(f"{cartridge.slug} did not start: {self.inv.outcome.error}") from None
        finally:
            host.leave()
        self.funcs = {name: native.export(self.ctx, self.instance, name, "func") for name in ("x402_tick", "x402_key_down", "x402_key_up")}

    def step(self, view: View, keys: list[tuple[int, bool]], tick: bool) -> tuple[Outcome, bytes | None]:
        """Deliver key events, run one `x402_tick` if asked, and read the frame; blocking."""
        outcome = Outcome(self.cartridge.slug)
        self.inv.kv, self.inv.outcome, self.inv.cause = view, outcome, None
        self.host.engine.arm(self.store, self.cartridge.limits)
        start, frame = time.perf_counter(), None
        self.host.enter(self.inv)
        try:
            for code, down in keys:
                handler = self.funcs["x402_key_down" if down else "x402_key_up"]
                if handler is not None:
                    native.call(self.ctx, handler, (code,), (I32,), None)
            if tick:
                ticks = self.funcs["x402_tick"]
                native.call(self.ctx, ticks, (), (), I32 if self.cartridge.exports["x402_tick"][1] else None)
            frame = read_frame(self.ctx, self.instance, self.inv, self.width, self.height)
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestFault) as exc:
            self.host.fail(self.inv, exc)
        finally:
            self.host.leave()
            outcome.fuel = self.cartridge.limits.fuel - self.store.get_fuel()
            outcome.ms = elapsed_ms(start)
        self.host.report(outcome)
        return outcome, frame


class Sessions:
    """The open sessions, reaped when idle; each call runs in a worker thread under the session's lock."""

    def __init__(self, host: Host, kv: KV, limiter: trio.CapacityLimiter, most: int, idle: float) -> None:
        self.host = host
        self.kv = kv
        self.limiter = limiter
        self.most = most
        self.idle = idle
        self.open_sessions: dict[str, Session] = {}

    async def open(self, cartridge: Cartridge, width: int, height: int) -> dict[str, Any]:
        """Start a session of an interactive cartridge and return its first frame."""
        if cartridge.manifest.kind != "interactive":
            raise SessionError(f"{cartridge.slug} is a {cartridge.manifest.kind} cartridge, not an interactive one")
        if len(self.open_sessions) >= self.most:
            raise SessionError(f"{self.most} sessions are open already; close one first")
        view = self.kv.view(cartridge.slug)
        session = await trio.to_thread.run_sync(Session, self.host, cartridge, view, width, height, limiter=self.limiter)
        await self.kv.commit(view, force=True)
        self.open_sessions[session.id] = session
        return await self.step(session.id, [], tick=False)

    async def step(self, session_id: str, keys: list[tuple[int, bool]], tick: bool = True) -> dict[str, Any]:
        """Send keys, tick once, and return the frame (null when it did not change since the last one sent)."""
        session = self.open_sessions.get(session_id)
        if session is None:
            raise SessionError(f"no open session {session_id!r}")
        async with session.lock:
            session.used = time.monotonic()
            view = self.kv.view(session.cartridge.slug)
            outcome, frame = await trio.to_thread.run_sync(session.step, view, keys, tick, limiter=self.limiter)
            if not outcome.ok:
                self.open_sessions.pop(session_id, None)
                raise SessionError(f"{session.cartridge.slug} stopped ({outcome.kind}): {outcome.error}; the session is closed")
            await self.kv.commit(view, force=True)
            changed = frame != session.last
            session.last = frame
        return {
            "session": session.id,
            "slug": session.cartridge.slug,
            "version": session.cartridge.manifest.version,
            "width": session.width,
            "height": session.height,
            "frame": base64.b64encode(frame).decode() if changed and frame is not None else None,
            "fuel": outcome.fuel,
            "ms": outcome.ms,
        }

    def close(self, session_id: str) -> bool:
        """Close a session; False when there was none."""
        return self.open_sessions.pop(session_id, None) is not None

    def close_slug(self, slug: str) -> None:
        """Close every session of a removed cartridge."""
        for session_id in [s.id for s in self.open_sessions.values() if s.cartridge.slug == slug]:
            self.close(session_id)

    async def reap(self) -> None:
        """Close sessions nobody has used for `idle` seconds, forever."""
        while True:
            await trio.sleep(max(self.idle / 4, 0.05))
            now = time.monotonic()
            for session in list(self.open_sessions.values()):
                if now - session.used > self.idle and not session.lock.locked():
                    self.close(session.id)
