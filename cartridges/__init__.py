"""Cartridge sources shipped with colony: the guest SDK, the `cartridge new` templates and the examples."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent


def folder(name: Literal["sdk", "templates", "examples"]) -> Path:
    """The shipped folder `name`: `sdk` (colony.h, colony.zig), `templates` or `examples`."""
    if name not in ("sdk", "templates", "examples"):
        raise ValueError(f"no shipped cartridge folder {name!r}")
    return HERE / name


def examples() -> list[Path]:
    """The example cartridge folders (each holds a cartridge.toml), sorted by name."""
    return sorted(path.parent for path in folder("examples").glob("*/cartridge.toml"))
