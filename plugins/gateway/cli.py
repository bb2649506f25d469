"""`colony pay` and `colony endpoints`: the gateway's client commands, mounted through the `colony.cli` entry points."""

from __future__ import annotations

from typing import Any

import click

from colony.core.cli import connection, rpc_view
from colony.core.client import Client


@click.command("pay")
@click.argument("url")
@click.option("--method", default="GET", show_default=True, help="HTTP method.")
@click.option("--data", "body", default=None, help="Request body.")
@click.option("--max", "max_amount", type=click.IntRange(min=0), default=None, help="Most token units to pay (atomic units).")
@rpc_view("wallet.pay")
async def pay(client: Client, result: dict[str, Any], **request: Any) -> None:
    """Request URL from the node, paying its x402 price from the node's wallet (`wallet.pay`)."""
    paid, receipt = result["paid"], result["payment"] or {}
    if paid is not None:
        click.echo(f"paid {paid['amount']} units to {paid['pay_to']} on {paid['network']} ({paid['spent_today']} spent today)", err=True)
        click.echo(f"settlement: {'ok' if receipt.get('success') else 'failed'} {receipt.get('transaction', '')}", err=True)
    click.echo(f"HTTP {result['status']}" + (" (body cut short)" if result["truncated"] else ""), err=True)
    click.echo(result["body"])


@click.group("endpoints")
def endpoints() -> None:
    """The node's paid proxy endpoints, served at /g/SLUG."""


@endpoints.command("add")
@click.argument("slug")
@click.argument("target")
@click.argument("price")
@click.option("--description", default="", help="What the endpoint offers, shown to payers.")
@connection
async def endpoints_add(client: Client, remote: bool, slug: str, target: str, price: str, description: str) -> None:
    """Serve TARGET (an https:// URL) at /g/SLUG for PRICE ("$0.01" or atomic units)."""
    row = await client.call("endpoints.add", slug=slug, target=target, price=int(price) if price.isascii() and price.isdigit() else price, description=description)
    click.echo(f"{row['path']} -> {row['target']} for {row['price']} units")


@endpoints.command("list")
@rpc_view("endpoints.list")
async def endpoints_list(client: Client, rows: list[dict[str, Any]]) -> None:
    """Every registered endpoint."""
    for row in rows:
        click.echo(f"{row['path']}  {row['price']}  {row['target']}  {row['description']}")


@endpoints.command("remove")
@click.argument("slug")
@connection
async def endpoints_remove(client: Client, remote: bool, slug: str) -> None:
    """Stop serving /g/SLUG."""
    await client.call("endpoints.remove", slug=slug)
    click.echo(f"removed /g/{slug}")
