"""The `PLUGIN` manifest every plugin module declares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Option

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class ManifestError(ValueError):
    """A plugin's manifest is missing or invalid."""


@dataclass(frozen=True)
class Manifest:
    """What a plugin is: its name, version, requirements and config schema."""

    name: str
    version: str = "0.0.0"
    requires: tuple[str, ...] = ()
    config: Mapping[str, Option] = field(default_factory=dict)
    unloadable: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ManifestError(f"plugin name {self.name!r} must match {NAME.pattern}")
        if not isinstance(self.version, str) or not self.version:
            raise ManifestError(f"plugin {self.name!r}: version must be a non-empty string")
        if isinstance(self.requires, str) or not all(isinstance(r, str) for r in self.requires):
            raise ManifestError(f"plugin {self.name!r}: requires must be a tuple of plugin names")
        object.__setattr__(self, "requires", tuple(self.requires))
        for key, option in self.config.items():
            if not isinstance(option, Option):
                raise ManifestError(f"plugin {self.name!r}: config option {key!r} must be an Option")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the protocol."""
        return {
            "name": self.name,
            "version": self.version,
            "requires": list(self.requires),
            "unloadable": self.unloadable,
            "description": self.description,
            "config": {k: {"default": o.default, "help": o.help} for k, o in self.config.items()},
        }


def manifest_of(module: Any, where: str = "") -> Manifest:
    """The module's `PLUGIN` manifest, with a clear error (naming `where`) when absent or wrong."""
    where = where or str(getattr(module, "__name__", module))
    manifest = getattr(module, "PLUGIN", None)
    if manifest is None:
        raise ManifestError(f"{where} declares no PLUGIN manifest")
    if not isinstance(manifest, Manifest):
        raise ManifestError(f"{where}: PLUGIN must be a colony.core.Manifest, not {type(manifest).__name__}")
    return manifest
