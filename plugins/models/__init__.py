"""models: the node's own neural networks (brain, quality, plan, codegen), trained online in tinygrad and merged across the colony."""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from colony.core import ConfigError, Manifest, Option, PluginContext, Registrar, RPCError
from colony.core.paths import write_private
from colony.core.rpc import INVALID_PARAMS

from .service import Models, ServiceError

PLUGIN = Manifest(
    name="models",
    version="1.0.0",
    description="Trains the node's neural models on its own experience, serves their predictions, and merges them with peers.",
    config={
        "seed": Option(0, "Initialization seed; nodes with the same seed start from identical weights, so their deltas merge."),
        "interval": Option(60.0, "Seconds between two automatic training cycles (0 trains only on `models.train`)."),
        "cycle_seconds": Option(20.0, "Time box of one model's training in a cycle, in seconds."),
        "cycle_steps": Option(0, "Most optimizer steps per model per cycle (0: only the time box limits it)."),
        "max_examples": Option(10000, "Examples kept per model; the oldest are dropped past this."),
        "dims": Option([], "Model dimensions as 'model.dim=value' entries, e.g. 'brain.hidden=256'; empty keeps each model's defaults."),
        "share": Option(["brain", "quality", "plan"], "Models whose deltas `colony_export_state` shares with peers."),
        "corpus_bytes": Option(8 << 20, "Most bytes of source text the BPE tokenizer trains on."),
        "cognitive_timeout": Option(1.0, "Seconds a `colony_cognitive` override may take before the built-in model answers."),
        "stop_wait": Option(3.0, "Seconds the plugin waits at stop for the training thread to finish its step."),
        "tuned_kernels": Option(True, "Compile models with their BEAM-searched kernel choices (shipped, or from `colony models tune`); false keeps tinygrad's default heuristics."),
    },
)

# The built-in models: name -> (module, class, description).
BUILTIN = {
    "brain": ("brain", "Brain", "Predicts a step's success, error class and capabilities from 128 features."),
    "quality": ("quality", "Quality", "Scores a code diff from 32 diff features."),
    "plan": ("plan", "Plan", "Generates plans as step-token sequences."),
    "codegen": ("codegen", "Codegen", "Writes solutions from tests (BPE tokens)."),
}
MAX_BEAM = 8  # wider searches take hours on a small CPU and rarely find better kernels
DIM = re.compile(r"^([a-z][a-z0-9_-]*)\.([a-z_][a-z0-9_]*)=([0-9]+)$")

_state: dict[str, Models] = {}


def factory(module: str, cls: str) -> Callable[..., Any]:
    """A constructor that imports its model class only when called (after the device is set up)."""

    def build(seed: int = 0, **dims: int) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(seed=seed, **dims)

    build.__qualname__ = build.__name__ = cls
    return build


def parse_dims(entries: list[str]) -> dict[str, dict[str, int]]:
    """`["brain.hidden=64"]` -> `{"brain": {"hidden": 64}}`."""
    dims: dict[str, dict[str, int]] = {}
    for entry in entries:
        match = DIM.match(entry.strip())
        if match is None or int(match.group(3)) < 1:
            raise ConfigError(f"plugin.models.dims: {entry!r} is not 'model.dim=positive integer'")
        dims.setdefault(match.group(1), {})[match.group(2)] = int(match.group(3))
    return dims


def colony_register(registrar: Registrar) -> None:
    for name, (module, cls, description) in BUILTIN.items():
        registrar.model(name, factory(module, cls), description=description)
    registrar.rpc("models.list", models_list)
    registrar.rpc("models.train", models_train)
    registrar.rpc("models.eval", models_eval)
    registrar.rpc("models.predict", models_predict)
    registrar.rpc("models.examples.add", models_examples_add)
    registrar.rpc("models.export", models_export)
    registrar.rpc("models.import", models_import, destructive=True)
    registrar.rpc("models.tune", models_tune)
    registrar.panel("models", models_panel, title="Models")


