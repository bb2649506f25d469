"""A control-protocol client over any byte stream, usable from trio and from asyncio (via anyio)."""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.streams.stapled import StapledByteStream

from . import __version__, rpc
from .rpc import RPCError


class ProtocolError(Exception):
    """The other side broke the protocol: garbage, an oversized line, or the wrong version."""


class Disconnected(ConnectionError):
    """The node went away."""


@dataclass
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    reply: dict[str, Any] | None = None


class EventStream:
    """Events of one subscription; the newest are kept when the reader falls behind."""

    def __init__(self, client: Client, sub_id: int, size: int) -> None:
        self.client = client
        self.id = sub_id
        self.dropped = 0  # dropped here, in this client
        self.node_dropped = 0  # dropped in the node, as it last reported
        self._send, self._receive = anyio.create_memory_object_stream[dict[str, Any]](size)

    def _deliver(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("dropped"), int):
            self.node_dropped = event["dropped"]
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def _close(self) -> None:
        self._send.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


class Client:
    """JSON-RPC over a byte stream; enter it (`async with`) to start reading."""

    def __init__(self, stream: anyio.abc.ByteStream, *, max_line: int = 64 << 20, timeout: float = 60.0) -> None:
        self.stream = stream
        self.max_line = max_line
        self.timeout = timeout
        self.hello: dict[str, Any] = {}
        self.protocol_errors: list[str] = []
        self._ids = 0
        self._pending: dict[int, _Pending] = {}
        self._subs: dict[int, EventStream] = {}
        self._group: anyio.abc.TaskGroup | None = None
        self._closed: BaseException | None = None
        self._send_lock = anyio.Lock()

    async def __aenter__(self) -> Client:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._read_loop)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        assert self._group is not None
        self._group.cancel_scope.cancel()
        # The reader never raises, so the body's own exception propagates as it is, not in a group.
        await self._group.__aexit__(None, None, None)
        return None

    async def aclose(self) -> None:
        """Close the stream; pending calls fail with `Disconnected`."""
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()
        self._finish(Disconnected("connection closed"))

    # -- calls -------------------------------------------------------------------------

    async def handshake(self, client: str = "colony-cli", token: str = "") -> dict[str, Any]:
        """`rpc.hello`, checking that both sides speak the same protocol."""
        params: dict[str, Any] = {"protocol": rpc.PROTOCOL_VERSION, "client": f"{client}/{__version__}"}
        if token:
            params["token"] = token
        hello = await self.call("rpc.hello", **params)
        if not isinstance(hello, dict) or hello.get("protocol") != rpc.PROTOCOL_VERSION:
            raise ProtocolError(f"node answered the handshake with {str(hello)[:200]}")
        self.hello = hello
        return hello

    async def call(self, method: str, /, **params: Any) -> Any:
        """Call `method`; returns its result or raises `RPCError`."""
        if self._closed is not None:
            raise Disconnected(str(self._closed))
        self._ids += 1
        req_id = self._ids
        pending = self._pending[req_id] = _Pending()
        try:
            await self._send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
            with anyio.fail_after(self.timeout if self.timeout else math.inf):
                await pending.done.wait()
        finally:
            self._pending.pop(req_id, None)
        reply = pending.reply
        if reply is None:
            raise Disconnected(str(self._closed or "connection closed"))
        if "error" in reply:
            error = reply["error"]
            if not isinstance(error, dict) or not isinstance(error.get("code"), int):
                raise ProtocolError(f"the node sent a malformed error: {str(error)[:200]}")
            raise RPCError(error["code"], str(error.get("message", "")), error.get("data"))
        return reply.get("result")

    @asynccontextmanager
    async def subscribe(self, topics: list[str] | None = None, size: int = 4096) -> AsyncIterator[EventStream]:
        """Receive events whose topic matches `topics`, for the duration of the block."""
        reply = await self.call("events.subscribe", topics=topics or [])
        stream = self._subs[reply["subscription"]] = EventStream(self, reply["subscription"], size)
        try:
            yield stream
        finally:
            self._subs.pop(stream.id, None)
            stream._close()
            if self._closed is None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    try:
                        await self.call("events.unsubscribe", subscription=stream.id)
                    except (RPCError, Disconnected):
                        pass

    async def _send(self, message: dict[str, Any]) -> None:
        data = rpc.encode(message)
        async with self._send_lock:
            try:
                await self.stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._finish(Disconnected(f"cannot send: {exc}"))
                raise Disconnected(str(self._closed)) from None

    # -- reading -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        buffer = bytearray()
        reason: BaseException = Disconnected("the node closed the connection")
        try:
            while True:
                try:
                    chunk = await self.stream.receive(65536)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                    break
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if line.strip():
                        self._dispatch(line)
                if len(buffer) > self.max_line:
                    reason = ProtocolError(f"the node sent a line over {self.max_line} bytes")
                    self.protocol_errors.append(str(reason))
                    break
        finally:
            self._finish(reason)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = rpc.loads(line)
        except (ValueError, RecursionError):
            self.protocol_errors.append(f"not JSON: {line[:80]!r}")
            return
        if not isinstance(message, dict):
            self.protocol_errors.append(f"not an object: {line[:80]!r}")
            return
        if message.get("method") == "event" and isinstance(message.get("params"), dict):
            sub_id = message["params"].get("subscription")
            sub = self._subs.get(sub_id) if isinstance(sub_id, int) else None
            if sub is not None:
                sub._deliver(message["params"])
            return
        id_ = message.get("id")
        pending = self._pending.get(id_) if isinstance(id_, int) else None
        if pending is None:
            if message.get("id") is None and "error" in message:
                self.protocol_errors.append(f"node error: {message['error']}")
            return
        pending.reply = message
        pending.done.set()

    def _finish(self, reason: BaseException) -> None:
        if self._closed is None:
            self._closed = reason
        for pending in self._pending.values():
            pending.done.set()
        for sub in self._subs.values():
            sub._close()

    @property
    def closed(self) -> BaseException | None:
        """Why the connection ended, or None while it is open."""
        return self._closed


