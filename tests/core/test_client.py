"""colony.core.client from trio and from asyncio: calls, errors, events, garbage servers, a node that goes away."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio

from colony.core import rpc
from colony.core.client import Client, Disconnected, ProtocolError, open_ssh, open_tcp, open_unix, ssh_command
from colony.core.rpc import RPCError
from colony.testing import RunningNode

TIMEOUT = 10.0
BACKENDS = ["trio", "asyncio"]

SLEEPER = '''
import trio
from colony.core import Manifest

PLUGIN = Manifest(name="sleeper", version="1")


async def wait() -> None:
    """Never return."""
    await trio.sleep_forever()


def colony_register(registrar):
    registrar.rpc("sleeper.wait", wait)
'''


def on(backend: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run `fn` in a fresh event loop of `backend`, bounded in time."""

    async def bounded() -> Any:
        with anyio.fail_after(TIMEOUT * 2):
            return await fn()

    return anyio.run(bounded, backend=backend)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """One plain node for the module."""
    with RunningNode(tmp_path_factory.mktemp("client"), plugins=[]) as running:
        yield running


@pytest.fixture
def sleepy_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A node of its own (the test stops it) with a method that never returns."""
    home = tmp_path / "home"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "sleeper.py").write_text(SLEEPER)
    running = RunningNode(home, plugins=["sleeper"]).start()
    yield running
    running.stop()


def subscribers(node: RunningNode) -> int:
    """How many event subscriptions the node holds (asked on a separate connection)."""
    return node.call("node.status")["events"]["subscribers"]


# -- against a real node -------------------------------------------------------------------


async def calls_and_errors(node: RunningNode) -> None:
    async with await open_unix(node.socket) as client:
        hello = await client.handshake()
        assert hello["node"] == node.kernel.node_id and len(hello["node"]) == 32
        assert hello["protocol"] == rpc.PROTOCOL_VERSION and client.hello == hello
        status = await client.call("node.status")
        assert status["node"] == hello["node"] and status["socket"] == str(node.socket)
        assert isinstance(await client.call("node.ticks", limit=5), list)
        with pytest.raises(RPCError) as missing:
            await client.call("no.such.method")
        assert missing.value.code == rpc.METHOD_NOT_FOUND and missing.value.message == "method not found: no.such.method"
        with pytest.raises(RPCError) as wrong:
            await client.call("node.ticks", limit="x")
        assert wrong.value.code == rpc.INVALID_PARAMS and "'limit'" in wrong.value.message
        with pytest.raises(RPCError) as failed:
            await client.call("plugins.info", name="nowhere")
        assert failed.value.code == rpc.OPERATION_FAILED and "nowhere" in failed.value.message
        # Concurrent calls each get their own reply.
        results: dict[int, Any] = {}

        async def one(i: int) -> None:
            results[i] = await client.call("events.recent", limit=i)

        async with anyio.create_task_group() as group:
            for i in range(1, 41):
                group.start_soon(one, i)
        assert all(len(results[i]) <= i for i in results) and len(results) == 40
        assert client.closed is None and client.protocol_errors == []
    assert isinstance(client.closed, Disconnected)
    with pytest.raises(Disconnected):
        await client.call("node.status")


async def events_and_unsubscribe(node: RunningNode) -> None:
    before = await anyio.to_thread.run_sync(subscribers, node)
    async with await open_unix(node.socket) as client:
        await client.handshake()
        async with client.subscribe(["heartbeat.*"]) as events:
            assert await anyio.to_thread.run_sync(subscribers, node) == before + 1
            record = await client.call("node.tick")
            event = await events.__anext__()
            assert event["topic"] == "heartbeat.tick" and event["subscription"] == events.id
            assert event["data"]["number"] == record["number"]
            await client.call("node.tick")
            assert (await events.__anext__())["data"]["number"] == record["number"] + 1
            sub_id = events.id
        assert await anyio.to_thread.run_sync(subscribers, node) == before  # unsubscribed on the node
        with pytest.raises(RPCError) as gone:
            await client.call("events.unsubscribe", subscription=sub_id)
        assert gone.value.code == rpc.INVALID_PARAMS and f"no subscription {sub_id}" in gone.value.message
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()  # the stream ended with the block
        await client.call("node.tick")  # no event for a stream that is gone, and no error either
        assert await client.call("node.status")
        assert client.protocol_errors == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_and_errors(node: RunningNode, backend: str) -> None:
    on(backend, lambda: calls_and_errors(node))


@pytest.mark.parametrize("backend", BACKENDS)
def test_subscribe_receives_events_and_unsubscribes(node: RunningNode, backend: str) -> None:
    on(backend, lambda: events_and_unsubscribe(node))


async def test_calls_from_pytest_trio(node: RunningNode) -> None:
    with trio.fail_after(TIMEOUT * 2):
        await calls_and_errors(node)
        await events_and_unsubscribe(node)


async def test_no_node_is_disconnected(tmp_path: Path) -> None:
    with pytest.raises(Disconnected, match="no node is listening"):
        await open_unix(tmp_path / "missing.sock")


# -- the node goes away --------------------------------------------------------------------


async def node_stops_under_pending_calls(node: RunningNode) -> None:
    async with await open_unix(node.socket) as client:
        await client.handshake()
        outcomes: list[BaseException] = []

        async def pending() -> None:
            try:
                await client.call("sleeper.wait")
            except Exception as exc:
                outcomes.append(exc)

        ended = anyio.Event()

        async def watch(events: Any) -> None:
            async for _ in events:
                pass
            ended.set()

        async with client.subscribe() as events, anyio.create_task_group() as group:
            group.start_soon(watch, events)
            for _ in range(3):
                group.start_soon(pending)
            await client.call("node.status")  # read after the sleeper calls: they are in flight now
            await anyio.to_thread.run_sync(node.stop)
        await ended.wait()
        assert len(outcomes) == 3 and all(isinstance(exc, Disconnected) for exc in outcomes), outcomes
        assert isinstance(client.closed, Disconnected)
        with pytest.raises(Disconnected):
            await client.call("node.status")


@pytest.mark.parametrize("backend", BACKENDS)
def test_pending_calls_fail_when_the_node_stops(sleepy_node: RunningNode, backend: str) -> None:
    on(backend, lambda: node_stops_under_pending_calls(sleepy_node))


async def test_node_stop_over_the_client(sleepy_node: RunningNode) -> None:
    with trio.fail_after(TIMEOUT):
        async with await open_unix(sleepy_node.socket) as client:
            assert await client.call("node.stop") == {"stopping": True}
            while client.closed is None:
                await trio.sleep(0.01)
            with pytest.raises(Disconnected):
                await client.call("node.status")
        # RunningNode.stop() races with a node that stopped itself; let its thread finish first.
        await trio.to_thread.run_sync(sleepy_node._thread.join, TIMEOUT)
        assert not sleepy_node._thread.is_alive()


# -- a server that breaks the protocol -----------------------------------------------------


class FakeNode:
    """A node impostor on a Unix socket: `respond(request)` gives the bytes to send back."""

    def __init__(self, respond: Callable[[dict[str, Any]], bytes]) -> None:
        self.respond = respond
        self.dir = Path(tempfile.mkdtemp(prefix="colony-f-", dir="/tmp"))
        self.path = self.dir / "fake.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.listener.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            try:
                for line in lines:
                    conn.sendall(self.respond(json.loads(line)))
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake() -> Iterator[Callable[[Callable[[dict[str, Any]], bytes]], FakeNode]]:
    """Start fake nodes; they are closed after the test."""
    started: list[FakeNode] = []

    def start(respond: Callable[[dict[str, Any]], bytes]) -> FakeNode:
        started.append(FakeNode(respond))
        return started[-1]

    yield start
    for server in started:
        server.close()


def reply(request: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request["id"], **fields}).encode() + b"\n"


async def garbage_then_silence(path: Path) -> None:
    client = await open_unix(path)
    client.timeout = 0.5
    async with client:
        with pytest.raises(TimeoutError):
            await client.call("node.status")
        assert client.closed is None  # garbage is recorded, not fatal
        kinds = " | ".join(client.protocol_errors)
        assert "not JSON: b'this is not json'" in kinds
        assert "not an object" in kinds and "node error:" in kinds and "boom" in kinds


async def huge_line(path: Path) -> None:
    stream = await anyio.connect_unix(os.fspath(path))
    async with Client(stream, max_line=4096) as client:
        with pytest.raises(Disconnected, match="over 4096 bytes"):
            await client.call("node.status")
        assert isinstance(client.closed, ProtocolError)
        assert client.protocol_errors == ["the node sent a line over 4096 bytes"]
        with pytest.raises(Disconnected):
            await client.call("node.status")


async def wrong_hello(path: Path) -> None:
    async with await open_unix(path) as client:
        with pytest.raises(ProtocolError, match="handshake"):
            await client.handshake()
        assert client.hello == {}
        assert client.closed is None


async def mangled_replies(path: Path) -> None:
    async with await open_unix(path) as client:
        with pytest.raises(ProtocolError, match="malformed error"):
            await client.call("bad.code")
        with pytest.raises(ProtocolError, match="malformed error"):
            await client.call("bad.error")
        async with client.subscribe() as events:
            assert await client.call("emit") == "sent"
            # Replies with unhashable ids, an event for a list-valued subscription and one that is not an
            # object came first: all ignored. An event with a bad `dropped` is delivered, its count ignored.
            topics = [(await events.__anext__())["topic"], (await events.__anext__())["topic"]]
            assert topics == ["bad-dropped", "ok"] and events.node_dropped == 7 and events.dropped == 0
        assert await client.call("fine") == "ok"  # the client shrugged all of that off
        assert client.closed is None


def garbage_server(request: dict[str, Any]) -> bytes:
    return b"this is not json\n[1, 2]\nnull\n" + json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -1, "message": "boom"}}).encode() + b"\n"


def huge_server(request: dict[str, Any]) -> bytes:
    return b"x" * 100_000  # and never a newline


def wrong_protocol_server(request: dict[str, Any]) -> bytes:
    return reply(request, result={"protocol": 99, "colony": "9.9", "node": "f" * 32})


def not_an_object_hello_server(request: dict[str, Any]) -> bytes:
    return reply(request, result="hello")


def mangling_server(request: dict[str, Any]) -> bytes:
    method = request["method"]
    if method == "bad.code":
        return reply(request, error={"code": "x", "message": "m"})
    if method == "bad.error":
        return reply(request, error="nope")
    if method == "events.subscribe":
        return reply(request, result={"subscription": 5})
    if method == "emit":
        junk = [
            {"jsonrpc": "2.0", "id": [request["id"]], "result": "unhashable id"},
            {"jsonrpc": "2.0", "id": {"a": 1}, "result": "unhashable id"},
            {"jsonrpc": "2.0", "method": "event", "params": {"subscription": [5], "topic": "bad"}},
            {"jsonrpc": "2.0", "method": "event", "params": {"subscription": 5, "dropped": "lots", "topic": "bad-dropped"}},
            {"jsonrpc": "2.0", "method": "event", "params": "x"},
            {"jsonrpc": "2.0", "id": 10**9, "result": "nobody asked"},
        ]
        lines = b"".join(json.dumps(m).encode() + b"\n" for m in junk)
        good = {"jsonrpc": "2.0", "method": "event", "params": {"subscription": 5, "dropped": 7, "topic": "ok"}}
        return lines + reply(request, result="sent") + json.dumps(good).encode() + b"\n"
    return reply(request, result="ok")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("server", "scenario"),
    [
        pytest.param(garbage_server, garbage_then_silence, id="not-json"),
        pytest.param(huge_server, huge_line, id="huge-line"),
        pytest.param(wrong_protocol_server, wrong_hello, id="wrong-protocol"),
        pytest.param(not_an_object_hello_server, wrong_hello, id="hello-not-an-object"),
        pytest.param(mangling_server, mangled_replies, id="mangled"),
    ],
)
def test_a_server_that_breaks_the_protocol(fake: Any, backend: str, server: Any, scenario: Any) -> None:
    path = fake(server).path
    on(backend, lambda: scenario(path))


# -- ssh -----------------------------------------------------------------------------------


def test_ssh_command_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLONY_SSH", raising=False)
    monkeypatch.delenv("COLONY_REMOTE", raising=False)
    assert ssh_command("user@host", ["--socket", "/x"]) == ["ssh", "-T", "user@host", "--", "colony bridge --stdio --socket /x"]
    assert ssh_command("host", []) == ["ssh", "-T", "host", "--", "colony bridge --stdio"]


def test_ssh_command_honours_colony_ssh_and_colony_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLONY_SSH", "ssh -p 2222 -o 'ProxyJump=jump host'")
    monkeypatch.setenv("COLONY_REMOTE", "/opt/colony venv/bin/python -m colony.core.cli")
    argv = ssh_command("user@host", ["--socket", "/run/my node.sock"])
    assert argv[:6] == ["ssh", "-p", "2222", "-o", "ProxyJump=jump host", "-T"]
    assert argv[6:8] == ["user@host", "--"] and len(argv) == 9
    assert shlex.split(argv[8]) == ["/opt/colony", "venv/bin/python", "-m", "colony.core.cli", "bridge", "--stdio", "--socket", "/run/my node.sock"]


def test_ssh_command_quotes_remote_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLONY_SSH", raising=False)
    monkeypatch.setenv("COLONY_REMOTE", "'/opt/my colony/bin/colony'")
    argv = ssh_command("host", ["--socket", "/x; rm -rf ~", "$(reboot)"])
    assert shlex.split(argv[-1]) == ["/opt/my colony/bin/colony", "bridge", "--stdio", "--socket", "/x; rm -rf ~", "$(reboot)"]


FAKE_SSH = """\
import os, sys
args = sys.argv[1:]
assert args[0] == "-T" and args[2] == "--", args
os.execvp("sh", ["sh", "-c", args[3]])
"""


async def test_open_ssh_reaches_a_node_through_the_bridge(node: RunningNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ssh` here is a stand-in that runs the remote command locally; the bridge and the pipes are real."""
    (tmp_path / "fake_ssh.py").write_text(FAKE_SSH)
    monkeypatch.setenv("COLONY_SSH", shlex.join([sys.executable, str(tmp_path / "fake_ssh.py")]))
    monkeypatch.setenv("COLONY_REMOTE", shlex.join([sys.executable, "-c", "from colony.core.cli import main; main()"]))
    with trio.fail_after(TIMEOUT * 3):
        async with await open_ssh("user@host", ["--socket", str(node.socket)]) as client:
            hello = await client.handshake()
            assert hello["node"] == node.kernel.node_id
            with pytest.raises(RPCError) as missing:
                await client.call("no.such")
            assert missing.value.code == rpc.METHOD_NOT_FOUND
            async with client.subscribe(["heartbeat.*"]) as events:
                await client.call("node.tick")
                assert (await events.__anext__())["topic"] == "heartbeat.tick"


