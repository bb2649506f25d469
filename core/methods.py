"""The kernel's own RPC methods: rpc.*, node.*, plugins.*, hooks.*, events.*, audit.*."""

from __future__ import annotations

import hmac
import inspect
import itertools
import os
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from . import __version__, hookspecs, rpc
from .config import shown
from .context import Registrar
from .control import Session
from .events import topic_matches
from .host import Plugin, PluginError
from .rpc import RPCError

if TYPE_CHECKING:
    from .kernel import Kernel

_subscription_ids = itertools.count(1)


def register(kernel: Kernel) -> None:
    """Register every kernel method under the owner "kernel"."""
    reg = Registrar("kernel", kernel.registry)
    m = KernelMethods(kernel)
    for name, handler, destructive in [
        ("rpc.hello", m.hello, False),
        ("rpc.methods", m.methods, False),
        ("node.status", m.status, False),
        ("node.metrics", m.metrics, False),
        ("node.tick", m.tick, False),
        ("node.ticks", m.ticks, False),
        ("node.budgets", m.budgets, False),
        ("node.stop", m.stop, True),
        ("plugins.list", m.plugins_list, False),
        ("plugins.info", m.plugins_info, False),
        ("plugins.health", m.plugins_health, False),
        ("plugins.load", m.plugins_load, True),
        ("plugins.unload", m.plugins_unload, True),
        ("plugins.reload", m.plugins_reload, True),
        ("plugins.swap", m.plugins_swap, True),
        ("plugins.enable", m.plugins_enable, True),
        ("plugins.disable", m.plugins_disable, True),
        ("panels.list", m.panels_list, False),
        ("panels.get", m.panels_get, False),
        ("hooks.list", m.hooks_list, False),
        ("events.subscribe", m.events_subscribe, False),
        ("events.unsubscribe", m.events_unsubscribe, False),
        ("events.recent", m.events_recent, False),
        ("audit.verify", m.audit_verify, False),
        ("audit.entries", m.audit_entries, False),
    ]:
        reg.rpc(name, handler, destructive=destructive)


