"""Named nodes from `~/.config/colony/hosts.toml`, each opened as a tab of the TUI."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path


class HostsError(ValueError):
    """hosts.toml is unreadable or names a node wrongly."""


@dataclass(frozen=True)
class NodeAddress:
    """How to reach one node: a local socket, or ssh to a host (optionally with the remote socket)."""

    name: str
    socket: str = ""
    host: str = ""

    def describe(self) -> str:
        """One line for a tab or the command palette."""
        if self.host:
            return f"{self.name} (ssh {self.host}{' ' + self.socket if self.socket else ''})"
        return f"{self.name} ({self.socket})"


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/colony`, or `~/.config/colony`."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "colony"


def load_hosts(path: Path | None = None) -> list[NodeAddress]:
    """The nodes in hosts.toml (`[hosts.NAME]` tables with `socket` and/or `host`); none if absent."""
    path = path or config_dir() / "hosts.toml"
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HostsError(f"{path}: {exc}") from None
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise HostsError(f"{path}: [hosts] must be a table of named nodes")
    found = []
    for name, entry in hosts.items():
        if not isinstance(entry, dict) or set(entry) - {"socket", "host"}:
            raise HostsError(f"{path}: [hosts.{name}] takes only 'socket' and 'host'")
        if not all(isinstance(v, str) for v in entry.values()) or not (entry.get("socket") or entry.get("host")):
            raise HostsError(f"{path}: [hosts.{name}] needs a 'socket' path or an ssh 'host' (strings)")
        found.append(NodeAddress(name, entry.get("socket", ""), entry.get("host", "")))
    return found
