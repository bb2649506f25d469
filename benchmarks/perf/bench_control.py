"""Control-protocol round trips of `node.status` against a raw JSON-line echo over the same Unix socket."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import trio

from _common import Table, parse_args, percentiles, progress, ratio, report
from colony.core.client import open_unix
from colony.testing import RunningNode, SyncClient

REQUESTS = 6000  # timed round trips per client and server, split over the rounds
ROUNDS = 4  # ours and the floor take turns this many times
WARMUP = 100
TARGET_P50_US = 1000.0  # the bar: p50 under 1 ms
REQUEST = {"jsonrpc": "2.0", "method": "node.status", "params": {}}

# -- the floor: a minimal trio server that decodes a JSON line and encodes a reply ---------


async def echo_server(path: str, result: Any, started: Callable[[], None] = lambda: None) -> None:
    """Answer every JSON line on `path` with `result` under the request's id."""

    async def serve(stream: trio.SocketStream) -> None:
        buffer = b""
        while chunk := await stream.receive_some(65536):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
                await stream.send_all(json.dumps(reply, separators=(",", ":")).encode() + b"\n")

    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(128)
    started()
    await trio.serve_listeners(serve, [trio.SocketListener(sock)])


def raw_sync_caller(path: Path) -> tuple[Callable[[], Any], Callable[[], None]]:
    """A blocking raw-socket round trip: send one JSON line, read one back, decode it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    lines = sock.makefile("rb")
    ids = iter(range(1, 1 << 62))

    def call() -> Any:
        sock.sendall(json.dumps({**REQUEST, "id": next(ids)}).encode() + b"\n")
        return json.loads(lines.readline())["result"]

    def close() -> None:
        lines.close()
        sock.close()

    return call, close


# -- where the servers run -----------------------------------------------------------------


def wait_for(path: Path, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    """Wait until a server's socket file appears (or its process dies)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no socket at {path} after {timeout:g}s")
        time.sleep(0.02)


@contextmanager
def node_in_thread(folder: Path) -> Iterator[Path]:
    """`colony.testing.RunningNode`: the kernel in a thread of this process (it shares our GIL)."""
    with RunningNode(folder / "home-thread", plugins=[]) as node:
        yield node.socket


@contextmanager
def node_in_process(folder: Path) -> Iterator[Path]:
    """`colony serve` as a child process, with no plugins and no heartbeat."""
    path = folder / "node.sock"
    env = {
        **os.environ,
        "COLONY_HOME": str(folder / "home-process"),
        "COLONY_CONTROL__SOCKET": str(path),
        "COLONY_HEARTBEAT__ENABLED": "0",
        "COLONY_LOAD_PLUGINS": "",  # empty allowlist: no plugins, like RunningNode(plugins=[])
    }
    script = Path(sys.executable).with_name("colony")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from colony.core.cli import main; main()"]
    with child([*command, "serve", "--log-level", "warning"], path, env):
        yield path


@contextmanager
def echo_in_thread(folder: Path, result: Any) -> Iterator[Path]:
    """The floor server in a thread of this process."""
    path, ready, scope = folder / "echo-thread.sock", threading.Event(), trio.CancelScope()
    token: list[trio.lowlevel.TrioToken] = []

    async def main() -> None:
        token.append(trio.lowlevel.current_trio_token())
        with scope:
            await echo_server(str(path), result, ready.set)

    thread = threading.Thread(target=trio.run, args=(main,), name="bench-echo", daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield path
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token[0])
        thread.join(10)


@contextmanager
def echo_in_process(folder: Path, result: Any) -> Iterator[Path]:
    """The floor server as a child process."""
    path, reply = folder / "echo.sock", folder / "reply.json"
    reply.write_text(json.dumps(result))
    with child([sys.executable, __file__, "--serve-echo", str(path), "--reply", str(reply)], path, dict(os.environ)):
        yield path


