"""The plugin host: load, start, stop, quarantine and blue/green swap, each step undoable."""

from __future__ import annotations

import graphlib
import itertools
import logging
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
import trio

from . import discovery
from .config import ConfigError
from .context import PluginContext, Registrar, RegistrationError
from .discovery import Source
from .events import PluginFailed, PluginStateChanged, SwapStage
from .manifest import Manifest, ManifestError, manifest_of

if TYPE_CHECKING:
    from .kernel import Kernel

KERNEL_NS = "_kernel"

log = logging.getLogger("colony.host")

# Lifecycle states shown to operators.
AVAILABLE, DISABLED, STARTING, RUNNING, STOPPING, STOPPED, FAILED, QUARANTINED = (
    "available", "disabled", "starting", "running", "stopping", "stopped", "failed", "quarantined"
)  # fmt: skip


class PluginError(Exception):
    """A plugin operation was refused or failed; the message says why."""


@dataclass
class Plugin:
    """One plugin as the host knows it, loaded or not."""

    name: str
    source: Source
    state: str = AVAILABLE
    reason: str = ""
    manifest: Manifest | None = None
    obj: Any = None
    modules: dict[str, ModuleType] = field(default_factory=dict)
    pm_name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    ctx: PluginContext | None = None
    registrar: Registrar | None = None
    scope: trio.CancelScope | None = None
    exited: trio.Event | None = None
    started_at: float = 0.0


