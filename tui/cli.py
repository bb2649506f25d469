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
@click.option("--embedded", is_flag=True, help="Run a node inside this process (trio guest mode) and operate it.")
@click.option(
    "--watch", "watch_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Swap this drop-in plugin in on every save."
)
@click.option("--hosts", "hosts_path", type=click.Path(path_type=Path), help="Nodes to switch between (default ~/.config/colony/hosts.toml).")
@click.pass_context
def tui(
    ctx: click.Context,
    socket_path: Path | None,
    host: str | None,
    readonly: bool,
    embedded: bool,
    watch_path: Path | None,
    hosts_path: Path | None,
) -> None:
    """Operate a node from the terminal."""
    from .app import ColonyApp, ssh_opener, unix_opener
    from .hosts import HostsError, NodeAddress, load_hosts

    try:
        nodes = load_hosts(hosts_path)
    except HostsError as exc:
        raise click.ClickException(str(exc)) from None
    node = None
    if embedded:
        from colony.core.cli import Settings

        from .embedded import EmbeddedNode

        settings = ctx.find_object(Settings) or Settings(None, None, None)
        node = EmbeddedNode(settings.config, settings.home)
        socket_path = settings.socket()
    if host and not embedded:
        opener = ssh_opener(host, ["--socket", str(socket_path)] if socket_path else [])
        target = host
    else:
        path = socket_path or default_socket_path()
        opener = unix_opener(path)
        target = str(path) + ("  [embedded]" if embedded else "")
        nodes.insert(0, NodeAddress("this node" if embedded else "local", str(path)))
    ColonyApp(
        opener, target=target, readonly=readonly, nodes=nodes, embedded=node, watch_path=watch_path, remote=bool(host)
    ).run()
