"""The control server: JSON-RPC 2.0 lines over a 0600 Unix socket (and optionally token-guarded TCP)."""

from __future__ import annotations

import errno
import inspect
import itertools
import logging
import os
import socket as stdsocket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from . import rpc
from .events import Notice, Subscription
from .paths import MAX_SOCKET_PATH, ensure_private_dir
from .rpc import RPCError

if TYPE_CHECKING:
    from .context import Registration
    from .kernel import Kernel

log = logging.getLogger("colony.control")
_session_ids = itertools.count(1)
PUBLIC_METHODS = {"rpc.hello"}  # callable before a TCP client has authenticated


@dataclass(eq=False)
class Session:
    """One connected client."""

    stream: trio.abc.Stream
    transport: str
    authenticated: bool
    id: int = field(default_factory=lambda: next(_session_ids))
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    nursery: trio.Nursery | None = None
    _send_lock: trio.Lock = field(default_factory=trio.Lock)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one message; a vanished client is not an error."""
        data = rpc.encode(message)
        async with self._send_lock:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    def close_subscriptions(self) -> None:
        """End every event subscription of this session."""
        for sub in self.subscriptions.values():
            sub.close()
        self.subscriptions.clear()


class ControlServer:
    """Serves the kernel's and the plugins' RPC methods to any number of clients."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.max_line: int = kernel.config["control.max_line"]
        self.max_connections: int = kernel.config["control.max_connections"]
        self.max_inflight: int = kernel.config["control.max_inflight"]
        self.connections = 0
        self.requests = 0
        self.errors = 0
        self._methods: dict[int, tuple[Registration, rpc.Method]] = {}

    # -- listeners ---------------------------------------------------------------------

    async def serve_unix(self, path: Path, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on a Unix socket that only this user can open."""
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise OSError(errno.ENAMETOOLONG, f"control socket path is over {MAX_SOCKET_PATH} bytes: {path}")
        ensure_private_dir(path.parent)
        await self._clear_stale(path)
        sock = trio.socket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            await sock.bind(os.fspath(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(128)
        listener = trio.SocketListener(sock)
        try:
            task_status.started()
            await trio.serve_listeners(self._serve_unix_client, [listener])
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    async def serve_tcp(
        self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on TCP; clients must give the token in `rpc.hello` before anything else."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        task_status.started(bound)
        await trio.serve_listeners(self._serve_tcp_client, listeners)

    @staticmethod
    async def _clear_stale(path: Path) -> None:
        if not path.exists():
            return
        probe = trio.socket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
        try:
            await probe.connect(os.fspath(path))
        except OSError:
            path.unlink()  # left by a node that died
        else:
            raise OSError(errno.EADDRINUSE, f"another node is already serving {path}")
        finally:
            probe.close()

    async def _serve_unix_client(self, stream: trio.abc.Stream) -> None:
        await self.handle(stream, Session(stream, "unix", authenticated=True))

    async def _serve_tcp_client(self, stream: trio.abc.Stream) -> None:
        await self.handle(stream, Session(stream, "tcp", authenticated=False))

    # -- one connection ----------------------------------------------------------------

    async def handle(self, stream: trio.abc.Stream, session: Session) -> None:
        """Read requests off `stream` until it closes; never lets an error escape."""
        if self.connections >= self.max_connections:
            await session.send(rpc.error_response(None, RPCError(rpc.OVERLOADED, "too many connections")))
            await stream.aclose()
            return
        self.connections += 1
        inflight = trio.Semaphore(self.max_inflight)
        try:
            async with trio.open_nursery() as nursery:
                session.nursery = nursery
                try:
                    await self._read_loop(stream, session, nursery, inflight)
                    for _ in range(self.max_inflight):  # a half-closed client still gets its replies
                        await inflight.acquire()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass  # the client went away mid-stream (caught here, before the nursery wraps it in a group)
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self.connections -= 1
            session.close_subscriptions()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_loop(
        self, stream: trio.abc.Stream, session: Session, nursery: trio.Nursery, inflight: trio.Semaphore
    ) -> None:
        buffer = bytearray()
        discarding = False  # inside a line that was already refused as too long
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            start = len(buffer)
            buffer += chunk
            while True:
                end = buffer.find(b"\n", start)
                if end < 0:
                    if len(buffer) > self.max_line:
                        if not discarding:
                            await self._refuse_long_line(session)
                        discarding = True
                        buffer.clear()
                    break
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                start = 0
                if discarding:
                    discarding = False
                    continue
                if len(line) > self.max_line:
                    await self._refuse_long_line(session)
                    continue
                if line.strip():
                    await inflight.acquire()
                    nursery.start_soon(self._answer, line, session, inflight)

    async def _refuse_long_line(self, session: Session) -> None:
        self.errors += 1
        message = f"request line exceeds {self.max_line} bytes"
        await session.send(rpc.error_response(None, RPCError(rpc.INVALID_REQUEST, message)))

    async def _answer(self, line: bytes, session: Session, inflight: trio.Semaphore) -> None:
        try:
            reply = await self.process(line, session)
            if reply is not None:
                await session.send(reply)
        finally:
            inflight.release()

    async def process(self, line: bytes, session: Session) -> Any:
        """The reply to one request line (a response, a batch of them, or None)."""
        try:
            message = rpc.decode(line)
        except RPCError as exc:
            self.errors += 1
            return rpc.error_response(None, exc)
        if isinstance(message, list):
            if not message:
                return rpc.error_response(None, RPCError(rpc.INVALID_REQUEST, "empty batch"))
            replies = [reply for item in message if (reply := await self._request(item, session)) is not None]
            return replies or None
        return await self._request(message, session)

    async def _request(self, message: Any, session: Session) -> dict[str, Any] | None:
        self.requests += 1
        if not isinstance(message, dict):
            self.errors += 1
            return rpc.error_response(None, RPCError(rpc.INVALID_REQUEST, "a request must be a JSON object"))
        has_id = "id" in message
        id_ = message.get("id")
        if not rpc.valid_id(id_):
            self.errors += 1
            return rpc.error_response(None, RPCError(rpc.INVALID_REQUEST, "id must be a string, an integer or null"))
        try:
            if message.get("jsonrpc") != "2.0":
                raise RPCError(rpc.INVALID_REQUEST, 'jsonrpc must be "2.0"')
            name = message.get("method")
            if not isinstance(name, str):
                raise RPCError(rpc.INVALID_REQUEST, "method must be a string")
            result = await self.call(name, message.get("params"), session)
        except RPCError as exc:
            self.errors += 1
            return rpc.error_response(id_, exc) if has_id else None
        return rpc.response(id_, result) if has_id else None

    # -- methods -----------------------------------------------------------------------

    def method(self, name: str) -> rpc.Method | None:
        """The method registered under `name`, inspected once."""
        reg = self.kernel.registry.get("rpc", name)
        if reg is None:
            return None
        cached = self._methods.get(id(reg))
        if cached is None or cached[0] is not reg:
            cached = self._methods[id(reg)] = (reg, rpc.Method.build(name, reg.value, reg.owner, reg.meta["destructive"]))
        return cached[1]

    async def call(self, name: str, params: Any, session: Session) -> Any:
        """Check access and params, run the method and audit it when destructive."""
        if not session.authenticated and name not in PUBLIC_METHODS:
            raise RPCError(rpc.UNAUTHORIZED, "authenticate first: rpc.hello with the node's token")
        method = self.method(name)
        if method is None:
            raise RPCError(rpc.METHOD_NOT_FOUND, f"method not found: {name}"[:300])
        bound = method.bind(params)
        try:
            if method.wants_session:
                result = method.handler(**bound.arguments, session=session)
            else:
                result = method.handler(*bound.args, **bound.kwargs)
            if inspect.isawaitable(result):
                result = await result
        except RPCError as exc:
            self._audit(method, bound.arguments, session, exc.message)
            raise
        except Exception as exc:
            log.exception("RPC method %s failed", name)
            if method.owner != "kernel":
                self.kernel.dispatcher.fail(method.owner, f"rpc {name}", exc, streak=False)
            self._audit(method, bound.arguments, session, f"{type(exc).__name__}: {exc}")
            raise RPCError(rpc.INTERNAL_ERROR, f"{name} failed: {type(exc).__name__}: {exc}"[:500]) from None
        self._audit(method, bound.arguments, session, "")
        return result

    def _audit(self, method: rpc.Method, arguments: dict[str, Any], session: Session, error: str) -> None:
        if method.destructive:
            params = {k: f"<{len(v)} chars>" if isinstance(v, str) and len(v) > 200 else v for k, v in arguments.items()}
            data = {
                "method": method.name,
                "params": params,
                "ok": not error,
                "error": error,
                "session": session.id,
                "transport": session.transport,
            }
            self.kernel.bus.publish(Notice("rpc.audit", data), source="control")
