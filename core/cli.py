"""The `colony` command line: run a node, and steer one locally or over SSH."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click
import trio

from . import __version__
from .client import Client, Disconnected, ProtocolError, open_ssh, open_unix
from .config import Config, ConfigError
from .paths import default_home, default_socket
from .rpc import RPCError


class Settings:
    """What the group-level options resolve to."""

    def __init__(self, home: Path | None, config_path: Path | None, name: str | None) -> None:
        node_name = name or os.environ.get("COLONY_NODE__NAME") or "default"
        self.home = (home or default_home(node_name)).expanduser().resolve()
        path = config_path or self.home / "colony.toml"
        self.config = Config.load(path, overrides={"node": {"name": name}} if name else None)

    def socket(self) -> Path:
        """The control socket of this node."""
        configured = self.config["control.socket"]
        return Path(configured).expanduser() if configured else default_socket(self.config["node.name"])


class Commands(click.Group):
    """The CLI group, plus commands other distributions add through the `colony.cli` entry-point group.

    They load only when invoked (or listed by --help), so `colony serve` never imports them.
    """

    def _extensions(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group="colony.cli") if ep.name not in self.commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._extensions()])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and (ep := self._extensions().get(name)) is not None:
            command = ep.load()
        return command


@click.group(cls=Commands)
@click.version_option(__version__, prog_name="colony")
@click.option("--home", type=click.Path(path_type=Path), envvar="COLONY_HOME", help="Node home folder.")
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Config file (default <home>/colony.toml)."
)
@click.option("--name", help="Node name (default: default).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, config_path: Path | None, name: str | None) -> None:
    """colony: autonomous agents on a hot-swappable plugin kernel."""
    try:
        ctx.obj = Settings(home, config_path, name)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# -- running a node ------------------------------------------------------------------------


@cli.command()
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]), show_default=True)
@click.pass_obj
def serve(settings: Settings, log_level: str) -> None:
    """Run a node in the foreground until Ctrl-C or SIGTERM."""
    from .kernel import Kernel

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    async def main() -> None:
        kernel = Kernel(settings.config, settings.home)
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(kernel.run, signals=True))
            running = sorted(p.name for p in kernel.host.plugins.values() if p.state == "running")
            failed = sorted(f"{p.name} ({p.reason})" for p in kernel.host.plugins.values() if p.state == "failed")
            click.echo(f"colony {__version__} node {kernel.node_id} ({kernel.name})")
            click.echo(f"  home:    {kernel.home}")
            click.echo(f"  socket:  {kernel.socket_path}")
            if kernel.tcp_port is not None:
                click.echo(f"  tcp:     port {kernel.tcp_port} (token in {kernel.home / 'control.token'} unless configured)")
            click.echo(f"  plugins: {', '.join(running) or 'none'}")
            for line in failed:
                click.echo(f"  failed:  {line}")
            click.echo("Press Ctrl-C to stop.")
            sys.stdout.flush()
        click.echo("stopped cleanly")

    try:
        trio.run(main)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--stdio", is_flag=True, required=True, help="Relay standard input and output.")
@click.option("--socket", "socket_path", type=click.Path(path_type=Path), help="Control socket to relay to.")
@click.pass_obj
def bridge(settings: Settings, stdio: bool, socket_path: Path | None) -> None:
    """Relay stdin/stdout to the local node's socket (the far end of --host)."""
    from .bridge import relay

    try:
        trio.run(relay, socket_path or settings.socket())
    except OSError as exc:
        click.echo(f"colony bridge: cannot reach the node: {exc}", err=True)
        sys.exit(2)


# -- steering a node -----------------------------------------------------------------------


