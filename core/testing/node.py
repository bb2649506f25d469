"""A real node running in a background thread, and a blocking client that speaks the protocol."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

from colony.core.config import Config
from colony.core.kernel import Kernel
from colony.core.rpc import RPCError

from .clock import FakeClock


class SyncClient:
    """A blocking JSON-RPC client for tests and scripts."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self._ids = itertools.count(1)

    def call(self, method: str, /, **params: Any) -> Any:
        """Call `method`; returns its result or raises `RPCError`."""
        req_id = next(self._ids)
        self.sock.sendall(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).encode() + b"\n")
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("the node closed the connection")
            reply = json.loads(line)
            if reply.get("id") == req_id:
                break
        if "error" in reply:
            raise RPCError(reply["error"]["code"], reply["error"]["message"], reply["error"].get("data"))
        return reply["result"]

    def close(self) -> None:
        """Close the connection."""
        self.file.close()
        self.sock.close()


class RunningNode:
    """A node in its own thread and trio run; stop it with `stop()` or use it as a context manager.

    `plugins` is the allowlist, as `plugins.load` is: empty (the default) loads none, None loads all.
    """

    def __init__(
        self,
        home: Path,
        plugins: Sequence[str] | None = (),
        config: dict[str, Any] | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.home = home
        self._sockdir = Path(tempfile.mkdtemp(prefix="colony-", dir="/tmp"))
        self.socket = self._sockdir / "node.sock"
        overrides: dict[str, Any] = {
            "heartbeat": {"enabled": False},
            "control": {"socket": str(self.socket)},
            "plugins": {"load": list(plugins) if plugins is not None else None},
        }
        for section, values in (config or {}).items():
            overrides.setdefault(section, {}).update(values)
        self.config = Config(environ={}, overrides=overrides)
        self.clock = clock
        self.kernel: Kernel | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, name="colony-test-node", daemon=True)
        self._client: SyncClient | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> RunningNode:
        """Start the node and wait until it serves its socket."""
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise RuntimeError(f"the node failed to start: {self._error!r}") from self._error
        return self

    def _thread_main(self) -> None:
        try:
            if self.clock is not None:
                trio.run(self._main, clock=self.clock.trio_clock)
            else:
                trio.run(self._main)
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        wall = self.clock.wall if self.clock is not None else time.time
        kernel = Kernel(self.config, self.home, clock=wall)
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self.kernel = await nursery.start(kernel.run)
            self._ready.set()

    def stop(self) -> None:
        """Stop the node cleanly and wait for its thread."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.kernel is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):  # it may have just stopped itself
                trio.from_thread.run_sync(self.kernel.request_stop, trio_token=self._token)
        self._thread.join(30)
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def __enter__(self) -> RunningNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- using it ----------------------------------------------------------------------

    @property
    def client(self) -> SyncClient:
        """A connected blocking client (opened on first use)."""
        if self._client is None:
            self._client = SyncClient(self.socket)
        return self._client

    def call(self, method: str, /, **params: Any) -> Any:
        """Call an RPC method over the real socket."""
        return self.client.call(method, **params)

    def tick(self) -> dict[str, Any]:
        """Run one heartbeat tick and return its record."""
        return self.call("node.tick")

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run `await fn(*args)` inside the node's trio thread."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    @property
    def dropin_dir(self) -> Path:
        """The node's drop-in plugin folder."""
        path = self.home / "plugins"
        path.mkdir(parents=True, exist_ok=True)
        return path


@contextlib.contextmanager
def temporary_plugin(node: RunningNode, plugin: str | ModuleType | Path, name: str | None = None) -> Iterator[dict[str, Any]]:
    """Load a plugin (source text, a module or a file) into `node` as a drop-in; unload it after."""
    if isinstance(plugin, ModuleType):
        if plugin.__file__ is None:
            raise ValueError(f"{plugin.__name__} has no source file")
        source = Path(plugin.__file__).read_text()
        name = name or plugin.PLUGIN.name
    elif isinstance(plugin, Path):
        source = plugin.read_text()
        name = name or plugin.stem
    else:
        source = plugin
    if not name:
        raise ValueError("give the plugin's name for source text")
    path = node.dropin_dir / f"{name}.py"
    path.write_text(source)
    try:
        yield node.call("plugins.load", name=name)
        with contextlib.suppress(RPCError):
            node.call("plugins.unload", name=name)
    finally:
        path.unlink(missing_ok=True)
