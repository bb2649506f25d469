"""The kernel's async hook dispatcher over pluggy's registrations: ordered, pruned, timed, isolated."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import pluggy
import trio

from . import hookspecs


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the `colony` project; unmarked `colony_*` functions count as hooks."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("colony_") and inspect.isroutine(getattr(plugin, name, None)):
            return {}  # type: ignore[typeddict-item]
        return opts


@dataclass
class CallStats:
    """Calls, failures and time spent, for one plugin or one of its hooks."""

    calls: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def mean_ms(self) -> float:
        """Mean latency in milliseconds."""
        return 1000 * self.seconds / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the protocol."""
        return {"calls": self.calls, "errors": self.errors, "mean_ms": round(self.mean_ms, 4)}


@dataclass
class PluginStats(CallStats):
    """A plugin's totals, its per-hook figures and its current failure streak."""

    consecutive_failures: int = 0
    last_error: str = ""
    hooks: dict[str, CallStats] = field(default_factory=dict)


@dataclass(slots=True)
class Impl:
    """One hook implementation, ready to call."""

    plugin: str
    function: Callable[..., Any]
    argnames: tuple[str, ...]
    is_async: bool
    stats: PluginStats
    hook_stats: CallStats


FailureHandler = Callable[[str, str, BaseException], None]


class Dispatcher:
    """Calls hooks on active plugins in pluggy's order and awaits what is async."""

    def __init__(self, pm: PluginManager, on_failure: FailureHandler | None = None) -> None:
        self.pm = pm
        self.on_failure = on_failure
        self.active: set[str] = set()
        self.stats: dict[str, PluginStats] = {}
        # Tasks whose timeouts want a culprit (the heartbeat's), and who was cut off in them.
        self.watched: set[trio.lowlevel.Task] = set()
        self.interrupted: dict[trio.lowlevel.Task, Impl] = {}
        self._plans: dict[str, tuple[Impl, ...]] = {}

    def activate(self, plugin: str) -> None:
        """Let `plugin` receive broadcast hooks."""
        self.active.add(plugin)
        self._plans.clear()

    def deactivate(self, plugin: str) -> None:
        """Stop broadcasting hooks to `plugin`."""
        self.active.discard(plugin)
        self._plans.clear()

    def replace(self, old: str, new: str) -> None:
        """Atomically switch broadcast hooks from `old` to `new`."""
        self.active.discard(old)
        self.active.add(new)
        self._plans.clear()

    def invalidate(self) -> None:
        """Forget cached call plans after pluggy registrations change."""
        self._plans.clear()

    def stats_for(self, plugin: str) -> PluginStats:
        """The (possibly new) statistics record of `plugin`."""
        stats = self.stats.get(plugin)
        if stats is None:
            stats = self.stats[plugin] = PluginStats()
        return stats

    def _impls(self, hook: str, plugins: set[str] | frozenset[str] | None = None) -> tuple[Impl, ...]:
        caller = getattr(self.pm.hook, hook)
        chosen = self.active if plugins is None else plugins
        impls = []
        # pluggy calls the last of get_hookimpls() first (LIFO within tryfirst/trylast buckets).
        for hookimpl in reversed(caller.get_hookimpls()):
            if hookimpl.plugin_name not in chosen or hookimpl.opts.get("wrapper") or hookimpl.opts.get("hookwrapper"):
                continue
            # During a swap the new version is registered as "name#N"; figures stay under "name".
            name = hookimpl.plugin_name.partition("#")[0]
            stats = self.stats_for(name)
            impls.append(
                Impl(
                    name,
                    hookimpl.function,
                    tuple(hookimpl.argnames),
                    inspect.iscoroutinefunction(hookimpl.function),
                    stats,
                    stats.hooks.setdefault(hook, CallStats()),
                )
            )
        return tuple(impls)

    def plan(self, hook: str) -> tuple[Impl, ...]:
        """The implementations `hook` calls now, in order (cached until registrations change)."""
        plan = self._plans.get(hook)
        if plan is None:
            plan = self._plans[hook] = self._impls(hook)
        return plan

    async def collect(self, hook: str, into: dict[str, Any] | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation; return `(plugin, result)` for each non-None result.

        With `into`, each result is also stored at `into[plugin]` as it comes, so implementations
        that run later can read the earlier ones (the heartbeat passes `step.appraisals`).
        """
        results: list[tuple[str, Any]] = []
        for impl in self.plan(hook):
            result = await self._call(impl, hook, kwargs)
            if result is not None and result is not _FAILED:
                results.append((impl.plugin, result))
                if into is not None:
                    into[impl.plugin] = result
        return results

    async def first(self, hook: str, **kwargs: Any) -> tuple[str, Any] | None:
        """Call implementations until one returns non-None; return `(plugin, result)`."""
        for impl in self.plan(hook):
            result = await self._call(impl, hook, kwargs)
            if result is not None and result is not _FAILED:
                return impl.plugin, result
        return None

    async def call_plugin(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of `hook` (if any); its exceptions propagate."""
        for impl in self._impls(hook, frozenset((plugin,))):
            start = perf_counter()
            try:
                result = impl.function(*[kwargs[name] for name in impl.argnames])
                if impl.is_async:
                    result = await result
            finally:
                self._record(impl, perf_counter() - start)
            return result
        return None

    async def _call(self, impl: Impl, hook: str, kwargs: dict[str, Any]) -> Any:
        start = perf_counter()
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
            if impl.is_async:
                try:
                    result = await result
                except trio.Cancelled:
                    task = trio.lowlevel.current_task()
                    if task in self.watched:
                        self.interrupted[task] = impl
                    raise
        except Exception as exc:
            self._record(impl, perf_counter() - start)
            self.fail(impl.plugin, hook, exc, impl)
            return _FAILED
        self._record(impl, perf_counter() - start)
        impl.stats.consecutive_failures = 0
        return result

    @staticmethod
    def _record(impl: Impl, seconds: float) -> None:
        impl.stats.calls += 1
        impl.stats.seconds += seconds
        impl.hook_stats.calls += 1
        impl.hook_stats.seconds += seconds

    def fail(self, plugin: str, where: str, exc: BaseException, impl: Impl | None = None, streak: bool = True) -> None:
        """Count a failure of `plugin` and report it; used for hooks, tasks and RPC methods.

        Failures with `streak` count towards quarantine; RPC failures do not, so a
        client's bad requests cannot get a plugin quarantined.
        """
        stats = self.stats_for(plugin)
        stats.errors += 1
        if streak:
            stats.consecutive_failures += 1
        stats.last_error = f"{where}: {type(exc).__name__}: {exc}"
        if impl is not None:
            impl.hook_stats.errors += 1
        if self.on_failure is not None:
            self.on_failure(plugin, where, exc)


_FAILED = object()
