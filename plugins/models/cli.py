"""`colony models`: list, train, evaluate, export and import the node's neural models through the control protocol."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
import outcome
import trio

from colony.core.cli import connection, emit_json, rpc_view
from colony.core.client import Client, EventStream

BAR = 1000  # a progress bar's length: per mille of a cycle's budget


def number(value: Any, spec: str) -> str:
    """`value` formatted with `spec`, or '-' when there is none."""
    return "-" if value is None else format(value, spec)


@click.group("models")
def models() -> None:
    """The node's neural models: list, train, evaluate, export and import their weights."""


@models.command("list")
@rpc_view("models.list")
async def models_list(client: Client, info: dict[str, Any]) -> None:
    """Every registered model with its size, training steps, last loss and examples."""
    header = ("NAME", "ARCH", "PARAMETERS", "STEPS", "LOSS", "EXAMPLES", "KERNELS")
    rows = [header] + [
        (m["name"], m["arch"] or "-", number(m["parameters"], ","), str(m["steps"]), number(m["loss"], ".4f"), str(m["examples"]),
         m["kernels"] or "-")
        for m in info["models"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    click.echo(f"\ndevice {info['device']}" + (f", training {info['training']}" if info["training"] else ""))
    merge = info["last_merge"]
    if merge:
        outcome = f"refused: {merge['error']}" if merge.get("error") else f"now at {merge['steps']} steps"
        click.echo(f"last merge: {merge['model']} {merge['kind']} at rate {merge['rate']}, {outcome}")
    for m in info["models"]:
        for problem in (m["error"], m["kernels_error"] and f"refused tuned kernels: {m['kernels_error']}"):
            if problem:
                click.echo(f"{m['name']}: {problem}")


@models.command("train")
@click.argument("name", required=False)
@click.option("--seconds", type=click.FloatRange(min=0), help="Time box of each model's cycle (default: cycle_seconds).")
@click.option("--steps", type=click.IntRange(min=1), help="Most optimizer steps per model (default: cycle_steps).")
@click.option("--json", "as_json", is_flag=True, help="Print the cycle summaries as JSON, without a progress bar.")
@connection
async def models_train(client: Client, remote: bool, name: str | None, seconds: float | None, steps: int | None, as_json: bool) -> None:
    """Train NAME (default: every model with examples) for one cycle now, with a progress bar."""
    if name is None:
        names = [m["name"] for m in (await client.call("models.list"))["models"] if m["examples"]]
    else:
        names = [name]
    client.timeout = 0  # a cycle lasts its time box, and may wait for the one running in the background
    results = []
    for each in names:
        if as_json:
            results += await client.call("models.train", name=each, seconds=seconds, steps=steps)
            continue
        for summary in await train_with_progress(client, each, seconds, steps):
            click.echo(f"{summary['model']}: {summary['steps_run']} steps in {summary['seconds']:.1f}s, "
                       f"loss {number(summary['loss'], '.4f')}, {summary['steps']} steps in all")
    if as_json:
        emit_json(results)
    elif not names:
        click.echo("no model has examples to train on")


async def train_with_progress(client: Client, name: str, seconds: float | None, steps: int | None) -> list[dict[str, Any]]:
    """`models.train` for model `name`, drawing a progress bar from the node's progress events meanwhile."""
    async with client.subscribe(["models.progress"]) as events:
        with click.progressbar(length=BAR, label=name, show_eta=False) as bar:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow, events, bar, name)
                # Captured, so that an RPC error surfaces as itself rather than inside an exception group.
                done = await outcome.acapture(client.call, "models.train", name=name, seconds=seconds, steps=steps)
                nursery.cancel_scope.cancel()
            bar.update(BAR - bar.pos)
    return done.unwrap()  # type: ignore[no-any-return]


async def follow(events: EventStream, bar: Any, name: str) -> None:
    """Move `bar` along with the node's `models.progress` events for model `name`."""
    async for event in events:
        data = event.get("data", {})
        if data.get("model") != name:
            continue
        done = data["elapsed"] / data["seconds"] if data.get("seconds") else 0.0
        if data.get("steps"):
            done = max(done, data["step"] / data["steps"])
        bar.update(max(0, min(BAR, int(done * BAR)) - bar.pos))


@models.command("eval")
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate on the newest LIMIT examples (default: four batches).")
@rpc_view("models.eval")
async def models_eval(client: Client, results: list[dict[str, Any]], **params: Any) -> None:
    """Mean loss of NAME (default: every model with examples) on its newest examples."""
    for row in results:
        click.echo(f"{row['model']}: loss {number(row['loss'], '.4f')} on {row['examples']} examples after {row['steps']} steps")


@models.command("export")
@click.argument("name")
@click.option("--full", is_flag=True, help="Export the full weights instead of the delta from the shared initialization.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default NAME-delta.safetensors or NAME-weights.safetensors).")
@connection
async def models_export(client: Client, remote: bool, name: str, full: bool, output: Path | None) -> None:
    """Write model NAME's delta (or --full weights) to a safetensors file."""
    output = (output or Path(f"{name}-{'weights' if full else 'delta'}.safetensors")).resolve()
    client.timeout = 0  # large models take a while to serialize
    if remote:
        result = await client.call("models.export", name=name, full=full)
        output.write_bytes(base64.b64decode(result["data"]))
    else:
        result = await client.call("models.export", name=name, full=full, path=str(output))
    click.echo(f"wrote the {result['kind']} of {name} ({result['steps']} steps, {result['bytes']} bytes, sha256 {result['sha256'][:16]}) to {output}")


@models.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rate", type=click.FloatRange(min=0, max=1, min_open=True), default=0.5, show_default=True, help="How far to move towards the delta.")
@click.option("--full", is_flag=True, help="FILE holds full weights: replace the model's weights with them.")
@connection
async def models_import(client: Client, remote: bool, name: str, file: Path, rate: float, full: bool) -> None:
    """Merge the delta in FILE into model NAME at --rate, or load --full weights."""
    client.timeout = 0
    source = {"data": base64.b64encode(file.read_bytes()).decode()} if remote else {"path": str(file.resolve())}
    result = await client.call("models.import", name=name, rate=rate, full=full, **source)
    click.echo(f"{name}: merged the {result['kind']} at rate {result['rate']}; now {result['steps']} steps")


@models.command("tune")
@click.argument("name", required=False)
@click.option("--beam", type=click.IntRange(min=1, max=8), default=2, show_default=True, help="BEAM search width: wider searches longer.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="Write the tables to this folder on the node (to ship them) instead of the node's own, which it uses at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
@connection
async def models_tune(client: Client, remote: bool, name: str | None, beam: int, output: Path | None, as_json: bool) -> None:
    """Search the kernels of NAME (default: every built-in model) with tinygrad's BEAM and keep the fastest choices."""
    client.timeout = 0  # a search takes minutes per model
    if not as_json:
        click.echo(f"searching kernels of {name or 'every built-in model'} at BEAM={beam}; this takes minutes per model", err=True)
    results = await client.call("models.tune", name=name, beam=beam, output=str(output.resolve()) if output else None)
    if as_json:
        emit_json(results)
        return
    for row in results:
        click.echo(f"{row['model']}: {row['kernels']} kernels tuned at BEAM={row['beam']} in {row['seconds']:.0f}s, written to {row['path']}")
