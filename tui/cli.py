"""`colony tui`: the operator's terminal cockpit (Textual is imported only when it runs)."""

from __future__ import annotations

from pathlib import Path

import click


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
    from colony.core.cli import Settings

    from .embedded import EmbeddedNode

    # The same home, config and socket that `colony serve` would use.
    settings = ctx.find_object(Settings) or Settings(None, None, None)
    if host and not embedded:
        opener = ssh_opener(host, ["--socket", str(socket_path)] if socket_path else [])
        target = host
        local: Path | None = None
    else:
        local = socket_path or settings.socket()
        opener = unix_opener(local)
        target = str(local) + ("  [embedded]" if embedded else "")
        nodes.insert(0, NodeAddress("this node" if embedded else "local", str(local)))

    def build_node() -> EmbeddedNode:
        return EmbeddedNode(settings.config.with_overrides({"control": {"socket": str(local)}}), settings.home)

    node = build_node() if embedded else None
    # With no node answering on the local socket, the TUI offers to run one inside itself.
    offer = build_node if local is not None and not embedded and not readonly else None
    ColonyApp(
        opener,
        target=target,
        readonly=readonly,
        nodes=nodes,
        embedded=node,
        watch_path=watch_path,
        remote=bool(host),
        offer_node=offer,
    ).run()