class Host:
    """Owns every plugin's lifecycle; one operation runs at a time."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.plugins: dict[str, Plugin] = {}
        self.order: list[str] = []  # start order, for stopping in reverse
        self.errors: dict[str, deque[dict[str, Any]]] = {}  # recent failures per plugin, for operators
        self._lock = trio.Lock()
        self._generation = itertools.count(2)
        kernel.dispatcher.on_failure = self._on_failure

    # -- discovery ---------------------------------------------------------------------

    def dropin_dir(self) -> Path:
        """The folder of drop-in plugin files."""
        configured = self.kernel.config["plugins.dropin_dir"]
        return Path(configured).expanduser() if configured else self.kernel.home / "plugins"

    def allowed(self, name: str) -> bool:
        """Whether `name` may load at start: config's allowlist and disable list, and the operator's disables."""
        allow = self.kernel.config["plugins.load"]
        disabled = {*self.kernel.config["plugins.disable"], *self.operator_disabled()}
        return (allow is None or name in allow) and name not in disabled

    def operator_disabled(self) -> list[str]:
        """Plugins an operator disabled; they stay disabled across restarts until enabled."""
        return list(self.kernel.store.get(KERNEL_NS, "disabled", []))

    async def refresh(self) -> None:
        """Pick up newly installed or dropped-in plugins, and sources that changed."""
        # Scanning entry points and the drop-in folder takes milliseconds of file I/O: off the loop.
        found = await trio.to_thread.run_sync(discovery.discover, self.dropin_dir())
        for name, source in found.items():
            known = self.plugins.get(name)
            if known is None:
                self.plugins[name] = Plugin(name, source, AVAILABLE if self.allowed(name) else DISABLED)
            elif known.state in (AVAILABLE, DISABLED, STOPPED, FAILED):
                known.source = source

    # -- whole-node start and stop -----------------------------------------------------

    async def start_all(self) -> None:
        """Load every allowed plugin and start them in dependency order."""
        async with self._lock:
            await self.refresh()
            prepared: dict[str, Plugin] = {}
            batch = [plugin for plugin in self.plugins.values() if plugin.state == AVAILABLE]
            discovery.forget(plugin.source for plugin in batch)
            for plugin in batch:
                try:
                    prepared[plugin.name] = self._prepare(plugin.name, plugin.source, plugin.name, stay=True)
                except PluginError as exc:
                    self._set_state(plugin, FAILED, str(exc))
            for name in self._start_order(prepared):
                await self._start(prepared[name])

    def _start_order(self, prepared: dict[str, Plugin]) -> list[str]:
        graph: dict[str, set[str]] = {}
        for name, plugin in prepared.items():
            assert plugin.manifest is not None
            missing = [r for r in plugin.manifest.requires if r not in prepared and not self._running(r)]
            if missing:
                self._fail_prepared(plugin, f"requires {', '.join(map(repr, missing))}, which is not available")
            else:
                graph[name] = {r for r in plugin.manifest.requires if r in prepared}
        while True:
            try:
                return [name for name in graphlib.TopologicalSorter(graph).static_order() if name in graph]
            except graphlib.CycleError as exc:
                cycle = exc.args[1]
                for name in set(cycle):
                    self._fail_prepared(prepared[name], "dependency cycle: " + " -> ".join(cycle))
                    graph.pop(name, None)

    async def stop_all(self) -> None:
        """Stop every running plugin in reverse start order."""
        async with self._lock:
            for name in reversed(self.order):
                plugin = self.plugins.get(name)
                if plugin is not None and plugin.state == RUNNING:
                    await self._teardown(plugin, STOPPED, "node stopped")

    # -- operator actions --------------------------------------------------------------

    async def load(self, name: str) -> Plugin:
        """Load and start a plugin that is not running."""
        async with self._lock:
            await self.refresh()
            plugin = self._get(name)
            if plugin.state == RUNNING:
                raise PluginError(f"plugin {name!r} is already running")
            discovery.forget([plugin.source])
            prepared = self._prepare(name, plugin.source, name, stay=True)
            self._start_order({name: prepared})
            if prepared.state == FAILED:
                raise PluginError(prepared.reason)
            await self._start(prepared)
            if prepared.state != RUNNING:
                raise PluginError(prepared.reason)
            return prepared

    async def unload(self, name: str) -> Plugin:
        """Stop a running plugin and undo everything it registered."""
        async with self._lock:
            plugin = self._get(name)
            if plugin.state != RUNNING:
                raise PluginError(f"plugin {name!r} is not running (it is {plugin.state})")
            assert plugin.manifest is not None
            if not plugin.manifest.unloadable:
                raise PluginError(f"plugin {name!r} cannot be unloaded")
            dependents = [p.name for p in self.plugins.values() if p.state == RUNNING and p.manifest and name in p.manifest.requires]
            if dependents:
                raise PluginError(f"plugin {name!r} is required by {', '.join(sorted(dependents))}")
            await self._teardown(plugin, STOPPED, "unloaded by operator")
            return plugin

    async def disable(self, name: str) -> Plugin:
        """Unload a plugin if it runs, and keep it from loading at start until it is enabled."""
        plugin = self._get(name)
        if plugin.state == RUNNING:
            await self.unload(name)
        await self.kernel.store.namespace(KERNEL_NS).update("disabled", lambda names: sorted({*names, name}), default=[])
        self._set_state(plugin, DISABLED, "disabled by operator")
        return plugin

    async def enable(self, name: str) -> Plugin:
        """Forget an operator's disable and load the plugin."""
        self._get(name)
        await self.kernel.store.namespace(KERNEL_NS).update("disabled", lambda names: [n for n in names if n != name], default=[])
        if self.plugins[name].state == RUNNING:
            return self.plugins[name]
        return await self.load(name)

    async def reload(self, name: str) -> Plugin:
        """Swap a plugin for a fresh import of its own source."""
        return await self.swap(name, None)

    async def swap(self, name: str, path: Path | None, installed: bool = False) -> Plugin:
        """Blue/green: stage the new code, start it, check health, switch, then stop the old.

        The new code comes from `path`, from the installed distribution (`installed`), or
        else from the plugin's current source. Any failure before the switch rolls back:
        the old version keeps serving.
        """
        async with self._lock:
            await self.refresh()
            old = self._get(name)
            source = old.source
            if path is not None:
                source = Source("file", str(path.resolve()))
            elif installed:
                found = discovery.discover(None).get(name)
                if found is None:
                    raise PluginError(f"plugin {name!r} has no installed version (it is not an entry point)")
                source = found
            if old.state != RUNNING:
                raise PluginError(f"plugin {name!r} is not running (it is {old.state}); load it instead")
            assert old.manifest is not None
            if not old.manifest.unloadable:
                raise PluginError(f"plugin {name!r} cannot be swapped")
            self._stage(name, "staging", source.describe())
            new: Plugin | None = None
            try:
                new = self._prepare(name, source, f"{name}#{next(self._generation)}")
                self._stage(name, "validated")
                await self._boot(new)
                self._stage(name, "started")
                verdict = await self._health(new)
                if verdict is not True:
                    raise PluginError(f"new version reports unhealthy: {verdict}")
                self._stage(name, "healthy")
                assert new.registrar is not None and old.registrar is not None
                # The switch: registrations, hook routing and modules change with no await between.
                new.registrar.commit(replacing=old.registrar.held)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
                if new is not None and new.scope is not None:
                    await self._teardown(new, FAILED, reason, announce=False)
                elif new is not None and new.pm_name:
                    self._unregister(new)
                self._stage(name, "rolled-back", reason)
                raise PluginError(f"swap of {name!r} rolled back: {reason}") from None
            old.registrar.held = []
            self.kernel.dispatcher.replace(old.pm_name, new.pm_name)
            discovery.purge(old.modules)
            discovery.install(new.modules)
            stats = self.kernel.dispatcher.stats_for(name)
            stats.consecutive_failures = 0
            self.plugins[name] = new
            self._set_state(new, RUNNING, "")
            assert new.manifest is not None
            self._stage(name, "switched", f"{old.manifest.version} -> {new.manifest.version}")
            await self._teardown(old, STOPPED, "swapped out", announce=False)
            return new

    async def quarantine(self, name: str, reason: str) -> None:
        """Stop a plugin that keeps failing and keep it stopped, with the reason."""
        async with self._lock:
            plugin = self.plugins.get(name)
            if plugin is not None and plugin.state == RUNNING:
                await self._teardown(plugin, QUARANTINED, reason)

    async def health(self, name: str) -> bool | str:
        """Ask a running plugin for its health."""
        plugin = self._get(name)
        if plugin.state != RUNNING:
            return f"not running ({plugin.state})"
        return await self._health(plugin)

    # -- steps -------------------------------------------------------------------------

    def _get(self, name: str) -> Plugin:
        plugin = self.plugins.get(name)
        if plugin is None:
            raise PluginError(f"no plugin named {name!r}")
        return plugin

    def _running(self, name: str) -> bool:
        plugin = self.plugins.get(name)
        return plugin is not None and plugin.state == RUNNING

    def _prepare(self, name: str, source: Source, pm_name: str, *, stay: bool = False) -> Plugin:
        """Import, read the manifest, check config and validate hooks; nothing runs yet."""
        plugin = Plugin(name, source, STARTING, pm_name=pm_name)
        try:
            module, plugin.modules = discovery.import_fresh(source, stay=stay)
        except BaseException as exc:  # a plugin's import may raise anything, SystemExit included
            if isinstance(exc, (KeyboardInterrupt, trio.Cancelled)):
                raise
            raise PluginError(f"import failed: {type(exc).__name__}: {exc}") from None
        _, _, attr = source.target.partition(":")
        try:
            plugin.obj = getattr(module, attr) if attr else module
            plugin.manifest = manifest_of(plugin.obj, source.describe())
            if plugin.manifest.name != name:
                raise ManifestError(f"{source.describe()} declares plugin {plugin.manifest.name!r}, expected {name!r}")
            plugin.config = self.kernel.config.plugin_section(name, plugin.manifest.config)
        except (AttributeError, ManifestError, ConfigError) as exc:
            raise PluginError(str(exc)) from None
        self._register(plugin)
        return plugin

    def _register(self, plugin: Plugin) -> None:
        pm = self.kernel.pm
        try:
            pm.register(plugin.obj, name=plugin.pm_name)
            pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if pm.get_plugin(plugin.pm_name) is not None:
                pm.unregister(name=plugin.pm_name)
            raise PluginError(f"hook validation failed in {plugin.source.describe()}: {exc}") from None
        for caller in pm.get_hookcallers(plugin.obj) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin_name == plugin.pm_name and (impl.wrapper or impl.hookwrapper):
                    self._unregister(plugin)
                    raise PluginError(f"hook validation failed: {caller.name} is a wrapper, which colony does not run")
        self.kernel.dispatcher.invalidate()

    def _unregister(self, plugin: Plugin) -> None:
        if self.kernel.pm.get_plugin(plugin.pm_name) is not None:
            self.kernel.pm.unregister(name=plugin.pm_name)
        self.kernel.dispatcher.invalidate()

    def _fail_prepared(self, plugin: Plugin, reason: str) -> None:
        self._unregister(plugin)
        self.plugins[plugin.name] = plugin
        self._set_state(plugin, FAILED, reason)

    async def _start(self, plugin: Plugin) -> None:
        """Start a prepared plugin for the first time (not a swap)."""
        assert plugin.manifest is not None
        missing = [r for r in plugin.manifest.requires if not self._running(r)]
        self.plugins[plugin.name] = plugin
        if missing:
            self._fail_prepared(plugin, f"requires {', '.join(map(repr, missing))}, which is not running")
            return
        self._set_state(plugin, STARTING, "")
        try:
            await self._boot(plugin)
            assert plugin.registrar is not None
            plugin.registrar.commit()
        except Exception as exc:
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            await self._teardown(plugin, FAILED, reason, announce=True, call_stop=False)
            return
        discovery.install(plugin.modules)
        self.kernel.dispatcher.activate(plugin.pm_name)
        self.kernel.dispatcher.stats_for(plugin.name).consecutive_failures = 0
        if plugin.name in self.order:
            self.order.remove(plugin.name)
        self.order.append(plugin.name)
        self._set_state(plugin, RUNNING, "")

    async def _boot(self, plugin: Plugin) -> None:
        """Register (held back until the caller commits), open the plugin's nursery, run `colony_start`."""
        assert plugin.manifest is not None
        kernel = self.kernel
        plugin.registrar = Registrar(plugin.name, kernel.registry, staged=True)
        plugin.ctx = PluginContext(kernel, plugin.manifest, plugin.config, plugin.registrar)
        await self._lifecycle(plugin, "colony_register", registrar=plugin.registrar, ctx=plugin.ctx)
        plugin.exited = trio.Event()
        await kernel.nursery.start(self._run, plugin)
        limit = kernel.config["plugins.start_timeout"]
        try:
            with trio.fail_after(limit):
                await self._lifecycle(plugin, "colony_start", ctx=plugin.ctx)
        except trio.TooSlowError:
            raise PluginError(f"colony_start timed out after {limit}s") from None
        plugin.started_at = time.time()

    async def _lifecycle(self, plugin: Plugin, hook: str, **kwargs: Any) -> Any:
        try:
            return await self.kernel.dispatcher.call_plugin(plugin.pm_name, hook, **kwargs)
        except RegistrationError as exc:
            raise PluginError(str(exc)) from None
        except Exception as exc:
            raise PluginError(f"{hook} raised {type(exc).__name__}: {exc}") from exc

    async def _run(self, plugin: Plugin, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The plugin's home: its cancel scope and nursery live as long as it runs."""
        assert plugin.ctx is not None and plugin.exited is not None
        try:
            with trio.CancelScope() as scope:
                plugin.scope = scope
                async with trio.open_nursery() as nursery:
                    plugin.ctx.nursery = nursery
                    task_status.started()
                    await trio.sleep_forever()
        finally:
            plugin.exited.set()

    async def _health(self, plugin: Plugin) -> bool | str:
        limit = self.kernel.config["plugins.health_timeout"]
        try:
            with trio.fail_after(limit):
                verdict = await self._lifecycle(plugin, "colony_health", ctx=plugin.ctx)
        except PluginError as exc:
            return str(exc)
        except trio.TooSlowError:
            return f"colony_health timed out after {limit}s"
        if verdict is None or verdict is True:
            return True
        return str(verdict) if verdict is not False else "unhealthy"

    async def _teardown(
        self, plugin: Plugin, state: str, reason: str, announce: bool = True, call_stop: bool = True
    ) -> None:
        """Stop hook, cancel tasks, undo registrations, unregister hooks, purge modules."""
        kernel = self.kernel
        kernel.dispatcher.deactivate(plugin.pm_name)
        if announce:
            self._set_state(plugin, STOPPING, reason)
        if call_stop and plugin.ctx is not None and plugin.scope is not None:
            with trio.move_on_after(kernel.config["plugins.stop_timeout"]) as timeout:
                try:
                    await self._lifecycle(plugin, "colony_stop", ctx=plugin.ctx)
                except PluginError as exc:
                    self._report(plugin.name, "colony_stop", exc)
            if timeout.cancelled_caught:
                self._report(plugin.name, "colony_stop", TimeoutError("colony_stop timed out"))
        if plugin.scope is not None and plugin.exited is not None:
            plugin.scope.cancel()
            with trio.move_on_after(kernel.config["plugins.stop_timeout"]):
                await plugin.exited.wait()
        if plugin.registrar is not None:
            plugin.registrar.undo()
        if plugin.ctx is not None:
            plugin.ctx.close()
        self._unregister(plugin)
        discovery.purge(plugin.modules)
        plugin.scope = None
        if announce:
            self._set_state(plugin, state, reason)
        else:
            plugin.state, plugin.reason = state, reason

    # -- failures and events -----------------------------------------------------------

    def _on_failure(self, plugin: str, where: str, exc: BaseException) -> None:
        self._report(plugin, where, exc)
        stats = self.kernel.dispatcher.stats_for(plugin)
        limit = self.kernel.config["plugins.quarantine_after"]
        record = self.plugins.get(plugin)
        if limit and stats.consecutive_failures >= limit and record is not None and record.state == RUNNING:
            self.kernel.dispatcher.deactivate(record.pm_name)
            reason = f"{stats.consecutive_failures} consecutive failures; last: {stats.last_error}"
            self.kernel.nursery.start_soon(self.quarantine, plugin, reason)

    def _report(self, plugin: str, where: str, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(exc))
        error = f"{type(exc).__name__}: {exc}"
        log.warning("plugin %s failed in %s: %s", plugin, where, error)
        recent = self.errors.setdefault(plugin, deque(maxlen=20))
        recent.append({"ts": self.kernel.clock(), "where": where, "error": error, "traceback": tb})
        self.kernel.bus.publish(PluginFailed(plugin, where, error, tb), source=plugin)

    def _set_state(self, plugin: Plugin, state: str, reason: str) -> None:
        plugin.state, plugin.reason = state, reason
        self.kernel.bus.publish(PluginStateChanged(plugin.name, state, reason))

    def _stage(self, name: str, stage: str, detail: str = "") -> None:
        self.kernel.bus.publish(SwapStage(name, stage, detail))

    # -- introspection -----------------------------------------------------------------

    def describe(self, plugin: Plugin) -> dict[str, Any]:
        """One row of `plugins.list`."""
        stats = self.kernel.dispatcher.stats.get(plugin.name)
        hooks: list[str] = []
        if plugin.obj is not None and self.kernel.pm.get_plugin(plugin.pm_name) is not None:
            hooks = sorted(c.name for c in self.kernel.pm.get_hookcallers(plugin.obj) or ())
        return {
            "name": plugin.name,
            "version": plugin.manifest.version if plugin.manifest else "",
            "source": plugin.source.to_dict(),
            "source_text": plugin.source.describe(),
            "state": plugin.state,
            "reason": plugin.reason,
            "requires": list(plugin.manifest.requires) if plugin.manifest else [],
            "hooks": hooks,
            "calls": stats.calls if stats else 0,
            "errors": stats.errors if stats else 0,
            "mean_ms": round(stats.mean_ms, 4) if stats else 0.0,
            "last_error": stats.last_error if stats else "",
            "registrations": [r.describe() for r in (plugin.registrar.held if plugin.registrar else [])],
            "started_at": plugin.started_at,
        }