async def colony_start(ctx: PluginContext) -> None:
    models = Models(ctx, parse_dims(ctx.config["dims"]))
    _state["models"] = models
    ctx.registrar.service("models", models)
    ctx.start_task(models.boot)
    ctx.start_task(models.run_cycles)


async def colony_stop(ctx: PluginContext) -> None:
    models = _state.pop("models", None)
    if models is not None:
        await models.stop()


async def colony_health(ctx: PluginContext) -> bool | str:
    models = _state.get("models")
    if models is None:
        return "not running"
    return True if models.worker.thread.is_alive() else "the training thread has stopped"


def colony_metrics() -> dict[str, float]:
    models = _state.get("models")
    if models is None:
        return {}
    gauges: dict[str, float] = {}
    for name in sorted(models.slots):
        row = models.describe(name)
        gauges.update({f"{name}.steps": row["steps"], f"{name}.examples": row["examples"]})
        if row["loss"] is not None:
            gauges[f"{name}.loss"] = row["loss"]
    return gauges


async def colony_export_state(peer: str) -> dict[str, Any] | None:
    """Deltas from the shared initialization of every shared model that has trained, base64-encoded."""
    models = _state.get("models")
    if models is None:
        return None
    shared = {}
    for name in models.config["share"]:
        slot = models.slots.get(name)
        if slot is not None and slot.model is not None and slot.model.steps > 0:
            shared[name] = base64.b64encode(await models.export_delta(name)).decode()
    return {"deltas": shared} if shared else None


async def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    """Merge each delta a peer shared into the model of the same name; a refused one is logged and skipped."""
    models = _state.get("models")
    if models is None or not isinstance(state, dict) or not isinstance(state.get("deltas"), dict):
        return
    for name, data in state["deltas"].items():
        try:
            await models.merge_delta(str(name), _bytes(data), rate, peer=peer)
        except (ServiceError, RPCError) as exc:
            models.ctx.log.warning("merge from %s refused: %s", peer, exc)


# -- RPC methods -------------------------------------------------------------------------


def _models() -> Models:
    models = _state.get("models")
    if models is None:
        raise RPCError(-32000, "the models plugin is not running")
    return models


