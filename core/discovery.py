"""Finding plugins without importing them, and importing them fresh for a load or a swap."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
from collections.abc import Iterable
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


def forget(sources: Iterable[Source]) -> None:
    """Drop these plugins' modules from `sys.modules`, so the next import of each is a fresh copy.

    Whoever runs the old copies (another node in this process) keeps them.
    """
    for source in sources:
        if source.kind != "file":
            for key in _owned(_package(source)):
                del sys.modules[key]
    importlib.invalidate_caches()


def import_fresh(source: Source, *, stay: bool = False) -> tuple[ModuleType, dict[str, ModuleType]]:
    """Import a new copy of the plugin's code; returns the module and the `sys.modules` entries it needs while it runs.

    For a swap `sys.modules` is left as it was: the old copy keeps its entries until the switch.
    For a first load (`stay`), `forget` the whole batch first: each copy then stays in `sys.modules`,
    so the plugins that require it import this same copy (and catch its exception classes),
    whichever of them is imported first.
    """
    if source.kind == "file":
        return _import_file(Path(source.target))
    name = _package(source)
    if stay:
        module = importlib.import_module(name)
        return module, {key: sys.modules[key] for key in _owned(name)}
    saved = {key: sys.modules.pop(key) for key in _owned(name)}
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
        fresh = {key: sys.modules[key] for key in _owned(name)}
    finally:
        for key in _owned(name):
            del sys.modules[key]
        sys.modules.update(saved)
    return module, fresh


def _package(source: Source) -> str:
    return source.target.split(":")[0]


def _owned(name: str) -> list[str]:
    """The `sys.modules` keys of package `name` and its submodules."""
    return [key for key in sys.modules if key == name or key.startswith(name + ".")]


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
