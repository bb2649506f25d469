"""JSON-RPC from trio tasks over kept-alive HTTP/1.1 connections, and the shapes web3 gives its results.

web3 spends about a millisecond of CPU on each call (middleware, validation, formatting, a
`requests` session) and needs a worker thread for it, whose round trip through the GIL costs
more than the call itself once other threads are busy. `JsonRpc` speaks HTTP/1.1 (h11, the
parser hypercorn serves the gateway with) on trio streams in about a tenth of that.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import h11
import trio
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.datastructures import AttributeDict

from colony.core.rpc import loads

MAX_BODY = 32 * 1024 * 1024  # bytes of one answer; a receipt or a call result is a few kilobytes
RECEIVE = 64 * 1024
QUANTITIES = frozenset(
    {
        "blobGasPrice", "blobGasUsed", "blockNumber", "blockTimestamp", "chainId", "cumulativeGasUsed", "effectiveGasPrice",
        "gas", "gasPrice", "gasUsed", "logIndex", "maxFeePerGas", "maxPriorityFeePerGas", "nonce", "status",
        "transactionIndex", "type", "v", "value", "yParity",
    }
)
ADDRESSES = frozenset({"address", "contractAddress", "from", "to"})
# Receipts name the same few addresses (token, facilitator) over and over; checksumming one costs ~20 us.
checksum = lru_cache(maxsize=4096)(to_checksum_address)


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error, or not with JSON-RPC at all."""


class Stale(Exception):
    """A kept-alive connection turned out closed before any answer came on it."""


@dataclass
class Connection:
    """One HTTP/1.1 connection and its h11 state machine."""

    stream: trio.abc.Stream
    http: h11.Connection


class JsonRpc:
    """JSON-RPC calls to one http(s) URL from any number of trio tasks, `connections` at a time.

    A call that finds its kept-alive connection closed by the server is sent again on a new one,
    so send only calls that are safe to repeat: reads, and signed transactions.
    """

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = [("Host", parts.netloc.rpartition("@")[2]), ("Content-Type", "application/json")]
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._headers.append(("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()))
        # The CA bundle requests (and so web3) trusts, so an https chain that worked before still does.
        self._tls = ssl.create_default_context(cafile=certifi.where()) if parts.scheme == "https" else None
        self._limit = trio.CapacityLimiter(connections)
        self._idle: list[Connection] = []
        self._ids = itertools.count(1)

    async def request(self, method: str, params: list[Any]) -> Any:
        """The result of one call; RpcError when the node answers with an error."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        async with self._limit:
            status, data = await self._exchange(body)
        try:
            reply = loads(data)  # not json.loads: web3 lifts the recursion limit past the C stack, so deep nesting would crash
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise RpcError(f"HTTP {status} from {self._host}, not JSON-RPC: {data[:200]!r}")
        if reply.get("error") is not None:
            raise RpcError(str(reply["error"]))
        if "result" not in reply:
            raise RpcError(f"HTTP {status} from {self._host} without a result: {data[:200]!r}")
        return reply["result"]

    async def aclose(self) -> None:
        """Close the idle connections (one in use closes when its call ends)."""
        while self._idle:
            await trio.aclose_forcefully(self._idle.pop().stream)

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        """POST on an idle connection, else on a new one; (status, body)."""
        while self._idle:
            try:
                return await self._post(self._idle.pop(), body)
            except Stale:
                pass  # the server closed it while it sat idle: try the next one
        try:
            return await self._post(await self._open(), body)
        except Stale:
            raise RpcError(f"{self._host} closed the connection without answering") from None

    async def _open(self) -> Connection:
        stream: trio.abc.Stream = await trio.open_tcp_stream(self._host, self._port)
        if self._tls is not None:
            stream = trio.SSLStream(stream, self._tls, server_hostname=self._host, https_compatible=True)
        return Connection(stream, h11.Connection(h11.CLIENT))

    async def _post(self, connection: Connection, body: bytes) -> tuple[int, bytes]:
        """One request and its answer; the connection goes back to the pool only when both ended cleanly."""
        try:
            answer = await self._roundtrip(connection, body)
        except BaseException:
            await trio.aclose_forcefully(connection.stream)
            raise
        http = connection.http
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            self._idle.append(connection)
        else:
            await trio.aclose_forcefully(connection.stream)
        return answer

    async def _roundtrip(self, connection: Connection, body: bytes) -> tuple[int, bytes]:
        http, stream = connection.http, connection.stream
        head = h11.Request(method="POST", target=self._target, headers=[*self._headers, ("Content-Length", str(len(body)))])
        status, chunks, size = 0, [], 0
        try:
            await stream.send_all(b"".join(http.send(event) or b"" for event in (head, h11.Data(data=body), h11.EndOfMessage())))
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(RECEIVE)
                    if not data and status == 0:
                        raise Stale
                    http.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > MAX_BODY:
                        raise RpcError(f"{self._host} answered with more than {MAX_BODY} bytes")
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return status, b"".join(chunks)
                elif isinstance(event, h11.ConnectionClosed):
                    raise RpcError(f"{self._host} closed the connection in the middle of an answer")
        except trio.BrokenResourceError as exc:
            if status == 0:
                raise Stale from None
            raise RpcError(f"the connection to {self._host} broke: {exc!r}") from None
        except h11.RemoteProtocolError as exc:
            raise RpcError(f"{self._host} broke HTTP/1.1: {exc}") from None


def proxied(url: str) -> bool:
    """Whether the environment routes `url` through a proxy (which `JsonRpc` does not speak)."""
    parts = urlsplit(url)
    return bool(urllib.request.getproxies().get(parts.scheme)) and not urllib.request.proxy_bypass(parts.hostname or "")


def json_tx(tx: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction dict in JSON-RPC form: integers and bytes as 0x hex."""
    return {key: hex(value) if isinstance(value, int) else "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else value for key, value in tx.items()}


def quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a"), or an int web3 already decoded, as an int."""
    return value if isinstance(value, int) else int(value, 16)


def shaped(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A receipt, transaction or log as web3 shapes it: ints, HexBytes, checksummed addresses, logs as AttributeDicts.

    Accepts raw JSON-RPC objects and web3's own (already shaped) ones alike.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "logs":
            value = [AttributeDict(shaped(log)) for log in value]  # web3's event decoding answers in kind
        elif key == "topics":
            value = [HexBytes(topic) for topic in value]
        elif isinstance(value, str) and value.startswith("0x"):
            value = int(value, 16) if key in QUANTITIES else checksum(value) if key in ADDRESSES else HexBytes(value)
        out[key] = value
    return out