def _bytes(data: Any) -> bytes:
    if not isinstance(data, str):
        raise RPCError(INVALID_PARAMS, "data must be a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RPCError(INVALID_PARAMS, "data is not valid base64") from None


async def _guard(call: Any) -> Any:
    try:
        return await call
    except ServiceError as exc:
        raise RPCError(INVALID_PARAMS, str(exc)) from None


def encode_blob(data: bytes) -> dict[str, Any]:
    """Bytes for the protocol: base64, size and sha256."""
    return {"data": base64.b64encode(data).decode(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


async def models_list() -> dict[str, Any]:
    """The device, the tokenizer, the last merge, and every registered model with its figures."""
    models = _models()
    models.sync_registrations()
    return {
        "device": models.device,
        "training": models.training,
        "tokenizer": models.ctx.store.get("tokenizer"),
        "last_merge": models.last_merge,
        "models": [models.describe(name) for name in sorted(models.slots)],
    }


async def models_train(name: str | None = None, seconds: float | None = None, steps: int | None = None) -> list[dict[str, Any]]:
    """Run a training cycle now on `name` (or every model with examples), at most `seconds` and `steps` each."""
    if (seconds is not None and seconds < 0) or (steps is not None and steps < 0):
        raise RPCError(INVALID_PARAMS, "seconds and steps must not be negative")
    return await _guard(_models().train(name, seconds, steps))  # type: ignore[no-any-return]


async def models_eval(name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Mean loss of `name` (or every model) on its newest `limit` examples."""
    if limit is not None and limit < 1:
        raise RPCError(INVALID_PARAMS, "limit must be a positive integer")
    return await _guard(_models().evaluate(name, limit))  # type: ignore[no-any-return]


async def models_predict(name: str, request: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    """Ask model `name` for a prediction; a `colony_cognitive` override answers first when one does."""
    output, by = await _guard(_models().answer(name, request))
    return {"model": name, "by": by, "output": output}


async def models_examples_add(name: str, examples: list) -> dict[str, Any]:  # type: ignore[type-arg]
    """Append training examples to model `name`'s pool."""
    sizes = await _guard(_models().add_examples(name, examples))
    return {"model": name, "added": len(examples), "examples": sizes[name]}


async def models_export(name: str, full: bool = False, path: str | None = None) -> dict[str, Any]:
    """Model `name`'s delta from the shared initialization (or its `full` weights): base64 inline, or written to `path` on the node."""
    models = _models()
    data = await _guard(models.export_weights(name) if full else models.export_delta(name))
    steps = models.slots[name].model.steps
    blob = encode_blob(data)
    if path is not None:
        await trio.to_thread.run_sync(write_private, Path(path).expanduser(), data)
        blob = {**blob, "data": None, "path": path}
    return {"model": name, "kind": "weights" if full else "delta", "steps": steps, **blob}


async def models_import(name: str, data: str | None = None, path: str | None = None, rate: float = 0.5, full: bool = False) -> dict[str, Any]:
    """Merge a delta into model `name` at `rate`, or load `full` weights; from base64 `data` or a file `path` on the node."""
    if (data is None) == (path is None):
        raise RPCError(INVALID_PARAMS, "give exactly one of data and path")
    if path is not None:
        try:
            raw = await trio.to_thread.run_sync(Path(path).expanduser().read_bytes)
        except OSError as exc:
            raise RPCError(INVALID_PARAMS, f"cannot read {path}: {exc.strerror}") from None
    else:
        raw = _bytes(data)
    models = _models()
    return await _guard(models.import_weights(name, raw) if full else models.merge_delta(name, raw, rate))  # type: ignore[no-any-return]


async def models_tune(name: str | None = None, beam: int = 2, output: str | None = None) -> list[dict[str, Any]]:
    """Search the kernels of `name` (or every built-in model) at BEAM width `beam`; keep the choices for the node, or write them to the folder `output`."""
    if type(beam) is not int or not 1 <= beam <= MAX_BEAM:
        raise RPCError(INVALID_PARAMS, f"beam must be an integer in 1..{MAX_BEAM}")
    folder = Path(output).expanduser() if output is not None else None
    return await _guard(_models().tune(name, beam, folder))  # type: ignore[no-any-return]


async def models_panel() -> dict[str, Any]:
    """The models panel: device and sizes as gauges, loss curves as series, a table of models, the last merge."""
    models = _state.get("models")
    if models is None:
        return {"text": "not running"}
    rows = [models.describe(name) for name in sorted(models.slots)]
    merge = models.last_merge
    merged = "no merge yet"
    if merge:
        merged = f"last merge: {merge['model']} {merge['kind']} at rate {merge['rate']}" + (
            f" refused: {merge['error']}" if merge.get("error") else f" from {merge.get('peer') or 'an operator'}"
        )
    return {
        "gauges": {"device": models.device, "training": models.training or "-", "models": len(rows)},
        "series": {f"{row['name']} loss": list(models.slots[row["name"]].losses) for row in rows if models.slots[row["name"]].losses},
        "table": {
            "columns": ["model", "arch", "parameters", "steps", "loss", "examples", "kernels"],
            "rows": [
                [row["name"], row["arch"] or "-", row["parameters"] if row["parameters"] is not None else "-", row["steps"],
                 f"{row['loss']:.4f}" if row["loss"] is not None else "-", row["examples"], row["kernels"] or "-"]
                for row in rows
            ],
        },
        "text": "\n".join([
            merged,
            *(f"{row['name']}: {row['error']}" for row in rows if row["error"]),
            *(f"{row['name']}: refused tuned kernels: {row['kernels_error']}" for row in rows if row["kernels_error"]),
        ]),
    }
