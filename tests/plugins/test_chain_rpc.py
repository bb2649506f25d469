"""JsonRpc, the chain plugin's HTTP/1.1 JSON-RPC client, against real loopback servers and a real anvil chain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import h11
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.plugins.chain import rpc
from colony.plugins.chain.rpc import JsonRpc, RpcError
from colony.testing import Anvil

Answer = Callable[[dict[str, Any]], Awaitable[bytes]]
"""What a test server sends back for one JSON-RPC call: the raw HTTP answer bytes."""

HANG_GUARD = 30  # seconds; only a guard against a hang, never a measure of speed


def response(body: bytes, status: int = 200, *headers: str) -> bytes:
    """A raw HTTP/1.1 answer with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def result(call: dict[str, Any], value: Any) -> bytes:
    """The JSON-RPC answer to `call` carrying `value`."""
    return json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": value}).encode()


async def echo(call: dict[str, Any]) -> bytes:
    """Answer each call with its own params."""
    return response(result(call, call["params"]))


class Close(Exception):
    """Raised by an answer function: close the connection without answering."""


class Server:
    """A loopback HTTP/1.1 server: reads each request with h11, answers with `answer`'s raw bytes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.opened = 0
        self.open_now = 0
        self.peak = 0
        self.closed = 0
        self.pending = 0
        self.calls: list[dict[str, Any]] = []
        self.heads: list[h11.Request] = []
        self.close_after: set[int] = set()  # call numbers (from 1) after whose answer the server hangs up
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rpc"

    async def handle(self, stream: trio.SocketStream) -> None:
        self.opened += 1
        self.open_now += 1
        self.peak = max(self.peak, self.open_now)
        try:
            while True:
                call = await self._read(stream)
                if call is None:
                    return
                self.pending += 1
                try:
                    raw = await self.answer(call)
                except Close:
                    return
                finally:
                    self.pending -= 1
                try:
                    await stream.send_all(raw)
                except trio.BrokenResourceError:
                    return
                if len(self.calls) in self.close_after or b"connection: close" in raw.lower():
                    return
        finally:
            self.open_now -= 1
            self.closed += 1
            await trio.aclose_forcefully(stream)

    async def _read(self, stream: trio.SocketStream) -> dict[str, Any] | None:
        """The next request's JSON body, or None when the client hung up."""
        http = h11.Connection(h11.SERVER)  # one per request: answers go out as raw bytes, not through h11
        body = b""
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return None
                http.receive_data(data)
            elif isinstance(event, h11.Request):
                self.heads.append(event)
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                call = json.loads(body)
                self.calls.append(call)
                return call
            elif isinstance(event, h11.ConnectionClosed):
                return None