def connection(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Add --socket/--host and run `fn(client, ...)` against the node."""

    @click.option("--socket", "socket_path", type=click.Path(path_type=Path), help="Control socket of the node.")
    @click.option("--host", help="Reach the node as user@host through ssh.")
    @click.pass_obj
    @functools.wraps(fn)
    def command(settings: Settings, socket_path: Path | None, host: str | None, **kwargs: Any) -> None:
        async def main() -> None:
            if host:
                client = await open_ssh(host, ["--socket", str(socket_path)] if socket_path else [])
            else:
                client = await open_unix(socket_path or settings.socket())
            async with client:
                await client.handshake()
                await fn(client, remote=bool(host), **kwargs)

        try:
            trio.run(main)
        except RPCError as exc:
            raise click.ClickException(exc.message) from None
        except (Disconnected, ProtocolError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            sys.exit(130)

    return command


def emit_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str))


def rpc_view(method: str) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Any]]:
    """Make a command that calls `method` with its parameters and prints the result: JSON with --json, else through the decorated printer.

    The printer is `async (client, result, **params)`; the command also takes --json, --socket and --host.
    """

    def decorate(show: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
        @functools.wraps(show)
        async def command(client: Client, remote: bool, as_json: bool, **params: Any) -> None:
            result = await client.call(method, **params)
            if as_json:
                emit_json(result)
            else:
                await show(client, result, **params)

        return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(connection(command))

    return decorate


@cli.command()
@rpc_view("node.status")
async def status(client: Client, info: dict[str, Any]) -> None:
    """Show the node's id, uptime, heartbeat and plugins."""
    beat = info["heartbeat"]
    click.echo(f"node     {info['node']} ({info['name']}), colony {info['colony']}, pid {info['pid']}")
    click.echo(f"home     {info['home']}")
    click.echo(f"uptime   {info['uptime']:.0f}s")
    click.echo(f"heartbeat tick {beat['tick_number']}, every {beat['interval']}s, last {beat['last_tick_ms']} ms")
    click.echo("plugins  " + ", ".join(f"{n} {s}" for s, n in sorted(info["plugins"].items())))
    click.echo(f"events   {info['events']['published']} published, {info['events']['dropped']} dropped")
    click.echo(f"errors   {info['errors']}")


@cli.group()
def plugins() -> None:
    """List, load, unload, reload and swap plugins."""


@plugins.command("list")
@rpc_view("plugins.list")
async def plugins_list(client: Client, rows: list[dict[str, Any]]) -> None:
    """Every plugin with its source, state, hooks, calls, latency and errors."""
    header = ("NAME", "VERSION", "STATE", "CALLS", "MEAN_MS", "ERRORS", "SOURCE")
    table = [header] + [
        (r["name"], r["version"], r["state"], str(r["calls"]), f"{r['mean_ms']:.3f}", str(r["errors"]), r["source_text"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    for r in rows:
        if r["hooks"]:
            click.echo(f"\n{r['name']}: {', '.join(h.removeprefix('colony_') for h in r['hooks'])}")
        if r["reason"]:
            click.echo(f"{r['name']} is {r['state']}: {r['reason']}")


def _plugin_action(action: str) -> Callable[..., Any]:
    @click.argument("name")
    @connection
    async def run(client: Client, remote: bool, name: str) -> None:
        row = await client.call(f"plugins.{action}", name=name)
        click.echo(f"{row['name']} {row['version']}: {row['state']}")

    run.__doc__ = {
        "load": "Load and start a plugin.",
        "unload": "Stop a plugin and undo everything it registered.",
        "reload": "Swap a plugin for a fresh import of its own source (blue/green).",
    }[action]
    run.__name__ = f"plugins_{action}"
    return plugins.command(action)(run)


for _action in ("load", "unload", "reload"):
    _plugin_action(_action)


@plugins.command("swap")
@click.argument("name")
@click.option("--from", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="New plugin file.")
@click.option("--installed", is_flag=True, help="Swap back to the installed (entry-point) version.")
@connection
async def plugins_swap(client: Client, remote: bool, name: str, path: Path | None, installed: bool) -> None:
    """Blue/green swap a plugin for the code in PATH (or its installed version); on any failure the old one keeps running."""
    if (path is None) == (not installed):
        raise click.UsageError("give exactly one of --from PATH and --installed")
    if installed:
        row = await client.call("plugins.swap", name=name, installed=True)
    elif remote:
        row = await client.call("plugins.swap", name=name, source=path.read_text())
    else:
        row = await client.call("plugins.swap", name=name, path=str(path.resolve()))
    click.echo(f"{row['name']} {row['version']}: {row['state']} (from {row['source_text']})")


@cli.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@click.option("--topic", "topics", multiple=True, help="Topic glob, such as plugin.*; repeatable.")
@click.option("--limit", default=50, show_default=True, help="How many recent events to show first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@connection
async def events(client: Client, remote: bool, follow: bool, topics: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Show recent events, and with --follow, stream new ones."""

    def show(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event, default=str))
        else:
            data = json.dumps(event.get("data", {}), default=str)
            click.echo(f"{event['seq']:>6} {event['topic']:<20} {event['source']:<12} {data}")

    if not follow:
        for event in await client.call("events.recent", limit=limit, topics=list(topics) or None):
            show(event)
        return
    # Subscribe before reading the backlog, then skip what the backlog already showed.
    async with client.subscribe(list(topics)) as stream:
        last = 0
        if limit > 0:
            for event in await client.call("events.recent", limit=limit, topics=list(topics) or None):
                show(event)
                last = event["seq"]
        async for event in stream:
            if event["seq"] > last:
                show(event)


@cli.group()
def audit() -> None:
    """The tamper-evident event log."""


@audit.command("verify")
@connection
async def audit_verify(client: Client, remote: bool) -> None:
    """Check every entry of the hash chain."""
    verdict = await client.call("audit.verify")
    if verdict["ok"]:
        click.echo(f"audit log intact: {verdict['entries']} entries")
    else:
        click.echo(f"audit log TAMPERED at entry {verdict['bad_seq']}: {verdict['reason']}", err=True)
        sys.exit(1)


@cli.command("rpc")
@click.argument("method")
@click.argument("params", required=False, default="{}")
@connection
async def rpc_call(client: Client, remote: bool, method: str, params: str) -> None:
    """Call any RPC METHOD with PARAMS given as a JSON object."""
    try:
        parsed = json.loads(params)
    except ValueError as exc:
        raise click.BadParameter(f"PARAMS must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("PARAMS must be a JSON object")
    emit_json(await client.call(method, **parsed))


def main() -> None:
    """Entry point of the `colony` script."""
    cli(prog_name="colony")


if __name__ == "__main__":
    main()
