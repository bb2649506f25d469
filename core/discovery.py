"""Finding plugins without importing them, and importing them fresh for a load or a swap."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

GROUP = "colony"
OWN_DISTRIBUTION = "colony"
_generation = itertools.count(1)


@dataclass(frozen=True)
class Source:
    """Where a plugin's code comes from."""

    kind: str  # "builtin", "entrypoint" or "file"
    target: str  # a module name, or a file path for drop-ins
    distribution: str = ""

    def describe(self) -> str:
        """A one-line human description, as `colony plugins list` shows it."""
        if self.kind == "file":
            return f"file {self.target}"
        if self.kind == "entrypoint":
            return f"entrypoint {self.target} ({self.distribution})"
        return f"builtin {self.target}"

    def to_dict(self) -> dict[str, str]:
        """Plain data for the protocol."""
        return {"kind": self.kind, "target": self.target, "distribution": self.distribution}


def discover(dropin_dir: Path | None) -> dict[str, Source]:
    """Every plugin on offer: built-ins, then entry points, then drop-in files (later ones win)."""
    found: dict[str, Source] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else ""
        if dist.lower() == OWN_DISTRIBUTION:
            found[ep.name] = Source("builtin", ep.value)
        else:
            version = ep.dist.version if ep.dist is not None else "?"
            found.setdefault(ep.name, Source("entrypoint", ep.value, f"{dist}=={version}"))
    if dropin_dir is not None and dropin_dir.is_dir():
        for path in sorted(dropin_dir.glob("*.py")):
            if not path.name.startswith(("_", ".")):
                found[path.stem] = Source("file", str(path))
    return found


def import_fresh(source: Source, shared: frozenset[str] | None = None) -> tuple[ModuleType, dict[str, ModuleType]]:
    """Import a new copy of the plugin's code.

    Returns the module and the `sys.modules` entries that the copy needs installed while it runs.
    For a swap (`shared` is None) `sys.modules` is left as it was: the old copy keeps its own until
    the switch. For a first load, the new copy goes into `sys.modules` at once, so the plugins that
    require it and load next import this same copy (and catch its exception classes); `shared`
    names the modules that were there before this load began, and only a module imported since
    (by a plugin that requires this one) is taken as it is.
    """
    if source.kind == "file":
        return _import_file(Path(source.target))
    name = source.target.split(":")[0]
    owned = lambda key: key == name or key.startswith(name + ".")  # noqa: E731
    if shared is not None:
        if name not in sys.modules or name in shared:
            for key in [key for key in sys.modules if owned(key)]:
                del sys.modules[key]
            importlib.invalidate_caches()
        module = importlib.import_module(name)
        return module, {key: sys.modules[key] for key in list(sys.modules) if owned(key)}
    saved = {key: sys.modules.pop(key) for key in list(sys.modules) if owned(key)}
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
        fresh = {key: sys.modules[key] for key in list(sys.modules) if owned(key)}
    finally:
        for key in [key for key in sys.modules if owned(key)]:
            del sys.modules[key]
        sys.modules.update(saved)
    return module, fresh


def _import_file(path: Path) -> tuple[ModuleType, dict[str, ModuleType]]:
    safe = re.sub(r"\W", "_", path.stem)
    name = f"colony_dropin_{safe}_{next(_generation)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses and typing look the module up while it executes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module, {name: module}


def install(modules: dict[str, ModuleType]) -> None:
    """Put a plugin's modules into `sys.modules`."""
    sys.modules.update(modules)


def purge(modules: dict[str, ModuleType]) -> None:
    """Remove a plugin's modules from `sys.modules`, unless another copy replaced them."""
    for key, module in modules.items():
        if sys.modules.get(key) is module:
            del sys.modules[key]
