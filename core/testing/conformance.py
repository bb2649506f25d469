"""`check_plugin`: the checks a third-party plugin should pass before it ships."""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from colony.core import discovery
from colony.core.discovery import Source
from colony.core.dispatch import PluginManager
from colony.core.manifest import Manifest, ManifestError, manifest_of
from colony.core.rpc import RPCError

from .node import RunningNode


class ConformanceError(AssertionError):
    """A plugin failed one or more conformance checks."""


def static_problems(obj: Any) -> list[str]:
    """Problems visible without running the plugin: manifest, hook names, arguments, wrappers."""
    problems: list[str] = []
    try:
        manifest_of(obj)
    except ManifestError as exc:
        problems.append(str(exc))
    pm = PluginManager()
    try:
        pm.register(obj, name="candidate")
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        problems.append(f"hook validation: {exc}")
        return problems
    for caller in pm.get_hookcallers(obj) or ():
        for impl in caller.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                problems.append(f"{caller.name} is a wrapper; colony does not run wrappers")
            if inspect.isgeneratorfunction(impl.function) or inspect.isasyncgenfunction(impl.function):
                problems.append(f"{caller.name} is a generator; hooks return values")
    return problems


def check_plugin(plugin: ModuleType | Path | str, *, config: dict[str, Any] | None = None, ticks: int = 3) -> None:
    """Load the plugin into a real node and check it behaves; raises `ConformanceError` listing problems.

    `plugin` is a module, a drop-in file, or the name of an installed (entry-point) plugin.
    Checks: a valid manifest and hooks; it starts and reports healthy; ticks run without
    errors from it; unload leaves no registrations, tasks or subscriptions; it loads again
    and survives a blue/green reload.
    """
    dropin: Path | None = None
    if isinstance(plugin, Path):
        dropin, module = plugin, discovery.import_fresh(Source("file", str(plugin)))[0]
    elif isinstance(plugin, str):
        sources = discovery.discover(None)
        if plugin not in sources:
            raise ConformanceError(f"no installed plugin named {plugin!r} (entry-point group 'colony')")
        module = discovery.import_fresh(sources[plugin])[0]
    else:
        module = plugin
        file = Path(module.__file__ or "")
        if file.name != "__init__.py" and file.suffix == ".py":
            dropin = file
    problems = static_problems(module)
    manifest = getattr(module, "PLUGIN", None)
    if problems or not isinstance(manifest, Manifest):
        raise ConformanceError("\n".join(problems))
    name = manifest.name

    with tempfile.TemporaryDirectory(prefix="colony-check-") as tmp:
        home = Path(tmp)
        if dropin is not None:
            (home / "plugins").mkdir()
            (home / "plugins" / f"{name}.py").write_text(dropin.read_text())
        with RunningNode(home, plugins=[name, *manifest.requires], config=config) as node:
            problems += _dynamic_problems(node, name, ticks)
    if problems:
        raise ConformanceError(f"plugin {name!r} failed conformance:\n- " + "\n- ".join(problems))


def _dynamic_problems(node: RunningNode, name: str, ticks: int) -> list[str]:
    assert node.kernel is not None
    kernel = node.kernel
    row = node.call("plugins.info", name=name)
    if row["state"] != "running":
        return [f"does not start: it is {row['state']}: {row['reason']}"]
    problems: list[str] = []
    health = node.call("plugins.health", name=name)[name]
    if health is not True:
        problems.append(f"reports unhealthy after start: {health}")
    for _ in range(ticks):
        node.tick()
    errors = node.call("plugins.info", name=name)
    if errors["errors"]:
        problems.append(f"raised {errors['errors']} error(s) during {ticks} ticks; last: {errors['last_error']}")
    try:
        node.call("plugins.reload", name=name)
    except RPCError as exc:
        problems.append(f"blue/green reload failed: {exc.message}")
    try:
        node.call("plugins.unload", name=name)
    except RPCError as exc:
        problems.append(f"does not unload: {exc.message}")
        return problems
    left = kernel.registry.owned_by(name)
    if left:
        problems.append(f"left registrations after unload: {[r.key for r in left]}")
    if any(getattr(impl, "plugin", None) == name for hook in ("colony_observe", "colony_reflect") for impl in kernel.dispatcher.plan(hook)):
        problems.append("still receives hooks after unload")
    try:
        node.call("plugins.load", name=name)
    except RPCError as exc:
        problems.append(f"does not load a second time: {exc.message}")
    return problems