@asynccontextmanager
async def serving(answer: Answer = echo, connections: int = 4) -> AsyncIterator[tuple[Server, JsonRpc]]:
    """A running Server and a JsonRpc client pointed at it; both closed afterwards."""
    server = Server(answer)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        client = JsonRpc(server.url, connections)
        try:
            with trio.fail_after(HANG_GUARD):
                yield server, client
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Return once `condition()` holds, checking whenever every task is blocked."""
    while not condition():
        await trio.testing.wait_all_tasks_blocked()
        if not condition():
            await trio.lowlevel.checkpoint()


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize("url", ["ws://127.0.0.1:8545", "127.0.0.1:8545", "http://", "file:///tmp/x"])
def test_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        JsonRpc(url, 1)


# ---------------------------------------------------------------- answers


async def test_a_normal_answer_and_a_kept_alive_connection() -> None:
    async with serving() as (server, client):
        assert await client.request("eth_echo", [1, "a", {"b": None}]) == [1, "a", {"b": None}]
        assert await client.request("eth_echo", []) == []
    assert server.opened == 1
    first, second = server.calls
    assert first["jsonrpc"] == "2.0" and first["method"] == "eth_echo" and first["id"] != second["id"]
    head = server.heads[0]
    assert head.method == b"POST" and head.target == b"/rpc"
    assert (b"content-type", b"application/json") in head.headers
    assert (b"host", f"127.0.0.1:{server.port}".encode()) in head.headers


async def test_credentials_in_the_url_become_basic_auth() -> None:
    async with serving() as (server, _):
        client = JsonRpc(f"http://us%40er:p%3Ass@127.0.0.1:{server.port}/x?key=1", 1)
        assert await client.request("m", [2]) == [2]
        await client.aclose()
    head = server.heads[0]
    assert head.target == b"/x?key=1"
    assert (b"authorization", b"Basic dXNAZXI6cDpzcw==") in head.headers  # base64("us@er:p:ss")
    assert (b"host", f"127.0.0.1:{server.port}".encode()) in head.headers


async def test_chunked_answers() -> None:
    async def chunked(call: dict[str, Any]) -> bytes:
        body = result(call, call["params"])
        pieces = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 3]), body[i:i + 3]) for i in range(0, len(body), 3))
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n"

    async with serving(chunked) as (server, client):
        for n in range(3):
            assert await client.request("m", ["x" * n, n]) == ["x" * n, n]
    assert server.opened == 1


async def test_connection_close_answers_open_a_new_connection_each_time() -> None:
    async def closing(call: dict[str, Any]) -> bytes:
        return response(result(call, call["params"]), 200, "Connection: close")

    async with serving(closing) as (server, client):
        for n in range(3):
            assert await client.request("m", [n]) == [n]
        assert client._idle == []
    assert server.opened == 3


async def test_an_answer_framed_by_closing_the_connection() -> None:
    async def until_close(call: dict[str, Any]) -> bytes:
        return b"HTTP/1.0 200 OK\r\n\r\n" + result(call, "whole")

    async with serving(until_close) as (server, client):
        server.close_after = {1, 2}
        assert await client.request("m", []) == "whole"
        assert await client.request("m", []) == "whole"
    assert server.opened == 2


async def test_a_connection_closed_while_idle_is_retried_once_on_a_new_one() -> None:
    async with serving() as (server, client):
        server.close_after = {1}
        assert await client.request("m", [1]) == [1]
        await wait_until(lambda: server.closed == 1)  # the server hung up on the kept-alive connection
        assert len(client._idle) == 1
        assert await client.request("m", [2]) == [2]
        assert server.opened == 2
        assert len(client._idle) == 1


async def test_a_new_connection_closed_without_an_answer_is_an_error() -> None:
    async def hang_up(call: dict[str, Any]) -> bytes:
        raise Close

    async with serving(hang_up) as (server, client):
        with pytest.raises(RpcError, match="closed the connection without answering"):
            await client.request("m", [])
    assert server.opened == 1  # a fresh connection that fails is not tried again


async def test_a_connection_closed_in_the_middle_of_an_answer_is_an_error() -> None:
    async def truncated(call: dict[str, Any]) -> bytes:
        return response(result(call, "all of it"))[:-4]

    async with serving(truncated) as (server, client):
        server.close_after = {1, 2}
        with pytest.raises(RpcError, match="127.0.0.1"):
            await client.request("m", [])
        assert client._idle == []
        server.answer = echo
        assert await client.request("m", [3]) == [3]


# ---------------------------------------------------------------- errors


async def test_json_rpc_errors_carry_the_message() -> None:
    async def refuse(call: dict[str, Any]) -> bytes:
        error = {"code": -32000, "message": "already known"}
        return response(json.dumps({"jsonrpc": "2.0", "id": call["id"], "error": error}).encode())

    async with serving(refuse) as (server, client):
        with pytest.raises(RpcError, match="already known"):
            await client.request("eth_sendRawTransaction", ["0x00"])
        assert len(client._idle) == 1  # an error answer is still a whole answer: the connection is kept
    assert server.opened == 1


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        pytest.param(502, b"<html>bad gateway</html>", r"HTTP 502 .*not JSON-RPC: b'<html>bad gateway", id="html-502"),
        pytest.param(500, b"", "HTTP 500 .*not JSON-RPC", id="empty-500"),
        pytest.param(503, b'{"jsonrpc":"2.0","id":1}', "HTTP 503 .*without a result", id="json-503"),
        pytest.param(200, b"[1, 2]", "HTTP 200 .*not JSON-RPC", id="json-list"),
        pytest.param(200, b"\xff\xfe\x00", "not JSON-RPC", id="not-utf8"),
        pytest.param(200, b"[" * 100_000, "not JSON-RPC", id="nested-too-deep"),
    ],
)
async def test_answers_that_are_not_json_rpc_are_clear_errors(status: int, body: bytes, match: str) -> None:
    async def bad(call: dict[str, Any]) -> bytes:
        return response(body, status)

    async with serving(bad) as (_, client):
        with pytest.raises(RpcError, match=match):
            await client.request("m", [])


async def test_an_oversized_answer_is_refused_and_its_connection_dropped() -> None:
    async def huge(call: dict[str, Any]) -> bytes:
        if call["method"] == "small":
            return response(result(call, "fits"))
        return response(b" " * (rpc.MAX_BODY + 1))

    async with serving(huge) as (server, client):
        with pytest.raises(RpcError, match=f"more than {rpc.MAX_BODY} bytes"):
            await client.request("big", [])
        assert client._idle == []
        assert await client.request("small", []) == "fits"
    assert server.opened == 2


async def test_a_server_that_is_not_there_raises_os_error() -> None:
    async with serving() as (server, _):
        port = server.port
    client = JsonRpc(f"http://127.0.0.1:{port}", 1)
    with pytest.raises(OSError):
        await client.request("m", [])


# ---------------------------------------------------------------- cancellation and the connection cap


async def test_cancellation_mid_call_drops_that_connection() -> None:
    release = trio.Event()

    async def stall_first(call: dict[str, Any]) -> bytes:
        if call["method"] == "stall":
            await release.wait()
        return response(result(call, call["method"]))

    async with serving(stall_first) as (server, client):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.request, "stall", [])
                await wait_until(lambda: server.pending == 1)
                scope.cancel()
        assert client._idle == []
        assert await client.request("next", []) == "next"
        assert server.opened == 2 and len(client._idle) == 1
        release.set()
        await wait_until(lambda: server.closed == 1)  # the stalled answer finds that the client hung up


async def test_the_connection_cap_holds() -> None:
    cap = 3
    gate = trio.Event()

    async def gated(call: dict[str, Any]) -> bytes:
        await gate.wait()
        return response(result(call, call["params"]))

    async with serving(gated, connections=cap) as (server, client):
        answers: dict[int, Any] = {}

        async def call(n: int) -> None:
            answers[n] = await client.request("m", [n])

        async with trio.open_nursery() as nursery:
            for n in range(cap + 1):
                nursery.start_soon(call, n)
            await wait_until(lambda: server.pending == cap)
            await trio.testing.wait_all_tasks_blocked()
            assert server.opened == cap and server.pending == cap  # the last call waits for a connection
            gate.set()
        assert answers == {n: [n] for n in range(cap + 1)}
    assert server.opened == cap and server.peak == cap


# ---------------------------------------------------------------- hostile servers


HTTP_HEADS = st.sampled_from(
    [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", b"HTTP/1.0 500 X\r\n", b"HTTP/1.1 204 No\r\n", b""]
)
HEADERS = st.lists(
    st.sampled_from([b"Content-Length: 3", b"Content-Length: -1", b"Content-Length: 99999999999", b"Transfer-Encoding: chunked",
                     b"Transfer-Encoding: gzip", b"Connection: close", b"Content-Length: 3, 4", b"X: \x00"])
    | st.binary(max_size=30),
    max_size=4,
)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["result", "error", "id", "x"]), inner, max_size=3),
                           max_leaves=8)
HOSTILE = (
    st.binary(max_size=300)
    | st.builds(lambda head, headers, body: head + b"\r\n".join(headers) + b"\r\n\r\n" + body, HTTP_HEADS, HEADERS, st.binary(max_size=100))
    | st.builds(lambda value: b"HTTP/1.1 200 OK\r\n\r\n" + json.dumps(value).encode(), JSON_VALUES)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=HOSTILE)
async def test_hostile_answers_give_a_result_or_rpc_error_and_never_hang(answer: bytes) -> None:
    async def hostile(call: dict[str, Any]) -> bytes:
        return answer

    async with serving(hostile) as (server, client):
        server.close_after = set(range(1, 10))  # the server hangs up after its bytes, so no answer can be waited on forever
        for _ in range(2):  # the second call meets whatever state the first left behind
            try:
                await client.request("m", [])
            except RpcError:
                pass


# ---------------------------------------------------------------- a real chain


async def test_against_anvil(anvil_chain: Anvil) -> None:
    client = JsonRpc(anvil_chain.url, 2)
    try:
        with trio.fail_after(HANG_GUARD):
            assert int(await client.request("eth_chainId", []), 16) == anvil_chain.chain_id
            numbers: list[int] = []

            async def block_number() -> None:
                numbers.append(rpc.quantity(await client.request("eth_blockNumber", [])))

            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(block_number)
            assert len(numbers) == 5 and all(n >= 0 for n in numbers)
            with pytest.raises(RpcError, match="(?i)method"):
                await client.request("eth_noSuchMethod", [])
            assert int(await client.request("eth_chainId", []), 16) == anvil_chain.chain_id
    finally:
        await client.aclose()
