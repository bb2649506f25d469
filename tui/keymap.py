"""The user's key remapping: the `[keymap]` table of `$XDG_CONFIG_HOME/colony/tui.toml`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the TUI's settings live (`$XDG_CONFIG_HOME`, else `~/.config`)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "colony" / "tui.toml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str]:
    """Binding id -> keys from the `[keymap]` table, and a problem to report ("" when fine or absent)."""
    path = config_path() if path is None else path
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}"
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        return {}, f"{path}: [keymap] must be a table"
    keymap = {str(k): v for k, v in table.items() if isinstance(v, str)}
    bad = sorted(set(table) - set(keymap))
    return keymap, f"{path}: ignored non-string keys for {', '.join(bad)}" if bad else ""
