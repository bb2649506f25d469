"""What a plugin gets: the registry it adds to (with undo), and its `PluginContext`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .events import Event, Notice, Subscription
from .manifest import Manifest
from .store import Namespace
from .tools import TOOL_NAME, schema_problem

if TYPE_CHECKING:
    from .budgets import Budgets
    from .dispatch import Dispatcher
    from .kernel import Kernel


class RegistrationError(ValueError):
    """A registration clashes with another plugin's or is malformed."""


@dataclass(frozen=True)
class Registration:
    """One thing a plugin added: an RPC method, a route, a panel, or any other kind."""

    kind: str
    key: str
    value: Any
    owner: str
    meta: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Plain data for the protocol (the value itself stays in-process)."""
        return {"kind": self.kind, "key": self.key, "owner": self.owner, **self.meta}


class Registry:
    """Every plugin's registrations, by kind and key; listeners hear of changes per kind."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registration]] = {}
        self.generation = 0  # bumped on every change, so readers can cache what they derive
        self.listeners: list[Callable[[str], None]] = []

    def get(self, kind: str, key: str) -> Registration | None:
        """The registration of `kind` at `key`, if any."""
        return self._items.get(kind, {}).get(key)

    def items(self, kind: str) -> list[Registration]:
        """All registrations of `kind`."""
        return list(self._items.get(kind, {}).values())

    def owned_by(self, owner: str) -> list[Registration]:
        """All registrations that `owner` made."""
        return [reg for regs in self._items.values() for reg in regs.values() if reg.owner == owner]

    def replace(self, remove: Iterable[Registration], add: Iterable[Registration]) -> None:
        """Remove some registrations and add others as one step, or change nothing on a clash."""
        remove, add = list(remove), list(add)
        leaving = {(r.kind, r.key) for r in remove}
        seen: set[tuple[str, str]] = set()
        for reg in add:
            held = self.get(reg.kind, reg.key)
            if (reg.kind, reg.key) in seen or (held is not None and (reg.kind, reg.key) not in leaving):
                owner = held.owner if held is not None else reg.owner
                raise RegistrationError(f"{reg.kind} {reg.key!r} is already registered by plugin {owner!r}")
            seen.add((reg.kind, reg.key))
        for reg in remove:
            if self.get(reg.kind, reg.key) is reg:
                del self._items[reg.kind][reg.key]
        for reg in add:
            self._items.setdefault(reg.kind, {})[reg.key] = reg
        self.generation += 1
        for kind in sorted({r.kind for r in (*remove, *add)}):
            for listener in tuple(self.listeners):
                listener(kind)


class Registrar:
    """A plugin's handle on the registry; it remembers everything so unload can undo it.

    A staged registrar holds its registrations back until `commit`: the host commits once
    `colony_start` succeeds, or at the switch of a swap, so the old version keeps serving meanwhile.
    """

    def __init__(self, plugin: str, registry: Registry, staged: bool = False) -> None:
        self.plugin = plugin
        self.registry = registry
        self.staged = staged
        self.held: list[Registration] = []

    def add(self, kind: str, key: str, value: Any, **meta: Any) -> Registration:
        """Register `value` under `kind`/`key`."""
        if not kind or not key:
            raise RegistrationError("a registration needs a kind and a key")
        reg = Registration(kind, key, value, self.plugin, meta)
        if self.staged:
            if any((r.kind, r.key) == (kind, key) for r in self.held):
                raise RegistrationError(f"{kind} {key!r} is registered twice by plugin {self.plugin!r}")
        else:
            self.registry.replace((), (reg,))
        self.held.append(reg)
        return reg

    def rpc(self, name: str, handler: Callable[..., Awaitable[Any] | Any], *, destructive: bool = False) -> None:
        """Add a control-protocol method; destructive ones are audited."""
        if "." not in name:
            raise RegistrationError(f"RPC method {name!r} needs a namespace, like 'pulse.stats'")
        self.add("rpc", name, handler, destructive=destructive, doc=(handler.__doc__ or "").strip())

    def route(self, method: str, path: str, handler: Callable[..., Any], *, price: int | None = None, **meta: Any) -> None:
        """Add an HTTP route to the node's public face (served by the gateway plugin).

        `price` in atomic token units puts it behind the x402 paywall; `meta` carries extras the
        gateway reads (`description`, `mime_type`, `settle_first`).
        """
        if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
            raise RegistrationError("a route's price is a non-negative integer in atomic units")
        if not path.startswith("/") or not method.isalpha():
            raise RegistrationError(f"a route needs an HTTP method and a path starting with '/', not {method!r} {path!r}")
        self.add("route", f"{method.upper()} {path}", handler, price=price, **meta)

    def panel(self, name: str, render: Callable[[], Any], *, title: str = "") -> None:
        """Add a data panel (gauges, series, tables or text) that the TUI draws."""
        self.add("panel", name, render, title=title or name)

    def model(self, name: str, model: Any, **meta: Any) -> None:
        """Add a neural model for the plugin that trains and serves models (the built-in `models`)."""
        self.add("model", name, model, **meta)

    def tool(self, name: str, handler: Callable[..., Any], *, description: str, parameters: dict[str, Any]) -> None:
        """Add a tool the node's agent may call: `handler(**args)` (sync or async) returns a JSON-able dict.

        `parameters` is a JSON-schema object; the handler raises `ToolError` for an expected failure.
        """
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise RegistrationError(f"tool name {name!r} must match {TOOL_NAME.pattern}")
        if not callable(handler):
            raise RegistrationError(f"tool {name!r} needs a callable handler")
        if not isinstance(description, str) or not description.strip():
            raise RegistrationError(f"tool {name!r} needs a description")
        problem = schema_problem(parameters)
        if problem is not None:
            raise RegistrationError(f"tool {name!r}: {problem}")
        self.add("tool", name, handler, description=description.strip(), parameters=parameters)

    def service(self, name: str, value: Any) -> None:
        """Offer an object to the plugins that declare this one in `requires`."""
        self.add("service", name, value)

    def commit(self, replacing: Iterable[Registration] = ()) -> None:
        """Apply held registrations (swapping out `replacing`) and stop staging."""
        self.registry.replace(replacing, self.held)
        self.staged = False

    def undo(self) -> None:
        """Remove everything this registrar applied."""
        if not self.staged:
            self.registry.replace(self.held, ())
        self.held = []