# -- connecting ----------------------------------------------------------------------------


async def open_unix(path: Path | str) -> Client:
    """A client on a node's Unix socket (enter it with `async with`)."""
    try:
        stream = await anyio.connect_unix(os.fspath(path))
    except OSError as exc:
        raise Disconnected(f"no node is listening on {path} ({exc.strerror or exc})") from None
    return Client(stream)


async def open_tcp(host: str, port: int) -> Client:
    """A client on a node's TCP listener (authenticate with `handshake(token=...)`)."""
    return Client(await anyio.connect_tcp(host, port))


class _ProcessStream(anyio.abc.ByteStream):
    """A child process's stdin and stdout as one stream; its stderr is kept for error messages."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.pipes = StapledByteStream(process.stdin, process.stdout)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.pipes.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.pipes.send(item)

    async def send_eof(self) -> None:
        await self.pipes.send_eof()

    async def aclose(self) -> None:
        await self.pipes.aclose()
        if self.process.returncode is None:
            self.process.terminate()
        with anyio.move_on_after(2):
            await self.process.wait()


def ssh_command(host: str, remote_args: list[str]) -> list[str]:
    """`ssh -T host colony bridge --stdio ...`; `COLONY_SSH` and `COLONY_REMOTE` override the programs."""
    ssh = shlex.split(os.environ.get("COLONY_SSH", "ssh"))
    remote = shlex.split(os.environ.get("COLONY_REMOTE", "colony"))
    return [*ssh, "-T", host, "--", shlex.join([*remote, "bridge", "--stdio", *remote_args])]


async def open_ssh(host: str, remote_args: list[str] | None = None) -> Client:
    """A client that reaches a remote node through `ssh host colony bridge --stdio`."""
    process = await anyio.open_process(ssh_command(host, remote_args or []), stderr=None)
    return Client(_ProcessStream(process))
