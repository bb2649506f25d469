"""`colony cartridge`: scaffold and build cartridges here, deploy and run them on a node (local or over --host)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
import trio

from colony.core.cli import connection, emit_json, rpc_view
from colony.core.client import Client

from .manifest import KINDS
from .toolchain import BuildError, Built, build, scaffold


@click.group("cartridge")
def cartridge() -> None:
    """WASM cartridges: scaffold, build, deploy, call, roll back and remove them."""


@cartridge.command("new")
@click.argument("slug")
@click.option("--kind", type=click.Choice(KINDS), default="backend", show_default=True, help="What the cartridge is.")
@click.option("--lang", type=click.Choice(["c", "zig", "wat"]), default="c", show_default=True, help="Source language of the template.")
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True, help="Folder to create SLUG/ in.")
def cartridge_new(slug: str, kind: str, lang: str, dest: Path) -> None:
    """Create SLUG/ with a cartridge.toml and a source file from the templates."""
    try:
        folder = scaffold(slug, kind, lang, dest)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {folder} ({kind}, {lang}); build it with: colony cartridge build {folder}")


def _build(path: Path) -> Built:
    try:
        return build(path)
    except BuildError as exc:
        raise click.ClickException(f"build failed: {exc}") from None


@cartridge.command("build")
@click.argument("path", type=click.Path(exists=True, path_type=Path), default=Path("."))
def cartridge_build(path: Path) -> None:
    """Compile PATH (a cartridge folder or one .wat/.c/.zig file) into build/SLUG.wasm, offline."""
    built = _build(path)
    manifest = built.manifest
    click.echo(f"built {manifest['slug']} {manifest['version']} ({manifest['kind']}, {manifest['lang']}): {built.path}, {len(built.wasm)} bytes")
    click.echo(f"sha256 {manifest['sha256']}")


@cartridge.command("deploy")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection
async def cartridge_deploy(client: Client, remote: bool, path: Path, as_json: bool) -> None:
    """Build PATH here and deploy it to the node, hot-swapping the running version."""
    built = await trio.to_thread.run_sync(_build, path)
    info = await client.call("cartridges.deploy", wasm=base64.b64encode(built.wasm).decode(), manifest=built.manifest)
    if as_json:
        emit_json(info)
        return
    previous = f" (was {info['previous']})" if info["previous"] else ""
    click.echo(f"deployed {info['slug']} {info['version']}{previous}: {info['kind']}, sha256 {info['sha256'][:16]}, {info['ms']} ms")


@cartridge.command("list")
@rpc_view("cartridges.list")
async def cartridge_list(client: Client, rows: list[dict[str, Any]]) -> None:
    """Every deployed cartridge with its calls, errors, fuel and traps (fuel/deadline/other)."""
    header = ("SLUG", "KIND", "VERSION", "PREVIOUS", "PRICE", "CALLS", "ERRORS", "FUEL", "TRAPS")
    table = [header] + [
        (
            r["slug"], str(r["kind"] or "-"), str(r["version"] or "-"), str(r.get("previous") or "-"), str(r.get("price") or "-"),
            str(r.get("calls", 0)), str(r.get("errors", 0)), str(r.get("fuel", 0)), "/".join(str(n) for n in (r.get("traps") or {}).values()) or "-",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for r in rows:
        if r["last_error"]:
            click.echo(f"{r['slug']}: {r['last_error']}")


@cartridge.command("remove")
@click.argument("slug")
@rpc_view("cartridges.remove")
async def cartridge_remove(client: Client, result: dict[str, Any], slug: str) -> None:
    """Stop serving SLUG and delete its versions, KV data and logs."""
    click.echo(f"removed {slug} and {result['kv_keys']} KV keys")


@cartridge.command("call")
@click.argument("slug")
@click.option("--method", default="GET", show_default=True, help="HTTP method the cartridge sees.")
@click.option("--path", default="/", show_default=True, help="Path the cartridge sees.")
@click.option("--body", default="", help="Request body.")
@rpc_view("cartridges.call")
async def cartridge_call(client: Client, result: dict[str, Any], **request: Any) -> None:
    """Call SLUG directly (no payment) and print its answer; its status and cost go to stderr."""
    for line in result["logs"]:
        click.echo(f"[{line['level']}] {line['message']}", err=True)
    click.echo(f"HTTP {result['status']} {result['content_type']}, {result['fuel']} fuel, {result['ms']} ms", err=True)
    if result["error"]:
        raise click.ClickException(f"{result['kind']}: {result['error']}")
    click.echo(result["body"])


@cartridge.command("logs")
@click.argument("slug")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="How many of the newest lines.")
@rpc_view("cartridges.logs")
async def cartridge_logs(client: Client, lines: list[dict[str, Any]], **params: Any) -> None:
    """SLUG's newest log lines: its own logs, traps, and refused deploys."""
    for line in lines:
        click.echo(f"{line['level']:5}  {line['message']}" + (f"  (called at depth {line['depth']})" if line["depth"] else ""))


@cartridge.command("rollback")
@click.argument("slug")
@rpc_view("cartridges.rollback")
async def cartridge_rollback(client: Client, info: dict[str, Any], slug: str) -> None:
    """Serve SLUG's previous version again; rolling back twice returns to the newer one."""
    click.echo(f"{slug} is at {info['version']} again (previous: {info['previous']})")