async def test_tcp_client_with_token_and_destructive_calls_are_audited_with_their_transport(tmp_path: Path) -> None:
    config = {"control": {"tcp": "127.0.0.1:0", "token": "s3cret"}}
    node = await trio.to_thread.run_sync(lambda: RunningNode(tmp_path, plugins=["pulse"], config=config).start())
    try:
        assert node.kernel is not None and node.kernel.tcp_port
        async with await open_tcp("127.0.0.1", node.kernel.tcp_port) as client:
            with pytest.raises(RPCError, match="wrong or missing token"):
                await client.handshake(token="guess")
            hello = await client.handshake(token="s3cret")
            await client.call("node.status")  # not destructive: not audited
            await client.call("plugins.reload", name="pulse")
            with pytest.raises(RPCError, match="no plugin named"):
                await client.call("plugins.unload", name="ghost")
        await trio.to_thread.run_sync(lambda: node.call("plugins.reload", name="pulse"))
        audits = [e["data"] for e in node.call("events.recent", limit=1000, topics=["rpc.audit"])]
        assert [(a["method"], a["ok"], a["transport"]) for a in audits] == [
            ("plugins.reload", True, "tcp"),
            ("plugins.unload", False, "tcp"),
            ("plugins.reload", True, "unix"),
        ]
        assert audits[0]["session"] == hello["session"] and "no plugin named 'ghost'" in audits[1]["error"]
    finally:
        await trio.to_thread.run_sync(node.stop)