@contextmanager
def child(command: list[str], path: Path, env: dict[str, str]) -> Iterator[None]:
    """Run a server process until the block ends; it is ready once `path` exists."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        wait_for(path, process)
        yield
    except BaseException:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-4000:])
        raise
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# -- sampling ------------------------------------------------------------------------------


def sample_sync(call: Callable[[], Any], n: int) -> list[float]:
    """Seconds of each of `n` blocking round trips, after a warm-up."""
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(n):
        start = perf_counter()
        call()
        samples.append(perf_counter() - start)
    return samples


async def sample_async(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    """Seconds of each of `n` awaited round trips, after a warm-up."""
    for _ in range(WARMUP):
        await call()
    samples = []
    for _ in range(n):
        start = perf_counter()
        await call()
        samples.append(perf_counter() - start)
    return samples


def ours_async(path: Path, n: int) -> list[float]:
    """`colony.core.client`: open_unix + handshake + call, in its own trio run on this thread."""

    async def main() -> list[float]:
        async with await open_unix(path) as client:
            await client.handshake(client="bench")
            return await sample_async(lambda: client.call("node.status"), n)

    return trio.run(main)


def ours_sync(path: Path, n: int) -> list[float]:
    """`colony.testing.SyncClient`."""
    client = SyncClient(path)
    try:
        return sample_sync(lambda: client.call("node.status"), n)
    finally:
        client.close()


def floor_async(path: Path, n: int) -> list[float]:
    """A raw trio socket stream: send one JSON line, receive until newline, decode."""

    async def main() -> list[float]:
        stream = await trio.open_unix_socket(str(path))
        ids = iter(range(1, 1 << 62))

        async def call() -> Any:
            await stream.send_all(json.dumps({**REQUEST, "id": next(ids)}).encode() + b"\n")
            data = await stream.receive_some(65536)
            while not data.endswith(b"\n"):
                data += await stream.receive_some(65536)
            return json.loads(data)["result"]

        async with stream:
            return await sample_async(call, n)

    return trio.run(main)


def floor_sync(path: Path, n: int) -> list[float]:
    """A raw blocking socket."""
    call, close = raw_sync_caller(path)
    try:
        return sample_sync(call, n)
    finally:
        close()


CLIENTS = [("async client", ours_async, floor_async), ("SyncClient", ours_sync, floor_sync)]
PLACEMENTS = [
    ("thread (RunningNode)", node_in_thread, echo_in_thread),
    ("process (colony serve)", node_in_process, echo_in_process),
]


def measure(folder: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows for every placement and client, and the size of one reply line."""
    rows, reply_size = [], 0
    for placement, start_node, start_echo in PLACEMENTS:
        progress(f"control: node in a {placement}")
        with start_node(folder) as node_path:
            status_call, close = raw_sync_caller(node_path)
            status = status_call()
            close()
            reply_size = len(json.dumps({"jsonrpc": "2.0", "id": 1, "result": status}, separators=(",", ":"))) + 1
            with start_echo(folder, status) as echo_path:
                for client, ours, floor in CLIENTS:
                    samples: dict[str, list[float]] = {"ours": [], "floor": []}
                    for _ in range(ROUNDS):  # take turns, so both see the same machine
                        samples["ours"] += ours(node_path, REQUESTS // ROUNDS)
                        samples["floor"] += floor(echo_path, REQUESTS // ROUNDS)
                    rows.append(row(placement, client, samples["ours"], samples["floor"]))
    return rows, reply_size


def row(placement: str, client: str, ours: list[float], floor: list[float]) -> dict[str, Any]:
    """One table row: our percentiles and rate, the floor's, and the ratios."""
    mine = {k: v * 1e6 for k, v in percentiles(ours).items()}
    base = {k: v * 1e6 for k, v in percentiles(floor).items()}
    return {
        "node": placement,
        "client": client,
        **mine,
        "rps": len(ours) / sum(ours),
        "floor_p50": base["p50"],
        "floor_p99": base["p99"],
        "floor_rps": len(floor) / sum(floor),
        "p50_ratio": ratio(mine["p50"], base["p50"]),
        "p99_ratio": ratio(mine["p99"], base["p99"]),
        "p50_under_1ms": "yes" if mine["p50"] < TARGET_P50_US else "no",
    }


def serve_echo_main(path: str, reply: str) -> None:
    """Entry point of the floor server's child process."""
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    trio.run(echo_server, path, json.loads(Path(reply).read_text()))


def extra_args(parser: argparse.ArgumentParser) -> None:
    """The hidden options that start the floor server in a child process."""
    parser.add_argument("--serve-echo", help=argparse.SUPPRESS)
    parser.add_argument("--reply", help=argparse.SUPPRESS)


def main() -> None:
    """Run the benchmark and print its table."""
    args = parse_args(__doc__, extra_args)
    if args.serve_echo:
        serve_echo_main(args.serve_echo, args.reply)
        return
    folder = Path(tempfile.mkdtemp(prefix="cb-", dir="/tmp"))  # short: socket paths max out at 107 bytes
    try:
        rows, reply_size = measure(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = Table(
        "Control protocol: node.status round trip (microseconds) vs a raw JSON-line echo (the floor)",
        {
            "node": "node runs in",
            "client": "client",
            "p50": "p50",
            "p90": "p90",
            "p99": "p99",
            "rps": "req/s",
            "floor_p50": "floor p50",
            "floor_p99": "floor p99",
            "floor_rps": "floor req/s",
            "p50_ratio": "p50 ratio",
            "p99_ratio": "p99 ratio",
            "p50_under_1ms": "p50<1ms",
        },
        rows,
        [
            "The floor is a minimal trio server that json-decodes each line and replies with the same status "
            f"object ({reply_size} bytes); it runs where the node runs (thread or child process).",
            "Floor clients: a raw trio socket stream for our async client, a raw blocking socket for SyncClient.",
            "ratio = ours / floor (lower is better). In the thread rows the node, the floor server and the client "
            "share one GIL.",
            f"{REQUESTS} sequential requests per figure (after {WARMUP} warm-up), ours and floor taking turns "
            f"in {ROUNDS} rounds; req/s = requests / total time. The issue's target: p50 under 1 ms.",
        ],
    )
    report("bench_control", [table], args.json)


if __name__ == "__main__":
    main()
