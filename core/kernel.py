"""The kernel: one `trio.run` that owns the store, bus, plugins, heartbeat and control server."""

from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from . import methods
from .audit import AuditLog
from .budgets import Budgets
from .config import Config
from .context import Registry
from .control import ControlServer
from .dispatch import Dispatcher, PluginManager
from .events import Bus, NodeLifecycle
from .heartbeat import Heartbeat
from .host import KERNEL_NS, Host
from .paths import default_socket, secret_file
from .store import Store, encode_key, pack

log = logging.getLogger("colony.kernel")


class Kernel:
    """A node: build it with a config and a home folder, then `await kernel.run()`."""

    def __init__(self, config: Config, home: Path, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.home = home
        self.clock = clock
        self.name: str = config["node.name"]
        home.mkdir(parents=True, exist_ok=True)
        self.store = Store(
            home / "state.lmdb", config["store.map_size"], config["store.max_dbs"], config["store.batch_max"]
        )
        self.node_id = self._node_id()
        self.bus = Bus(config["bus.channel_size"], config["bus.recent"], clock)
        self.audit = AuditLog(self.store, config["audit.topics"])
        self.bus.sinks.append(self.audit.sink)
        self.budgets = Budgets.from_config(config, clock, self.bus.publish)
        self.budgets.load(self.store)
        self.pm = PluginManager()
        self.dispatcher = Dispatcher(self.pm)
        self.registry = Registry()
        self.host = Host(self)
        self.heartbeat = Heartbeat(self)
        self.control = ControlServer(self)
        self.control_token = ""
        methods.register(self)
        configured = config["control.socket"]
        self.socket_path: Path | None = Path(configured).expanduser() if configured else default_socket(self.name)
        self.tcp_port: int | None = None
        self.started_at = time.time()
        self._stop = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def nursery(self) -> trio.Nursery:
        """The kernel's root nursery, where plugins' homes live."""
        if self._nursery is None:
            raise RuntimeError("the kernel is not running")
        return self._nursery

    def _node_id(self) -> str:
        node_id = self.store.get(KERNEL_NS, "node_id")
        if node_id is None:
            node_id = uuid.uuid4().hex
            self.store.commit_sync([("put", KERNEL_NS, encode_key("node_id"), pack(node_id))])
        return str(node_id)

    def _token(self) -> str:
        configured: str = self.config["control.token"]
        if configured:
            return configured
        return secret_file(self.home / "control.token")

    async def run(self, *, task_status: trio.TaskStatus[Kernel] = trio.TASK_STATUS_IGNORED, signals: bool = False) -> None:
        """Start everything, serve until asked to stop (or SIGINT/SIGTERM), then stop cleanly.

        A failure (say, the socket is taken) is raised as itself rather than inside an exception group.
        """
        try:
            await self._run(task_status, signals)
        except BaseExceptionGroup as group:
            leaves = group.exceptions
            while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
                leaves = leaves[0].exceptions
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    async def _run(self, task_status: trio.TaskStatus[Kernel], signals: bool) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.socket_path is not None:
                    await nursery.start(self.control.serve_unix, self.socket_path)
                if self.config["control.tcp"]:
                    host, _, port = self.config["control.tcp"].rpartition(":")
                    self.control_token = self._token()
                    self.tcp_port = await nursery.start(self.control.serve_tcp, host or "127.0.0.1", int(port))
                if signals:
                    nursery.start_soon(self._watch_signals)
                self.started_at = time.time()
                self.bus.publish(NodeLifecycle("starting", self.node_id))
                await self.host.start_all()
                beat = trio.CancelScope()
                if self.config["heartbeat.enabled"]:
                    nursery.start_soon(self._beat, beat)
                self.bus.publish(NodeLifecycle("running", self.node_id))
                task_status.started(self)
                await self._stop.wait()
                beat.cancel()
                await self._shutdown()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self.store.close()

    async def _beat(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.heartbeat.run()

    async def _shutdown(self) -> None:
        self.bus.publish(NodeLifecycle("stopping", self.node_id))
        with trio.move_on_after(self.config["node.shutdown_timeout"]) as budget:
            await self.host.stop_all()
        if budget.cancelled_caught:
            log.warning("plugins did not stop within %ss; cancelling", self.config["node.shutdown_timeout"])
        await self.budgets.save(self.store)
        self.bus.publish(NodeLifecycle("stopped", self.node_id))

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            async for signum in received:
                log.info("received %s; stopping", signal.Signals(signum).name)
                self.request_stop()
                return

    def request_stop(self) -> None:
        """Ask the node to stop; `run` returns once everything has stopped."""
        self._stop.set()

    def metrics(self) -> dict[str, Any]:
        """The kernel's own gauges."""
        running = sum(1 for p in self.host.plugins.values() if p.state == "running")
        return {
            **self.heartbeat.metrics(),
            "plugins_running": running,
            "events_published": self.bus.published,
            "events_dropped": self.bus.dropped,
            "hook_errors": sum(s.errors for s in self.dispatcher.stats.values()),
            "rpc_requests": self.control.requests,
            "rpc_connections": self.control.connections,
            "store_commits": self.store.stats.commits,
            "store_operations": self.store.stats.operations,
            "store_grows": self.store.stats.grows,
            "store_failures": self.store.stats.failures,
            "uptime": round(time.time() - self.started_at, 3),
        }
