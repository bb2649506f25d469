"""`colony wallet` and `colony identity`: the node's wallet and its ERC-8004 agent, through the control protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from colony.core.cli import rpc_view
from colony.core.client import Client

from .registration import short_uri


def amount_text(units: int, decimals: int, symbol: str) -> str:
    """Atomic token units as a decimal amount, e.g. 1500000 at 6 decimals -> '1.500000 CUSD'."""
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{str(fraction).rjust(decimals, '0')} {symbol}" if decimals else f"{whole} {symbol}"


def showing_group(name: str, show: click.Command, help: str) -> click.Group:
    """A group that runs `show` when given no subcommand; its --json/--socket/--host reach the subcommands too."""

    @click.group(name, invoke_without_command=True, help=help)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--socket", "socket_path", type=click.Path(path_type=Path), help="Control socket of the node.")
    @click.option("--host", help="Reach the node as user@host through ssh.")
    @click.pass_context
    def group(ctx: click.Context, as_json: bool, socket_path: Path | None, host: str | None) -> None:
        given = {"as_json": as_json or None, "socket_path": socket_path, "host": host}
        shared = {key: value for key, value in given.items() if value is not None}
        ctx.default_map = {command: shared for command in group.commands}
        if ctx.invoked_subcommand is None:
            ctx.invoke(show, as_json=as_json, socket_path=socket_path, host=host)

    return group


@click.command()
@rpc_view("wallet.info")
async def wallet_show(client: Client, info: dict[str, Any]) -> None:
    """Show the wallet and facilitator addresses and balances."""
    token = (await client.call("chain.info"))["token"]
    click.echo(f"wallet       {info['address']}")
    click.echo(f"facilitator  {info['facilitator']}")
    click.echo(f"network      {info['network']}  token {info['token']}")
    click.echo(f"balance      {amount_text(info['balance'], token['decimals'], token['symbol'])} ({info['balance']} units)")
    click.echo(f"gas          {info['gas']} wei (facilitator {info['facilitator_gas']} wei)")


wallet = showing_group("wallet", wallet_show, "The node's wallet: addresses and balances; send tokens; the dev-chain faucet.")


@wallet.command("send")
@click.argument("to")
@click.argument("amount", type=click.IntRange(min=1))
@rpc_view("wallet.send")
async def wallet_send(client: Client, sent: dict[str, Any], to: str, amount: int) -> None:
    """Send AMOUNT atomic token units from the node's wallet to the address TO."""
    click.echo(f"sent {amount} units to {to}: transaction {sent['transaction']}")
    click.echo(f"balance {sent['balance']} units")


@wallet.command("faucet")
@click.argument("address")
@click.argument("amount", type=click.IntRange(min=1), required=False)
@rpc_view("chain.faucet")
async def wallet_faucet(client: Client, funded: dict[str, Any], address: str, amount: int | None) -> None:
    """Fund any ADDRESS on a development chain with AMOUNT atomic token units (default: chain.faucet_amount) and gas."""
    click.echo(f"funded {funded['address']} with {funded['amount']} units: transaction {funded['transaction']}")
    click.echo(f"balance {funded['balance']} units")


@click.command()
@rpc_view("identity.info")
async def identity_show(client: Client, info: dict[str, Any]) -> None:
    """Show the node's ERC-8004 agent."""
    agent_id = "not registered yet" if info["agent_id"] is None else info["agent_id"]
    click.echo(f"agent        {agent_id}")
    click.echo(f"owner        {info['owner']}")
    click.echo(f"registry     {info['registry']}")
    click.echo(f"agentURI     {short_uri(info['agent_uri'] or '-')}{'' if info['published'] else '  (update pending)'}")
    click.echo(f"transaction  {info['transaction'] or '-'}")
    click.echo(f"services     {', '.join(service['endpoint'] for service in info['registration']['services'])}")
    click.echo(f"peers        {info['peers']}")


identity = showing_group("identity", identity_show, "The node's ERC-8004 agent: id, registry, agentURI and registration file; its peers.")


@identity.command("peers")
@rpc_view("identity.peers")
async def identity_peers(client: Client, peers: list[dict[str, Any]]) -> None:
    """List the other agents found in the identity registry."""
    if not peers:
        click.echo("no peers found yet")
    for peer in peers:
        click.echo(f"{peer['agentId']:>6}  {peer['owner']}  {peer['name'] or '-'}")
