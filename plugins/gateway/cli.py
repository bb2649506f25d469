"""`colony pay` and `colony endpoints`: the gateway's client commands, mounted through the `colony.cli` entry points."""

from __future__ import annotations

import click

from colony.core.cli import connection, emit_json
from colony.core.client import Client


@click.command("pay")
@click.argument("url")
@click.option("--method", default="GET", show_default=True, help="HTTP method.")
@click.option("--data", default=None, help="Request body.")
@click.option("--max", "max_amount", type=click.IntRange(min=0), default=None, help="Most token units to pay (atomic units).")
@click.option("--json", "as_json", is_flag=True, help="Print the full `wallet.pay` result as JSON.")
@connection
async def pay(client: Client, remote: bool, url: str, method: str, data: str | None, max_amount: int | None, as_json: bool) -> None:
    """Request URL from the node, paying its x402 price from the node's wallet (`wallet.pay`)."""
    result = await client.call("wallet.pay", url=url, method=method, body=data, max_amount=max_amount)
    if as_json:
        emit_json(result)
        return
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection
async def endpoints_list(client: Client, remote: bool, as_json: bool) -> None:
    """Every registered endpoint."""
    rows = await client.call("endpoints.list")
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['path']}  {row['price']}  {row['target']}  {row['description']}")


@endpoints.command("remove")
@click.argument("slug")
@connection
async def endpoints_remove(client: Client, remote: bool, slug: str) -> None:
    """Stop serving /g/SLUG."""
    await client.call("endpoints.remove", slug=slug)
    click.echo(f"removed /g/{slug}")