class PluginContext:
    """Everything a running plugin may use, scoped to that plugin."""

    def __init__(self, kernel: Kernel, manifest: Manifest, config: dict[str, Any], registrar: Registrar) -> None:
        self.name = manifest.name
        self.manifest = manifest
        self.config = config
        self.registrar = registrar
        self.log = logging.getLogger(f"colony.plugin.{manifest.name}")
        self.store: Namespace = kernel.store.namespace(manifest.name)
        self.home: Path = kernel.home
        self.node_id: str = kernel.node_id
        self.hooks: Dispatcher = kernel.dispatcher
        self.budgets: Budgets = kernel.budgets
        self._kernel = kernel
        self._subscriptions: list[Subscription] = []
        self.nursery: trio.Nursery | None = None

    def publish(self, event: Event | str, data: dict[str, Any] | None = None) -> None:
        """Publish a typed event, or a `Notice` built from a topic and data."""
        self._kernel.bus.publish(Notice(event, data or {}) if isinstance(event, str) else event, source=self.name)

    def subscribe(self, *patterns: str, size: int | None = None) -> Subscription:
        """Subscribe to topics; the subscription closes when the plugin unloads."""
        sub = self._kernel.bus.subscribe(patterns, size)
        self._subscriptions.append(sub)
        return sub

    def service(self, name: str) -> Any:
        """The object another plugin offers as service `name`; only from plugins this one requires."""
        reg = self._kernel.registry.get("service", name)
        if reg is None:
            raise LookupError(f"no plugin offers the service {name!r}")
        if reg.owner != self.name and reg.owner not in self.manifest.requires:
            raise LookupError(f"plugin {self.name!r} uses service {name!r} of plugin {reg.owner!r} without requiring it")
        return reg.value

    def registrations(self, kind: str) -> list[Registration]:
        """Every plugin's registrations of `kind`, for the plugin that serves that kind (routes, panels...)."""
        return self._kernel.registry.items(kind)

    @property
    def registry_generation(self) -> int:
        """A number that changes whenever any registration changes."""
        return self._kernel.registry.generation

    def start_task(self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None) -> None:
        """Run `fn(*args)` in the plugin's nursery; a crash is reported, never propagated."""
        if self.nursery is None:
            raise RuntimeError(f"plugin {self.name!r} can start tasks only once it is starting")
        self.nursery.start_soon(self._guarded, fn, args, name=name or getattr(fn, "__name__", "task"))

    async def _guarded(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            self.hooks.fail(self.name, f"task {getattr(fn, '__name__', fn)!s}", exc)

    def close(self) -> None:
        """Close the plugin's subscriptions."""
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions.clear()
