"""`colony tui`: the operator's terminal cockpit (Textual is imported only when it runs)."""

from __future__ import annotations

import os
from pathlib import Path

import click


def default_socket_path() -> Path:
    """`COLONY_CONTROL__SOCKET`, else the runtime socket of the node named by `COLONY_NODE__NAME`."""
    from colony.core.paths import default_socket

    explicit = os.environ.get("COLONY_CONTROL__SOCKET")
    if explicit:
        return Path(explicit)
    return default_socket(os.environ.get("COLONY_NODE__NAME") or "default")


@click.command("tui")
@click.option("--socket", "socket_path", type=click.Path(path_type=Path), default=None, help="The node's control socket.")
@click.option("--host", default=None, metavar="USER@HOST", help="Reach a remote node through `ssh USER@HOST colony bridge --stdio`.")
@click.option("--readonly", is_flag=True, help="Hide every action that changes the node.")
def tui(socket_path: Path | None, host: str | None, readonly: bool) -> None:
    """Operate a node from the terminal."""
    from .app import ColonyApp, ssh_opener, unix_opener

    if host:
        opener = ssh_opener(host, ["--socket", str(socket_path)] if socket_path else [])
        target = host
    else:
        path = socket_path or default_socket_path()
        opener = unix_opener(path)
        target = str(path)
    ColonyApp(opener, target=target, readonly=readonly).run()