class KernelMethods:
    """Handlers bound to one kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    # -- rpc.* -------------------------------------------------------------------------

    async def hello(self, session: Session, protocol: int = rpc.PROTOCOL_VERSION, client: str = "", token: str = "") -> dict[str, Any]:
        """Handshake: exchange protocol version, colony version and node id (TCP clients give the token)."""
        if protocol != rpc.PROTOCOL_VERSION:
            raise RPCError(rpc.INVALID_REQUEST, f"this node speaks protocol {rpc.PROTOCOL_VERSION}, not {protocol}")
        if not session.authenticated:
            if not token or not hmac.compare_digest(token.encode(), self.kernel.control_token.encode()):
                raise RPCError(rpc.UNAUTHORIZED, "wrong or missing token")
            session.authenticated = True
        k = self.kernel
        return {"protocol": rpc.PROTOCOL_VERSION, "colony": __version__, "node": k.node_id, "name": k.name, "session": session.id}

    async def methods(self) -> list[dict[str, Any]]:
        """Every RPC method: name, owner, params, whether destructive, and its summary."""
        server = self.kernel.control
        found = [server.method(reg.key) for reg in self.kernel.registry.items("rpc")]
        return sorted((m.describe() for m in found if m is not None), key=lambda d: d["name"])

    # -- node.* ------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """Node id, name, version, home, socket, uptime, heartbeat, plugins by state, events, store."""
        k = self.kernel
        states = Counter(p.state for p in k.host.plugins.values())
        return {
            "node": k.node_id,
            "name": k.name,
            "colony": __version__,
            "pid": os.getpid(),
            "home": str(k.home),
            "socket": str(k.socket_path) if k.socket_path else None,
            "tcp_port": k.tcp_port,
            "started_at": k.started_at,
            "uptime": round(time.time() - k.started_at, 3),
            "heartbeat": {
                "enabled": k.config["heartbeat.enabled"],
                "interval": k.config["heartbeat.interval"],
                **k.heartbeat.metrics(),
                "last_tick_at": k.heartbeat.last.started if k.heartbeat.last else None,
            },
            "plugins": dict(states),
            "events": {"published": k.bus.published, "dropped": k.bus.dropped, "subscribers": k.bus.subscribers},
            "errors": sum(s.errors for s in k.dispatcher.stats.values()),
            "control": {"connections": k.control.connections, "requests": k.control.requests},
            "store": {"path": str(k.store.path), "map_size": k.store.map_size(), "commits": k.store.stats.commits},
        }

    async def metrics(self) -> dict[str, dict[str, Any]]:
        """Gauges: the kernel's own, then each plugin's `colony_metrics`."""
        k = self.kernel
        gauges: dict[str, dict[str, Any]] = {"kernel": k.metrics()}
        for plugin, values in await k.dispatcher.collect("colony_metrics"):
            if isinstance(values, dict):
                gauges[plugin] = values
        return gauges

    async def tick(self) -> dict[str, Any]:
        """Run one heartbeat tick now and return its record."""
        return (await self.kernel.heartbeat.tick()).to_dict()

    async def ticks(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent persisted tick records, oldest first."""
        return await self.kernel.heartbeat.recent(max(1, min(limit, 1000)))

    async def budgets(self) -> dict[str, Any]:
        """Budgets: each kind's use and limits this tick and today, and the repeat guard's recent calls and trips."""
        return self.kernel.budgets.snapshot()

    async def stop(self) -> dict[str, Any]:
        """Stop the node cleanly."""
        self.kernel.request_stop()
        return {"stopping": True}

    # -- plugins.* ---------------------------------------------------------------------

    async def _operate(self, operation: Awaitable[Plugin]) -> dict[str, Any]:
        """Run a host operation; the plugin's row, or its refusal as a JSON-RPC error."""
        try:
            return self.kernel.host.describe(await operation)
        except PluginError as exc:
            raise RPCError(rpc.OPERATION_FAILED, str(exc)) from None

    async def plugins_list(self) -> list[dict[str, Any]]:
        """Every plugin: source, version, state, hooks, calls, latency, errors, quarantine reason."""
        host = self.kernel.host
        await host.refresh()
        return [host.describe(p) for p in sorted(host.plugins.values(), key=lambda p: p.name)]

    async def plugins_info(self, name: str) -> dict[str, Any]:
        """One plugin in full, with its config, manifest and registrations."""
        host = self.kernel.host
        plugin = host.plugins.get(name)
        if plugin is None:
            raise RPCError(rpc.OPERATION_FAILED, f"no plugin named {name!r}")
        info = host.describe(plugin)
        info["config"] = shown(plugin.manifest.config, plugin.config) if plugin.manifest else plugin.config
        info["manifest"] = plugin.manifest.to_dict() if plugin.manifest else None
        info["hook_stats"] = {
            hook: stats.to_dict() for hook, stats in self.kernel.dispatcher.stats_for(name).hooks.items()
        }
        info["recent_errors"] = list(host.errors.get(name, ()))
        return info

    async def plugins_health(self, name: str | None = None) -> dict[str, Any]:
        """Health of one running plugin, or of all of them."""
        host = self.kernel.host
        names = [name] if name else [p.name for p in host.plugins.values() if p.state == "running"]
        try:
            return {n: await host.health(n) for n in names}
        except PluginError as exc:
            raise RPCError(rpc.OPERATION_FAILED, str(exc)) from None

    async def plugins_load(self, name: str) -> dict[str, Any]:
        """Load and start a plugin."""
        return await self._operate(self.kernel.host.load(name))

    async def plugins_unload(self, name: str) -> dict[str, Any]:
        """Stop a plugin and undo everything it registered."""
        return await self._operate(self.kernel.host.unload(name))

    async def plugins_reload(self, name: str) -> dict[str, Any]:
        """Blue/green swap a plugin for a fresh import of its own source."""
        return await self._operate(self.kernel.host.reload(name))

    async def plugins_enable(self, name: str) -> dict[str, Any]:
        """Forget an operator's disable and load the plugin."""
        return await self._operate(self.kernel.host.enable(name))

    async def plugins_disable(self, name: str) -> dict[str, Any]:
        """Unload a plugin and keep it from loading at start, across restarts, until enabled."""
        return await self._operate(self.kernel.host.disable(name))

    async def plugins_swap(
        self, name: str, path: str | None = None, source: str | None = None, installed: bool = False
    ) -> dict[str, Any]:
        """Blue/green swap a plugin for the code at `path` on the node, for `source` text, or for its installed version."""
        if [path is not None, source is not None, installed].count(True) != 1:
            raise RPCError(rpc.INVALID_PARAMS, "give exactly one of path, source or installed")
        if name not in self.kernel.host.plugins:
            raise RPCError(rpc.OPERATION_FAILED, f"no plugin named {name!r}"[:200])
        target: Path | None = None
        if source is not None:
            folder = self.kernel.home / "swaps"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{name}-{time.time_ns()}.py"
            await trio.Path(target).write_text(source)
        elif path is not None:
            target = Path(path).expanduser()
            if not target.is_file():
                raise RPCError(rpc.OPERATION_FAILED, f"no such file on the node: {target}")
        return await self._operate(self.kernel.host.swap(name, target, installed))

    # -- panels.* ----------------------------------------------------------------------

    async def panels_list(self) -> list[dict[str, Any]]:
        """Every data panel plugins registered for the TUI: name, owner and title."""
        regs = sorted(self.kernel.registry.items("panel"), key=lambda r: r.key)
        return [{"name": r.key, "owner": r.owner, "title": r.meta.get("title", r.key)} for r in regs]

    async def panels_get(self, name: str) -> dict[str, Any]:
        """A panel's current data: any of gauges, series, table and text."""
        reg = self.kernel.registry.get("panel", name)
        if reg is None:
            raise RPCError(rpc.OPERATION_FAILED, f"no panel named {name!r}"[:200])
        data = reg.value()
        if inspect.isawaitable(data):
            data = await data
        if not isinstance(data, dict):
            raise RPCError(rpc.INTERNAL_ERROR, f"panel {name!r} returned {type(data).__name__}, not a dict")
        return {"name": reg.key, "owner": reg.owner, "title": reg.meta.get("title", reg.key), "data": data}

    # -- hooks.* -----------------------------------------------------------------------

    async def hooks_list(self) -> list[dict[str, Any]]:
        """Every hook with its signature and its implementations in call order."""
        d = self.kernel.dispatcher
        rows = []
        for name in sorted(n for n in dir(hookspecs) if n.startswith("colony_")):
            spec = getattr(hookspecs, name)
            opts = getattr(spec, "colony_spec", {}) or {}
            rows.append(
                {
                    "name": name,
                    "signature": f"{name}{inspect.signature(spec)}",
                    "firstresult": bool(opts.get("firstresult")),
                    "doc": (inspect.getdoc(spec) or "").split("\n")[0],
                    "implementations": [
                        {"plugin": impl.plugin, **impl.hook_stats.to_dict()} for impl in d.plan(name)
                    ],
                }
            )
        return rows

    # -- events.* ----------------------------------------------------------------------

    async def events_subscribe(self, session: Session, topics: list[str] | None = None) -> dict[str, Any]:
        """Stream events whose topic matches `topics` (globs) as `event` notifications."""
        if topics is not None and not all(isinstance(t, str) for t in topics):
            raise RPCError(rpc.INVALID_PARAMS, "topics must be a list of strings")
        sub = self.kernel.bus.subscribe(topics or ())
        sub_id = next(_subscription_ids)
        session.subscriptions[sub_id] = sub
        assert session.nursery is not None
        session.nursery.start_soon(self._pump, session, sub_id, sub)
        return {"subscription": sub_id}

    @staticmethod
    async def _pump(session: Session, sub_id: int, sub: Any) -> None:
        async for envelope in sub:
            params = {"subscription": sub_id, "dropped": sub.dropped, **envelope.to_dict()}
            await session.send({"jsonrpc": "2.0", "method": "event", "params": params})

    async def events_unsubscribe(self, session: Session, subscription: int) -> dict[str, Any]:
        """End a subscription."""
        sub = session.subscriptions.pop(subscription, None)
        if sub is None:
            raise RPCError(rpc.INVALID_PARAMS, f"no subscription {subscription}")
        sub.close()
        return {"subscription": subscription, "dropped": sub.dropped}

    async def events_recent(self, limit: int = 100, topics: list[str] | None = None) -> list[dict[str, Any]]:
        """The most recent events held in memory, oldest first."""
        events = [e for e in self.kernel.bus.recent if not topics or topic_matches(e.topic, topics)]
        return [e.to_dict() for e in events[-max(1, min(limit, 10000)) :]]

    # -- audit.* -----------------------------------------------------------------------

    async def audit_verify(self) -> dict[str, Any]:
        """Check the whole hash chain; reports the first entry that does not hold."""
        return (await trio.to_thread.run_sync(self.kernel.audit.verify)).to_dict()

    async def audit_entries(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Audit log entries after sequence number `after`, oldest first (for replay)."""
        return self.kernel.audit.entries(after, max(1, min(limit, 1000)))
