"""The `models` service: registered models, their training cycles, inference, sharing and kernel tuning."""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from colony.core import PluginContext

from . import device
from .examples import Examples
from .worker import ServiceError, Worker, adopt_tinygrad, wait

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PROGRESS_EVERY = 0.25  # seconds between two progress events of one cycle


@dataclass
class Slot:
    """One registered model; `model` is built lazily, on the worker thread."""

    name: str
    factory: Callable[..., Any]
    owner: str
    dims: dict[str, int]
    model: Any = None
    parameters: int | None = None
    losses: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    error: str = ""
    kernels: str = ""  # which kernels it compiles with: tuned (how many) or tinygrad's defaults
    kernels_error: str = ""  # why a tuned-kernel table was refused


class Models:
    """The `models` service: examples, training cycles, inference, weights and deltas for every registered model."""

    def __init__(self, ctx: PluginContext, dims: dict[str, dict[str, int]]) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.dims = dims
        self.folder = ctx.home / "models"
        self.worker = Worker(on_exit=device.release_cache)
        self.slots: dict[str, Slot] = {}
        self.device = ""
        self.training = ""  # the model a cycle is running on, if any
        self.tuning = ""  # the model whose kernels are being searched, if any
        self.last_merge: dict[str, Any] = ctx.store.get("merge/last") or {}
        self.pool = Examples(ctx, self.folder, dims)
        self._beside = trio.CapacityLimiter(1)  # the thread for predictions that need not wait for the training thread
        self._searching = trio.Lock()  # one kernel search at a time: they time kernels on the same cores
        self._token = trio.lowlevel.current_trio_token()
        self.sync_registrations()
        # The device must be set up before any other job imports tinygrad: it is the first job queued.
        self.worker.thread.start()
        self._device = self.worker.submit(lambda: adopt_tinygrad(ctx.home), urgent=True)

    # -- lifecycle -------------------------------------------------------------------------

    async def boot(self) -> None:
        """Report the device the worker picked, then load every model that has saved weights."""
        try:
            self.device = await wait(self._device)
        except Exception as exc:  # no compiler, no device: the node runs on without models
            self.device = f"none ({exc})"
            self.ctx.log.error("models have no device: %s", exc)
            return
        self.ctx.log.info("models run on %s", self.device)
        for slot in list(self.slots.values()):
            if self.weights_path(slot.name).exists():
                try:
                    await self.built(slot.name)
                except ServiceError:
                    pass  # recorded in the slot and published; the node runs on

    async def stop(self) -> None:
        """Stop the worker after its current step; give it a few seconds to finish."""
        self.worker.stop()
        if self.worker.thread.is_alive():
            with trio.move_on_after(max(0.1, float(self.config["stop_wait"]))):
                await trio.to_thread.run_sync(self.worker.thread.join, abandon_on_cancel=True)

    async def run_cycles(self) -> None:
        """Train every model with examples, one time-boxed cycle each, every `interval` seconds."""
        interval = float(self.config["interval"])
        if interval <= 0:
            return
        while True:
            await trio.sleep(interval)
            if self.tuning:  # a kernel search times candidates: training beside it would skew them
                continue
            try:
                await self.train()
            except ServiceError:  # only when the service stops: each model's failures are caught in train
                return

    def sync_registrations(self) -> None:
        """Track the models every plugin has registered: new ones get a slot, vanished ones are dropped."""
        # Our own registrations are held back until colony_start returns, so read them from our registrar.
        own = [reg for reg in self.ctx.registrar.held if reg.kind == "model"]
        current = {reg.key: reg for reg in (*own, *self.ctx.registrations("model"))}
        for name in set(self.slots) - set(current):
            del self.slots[name]
        for name, reg in current.items():
            if name not in self.slots:
                self.slots[name] = Slot(name, reg.value, reg.owner, self.dims.get(name, {}))

    def slot(self, name: str) -> Slot:
        """The slot of model `name`, or a clear error."""
        self.sync_registrations()
        slot = self.slots.get(name)
        if slot is None:
            known = ", ".join(sorted(self.slots)) or "none"
            raise ServiceError(f"no model named {name!r} (registered: {known})")
        return slot

    def weights_path(self, name: str) -> Path:
        """Where model `name` keeps its weights."""
        return self.folder / f"{name}.safetensors"

    # -- building and loading (worker thread) ----------------------------------------------

    async def built(self, name: str) -> Any:
        """Model `name`, built (and loaded from its saved weights) on first use."""
        slot = self.slot(name)
        return slot.model if slot.model is not None else await self.worker.run(lambda: self._build(slot))

    def _build(self, slot: Slot) -> Any:
        from .base import ModelError
        from .weights import load

        if slot.model is not None:
            return slot.model
        if not NAME.match(slot.name):
            raise ServiceError(f"model name {slot.name!r} must match {NAME.pattern} (it names a file)")
        try:
            model = slot.factory(seed=int(self.config["seed"]), **slot.dims)
        except ModelError as exc:
            raise ServiceError(str(exc)) from None
        except Exception as exc:  # a third party's factory may fail in any way
            raise ServiceError(f"{slot.name}: cannot build the model: {type(exc).__name__}: {exc}") from None
        path = self.weights_path(slot.name)
        if path.exists():
            try:
                load(model, path)
            except ModelError as exc:
                aside = path.with_name(f"{path.name}.corrupt")
                path.replace(aside)
                self._fail(slot, f"refused {path.name}: {exc}; moved it to {aside.name} and started from fresh weights")
        slot.losses.extend(self.ctx.store.get(f"meta/{slot.name}", {}).get("losses", []))
        slot.parameters = model.parameter_count()
        self._use_kernels(slot, model)
        slot.model = model
        return model

    def _use_kernels(self, slot: Slot, model: Any) -> None:
        """Apply the model's tuned kernel table (its own from `tune`, else the shipped one) unless `tuned_kernels` is off."""
        from . import kernels, tuning

        table, slot.kernels_error = tuning.choose(model, self.ctx.home) if self.config["tuned_kernels"] else (None, "")
        if slot.kernels_error:
            self.ctx.log.warning("model %s: refused tuned kernels: %s", slot.name, slot.kernels_error)
        if table is None:
            kernels.deactivate(model.name)
        else:
            kernels.activate(table)
        slot.kernels = kernels.describe(table)

    def _save(self, slot: Slot) -> dict[str, Any]:
        """Write the weights atomically; return the metadata record for the store."""
        from .weights import save

        model = slot.model
        meta = {"steps": model.steps, "seed": model.seed, "arch": model.arch, "dims": dict(model.dims)}
        save(model, self.weights_path(slot.name), {key: str(value) for key, value in meta.items()})
        return {**meta, "losses": list(slot.losses), "saved_at": time.time()}

    # -- examples --------------------------------------------------------------------------

    async def add_example(self, name: str, example: dict[str, Any]) -> int:
        """Check `example` against model `name` and append it to its pool (the oldest drop past the cap); returns the pool size."""
        return (await self.add_examples(name, [example]))[name]

    async def add_examples(self, name: str, examples: list[dict[str, Any]]) -> dict[str, int]:
        """Check and append several examples of model `name`; returns `{name: pool size}`."""
        model = await self.built(name)
        if not examples or not all(isinstance(e, dict) for e in examples):
            raise ServiceError("examples must be a non-empty list of objects")

        async def check(ready: list[dict[str, Any]]) -> None:
            await self.worker.run(lambda: self._check(model, ready), urgent=True)

        return {name: await self.pool.add(name, examples, model.dims.get("vocab", 0), check)}

    @staticmethod
    def _check(model: Any, examples: list[dict[str, Any]]) -> None:
        from .base import ModelError

        for start in range(0, len(examples), model.batch_size):
            try:
                model.encode(examples[start : start + model.batch_size])
            except ModelError as exc:
                raise ServiceError(str(exc)) from None
            except Exception as exc:  # a model's encode chokes on a shape or type it did not expect
                raise ServiceError(f"{model.name}: example rejected: {type(exc).__name__}: {exc}") from None

    def step_names(self, tokens: list[int]) -> list[str]:
        """Plan token ids back to step names (specials and unknown ids are left out)."""
        return self.pool.step_names(tokens)

    # -- training --------------------------------------------------------------------------

    async def train(self, name: str | None = None, seconds: float | None = None, steps: int | None = None) -> list[dict[str, Any]]:
        """Run one time-boxed training cycle on model `name`, or on every model with examples; returns each cycle's summary."""
        self.sync_registrations()
        names = [self.slot(name).name] if name else sorted(self.slots)
        budget = float(self.config["cycle_seconds"]) if seconds is None else seconds
        limit = int(self.config["cycle_steps"]) if steps is None else steps
        results = []
        for each in names:
            try:
                summary = await self._train(each, budget, limit)
            except Exception as exc:
                if name or self.worker.stopping.is_set():
                    raise
                self._fail(self.slots[each], f"training failed: {type(exc).__name__}: {exc}")
                continue
            if summary is not None:
                results.append(summary)
            elif name:
                raise ServiceError(f"model {each!r} has no examples to train on")
        return results

    async def _train(self, name: str, seconds: float, limit: int) -> dict[str, Any] | None:
        """One cycle on model `name`; None when it has no examples."""
        pool = await self.pool.prepare(name, await trio.to_thread.run_sync(self.pool.read, name))
        if not pool:
            return None
        slot = self.slots[name]
        await self.built(name)
        self.training = name
        try:
            summary, meta = await self.worker.run(lambda: self._cycle(slot, pool, seconds, limit))
        finally:
            self.training = ""
        await self.ctx.store.put(f"meta/{name}", meta)
        self.ctx.publish("models.trained", summary)
        return summary  # type: ignore[no-any-return]

    def _cycle(self, slot: Slot, pool: list[dict[str, Any]], seconds: float, limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train until the time box or step limit runs out, serving inference between steps; then save."""
        model = slot.model
        rng = random.Random(f"{model.seed}:{model.steps}")
        started = last_event = time.monotonic()
        deadline = started + seconds
        ran, losses = 0, []
        while (limit <= 0 or ran < limit) and time.monotonic() < deadline and not self.worker.stopping.is_set():
            batch = rng.sample(pool, model.batch_size) if len(pool) > model.batch_size else pool
            losses.append(model.train_step(batch))
            slot.losses.append(losses[-1])
            ran += 1
            now = time.monotonic()
            if now - last_event >= PROGRESS_EVERY or ran == limit:
                last_event = now
                self._publish("models.progress", {"model": slot.name, "step": ran, "steps": limit, "seconds": seconds,
                                                  "elapsed": round(now - started, 3), "loss": losses[-1]})
            self.worker.serve_urgent()
        meta = self._save(slot) if ran else self.ctx.store.get(f"meta/{slot.name}", {})
        summary = {
            "model": slot.name,
            "steps_run": ran,
            "steps": model.steps,
            "loss": sum(losses) / len(losses) if losses else None,
            "examples": len(pool),
            "seconds": round(time.monotonic() - started, 3),
        }
        return summary, meta

    async def evaluate(self, name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Mean loss of each model (or `name`) on its newest `limit` examples (default four batches)."""
        self.sync_registrations()
        results = []
        for each in [self.slot(name).name] if name else sorted(self.slots):
            head, end = self.pool.bounds(each)
            if head == end:
                if name:
                    results.append({"model": each, "loss": None, "examples": 0, "steps": self.describe(each)["steps"]})
                continue
            model = await self.built(each)
            pool = await self.pool.prepare(each, await trio.to_thread.run_sync(self.pool.read, each, limit or 4 * model.batch_size))
            loss = await self.worker.run(lambda: model.evaluate(pool), urgent=True)
            results.append({"model": each, "loss": loss, "examples": len(pool), "steps": model.steps})
        return results

    # -- inference -------------------------------------------------------------------------

    async def predict(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """`name.predict`: a plugin answering the `colony_cognitive` hook wins; otherwise the built-in model answers."""
        answer, _ = await self.answer(name, request)
        return answer

    async def answer(self, name: str, request: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The prediction and who made it (a plugin's name, or "model")."""
        from .base import ModelError

        if not isinstance(request, dict):
            raise ServiceError("a prediction request must be an object")
        with trio.move_on_after(float(self.config["cognitive_timeout"])):
            found = await self.ctx.hooks.first("colony_cognitive", name=f"{name}.predict", request=request)
            if found is not None and isinstance(found[1], dict):
                return found[1], found[0]
        model = await self.built(name)
        [ready] = await self.pool.prepare(name, [request])

        def predict() -> dict[str, Any]:
            with model.predicting:
                return model.predict(ready)  # type: ignore[no-any-return]

        try:
            if not model.replays_predictions():
                output = await self.worker.run(predict, urgent=True)
            elif model.predicting.acquire(blocking=False):
                # A replay is a few kernel calls (0.16 ms for the full brain), beside any training step:
                # cheaper inline than a thread hop. Another thread predicting sends this one there too.
                try:
                    output = model.predict(ready)
                finally:
                    model.predicting.release()
            else:
                output = await trio.to_thread.run_sync(predict, limiter=self._beside)
        except ModelError as exc:
            raise ServiceError(str(exc)) from None
        if name == "plan":
            output = {**output, "steps": self.pool.step_names(output.get("tokens", []))}
        elif name == "codegen" and isinstance(request.get("source"), str):
            output = {**output, "text": (await self.pool.tokenizer()).decode(output.get("tokens", []))}
        return output, "model"

    # -- sharing weights -------------------------------------------------------------------

    async def export_delta(self, name: str) -> bytes:
        """Model `name`'s change from the shared fresh initialization, as bytes for `merge_delta`."""
        from .federation import export_delta

        model = await self.built(name)
        return bytes(await self.worker.run(lambda: export_delta(model), urgent=True))

    async def export_weights(self, name: str) -> bytes:
        """Model `name`'s full weights as safetensors bytes."""
        from .weights import dump

        model = await self.built(name)
        return bytes(await self.worker.run(lambda: dump(model), urgent=True))

    async def merge_delta(self, name: str, delta: bytes, rate: float, peer: str = "") -> dict[str, Any]:
        """Move model `name` towards a peer's delta by `rate`, then save; a foreign or corrupt delta is refused."""
        from .federation import merge_delta

        return await self._change(name, "delta", lambda model: merge_delta(model, delta, rate), rate=rate, peer=peer)

    async def import_weights(self, name: str, data: bytes, peer: str = "") -> dict[str, Any]:
        """Replace model `name`'s weights with full safetensors weights; the old ones stay on any error."""
        from .weights import load_bytes

        return await self._change(name, "weights", lambda model: load_bytes(model, data), rate=1.0, peer=peer)

    async def _change(self, name: str, kind: str, change: Callable[[Any], Any], rate: float, peer: str) -> dict[str, Any]:
        from .base import ModelError

        slot = self.slot(name)
        await self.built(name)

        def apply() -> dict[str, Any]:
            change(slot.model)
            return self._save(slot)

        record = {"model": name, "kind": kind, "rate": rate, "peer": peer, "at": time.time()}
        try:
            meta = await self.worker.run(apply, urgent=True)
        except (ModelError, ValueError) as exc:
            self.last_merge = {**record, "error": str(exc)}
            await self.ctx.store.put("merge/last", self.last_merge)
            raise ServiceError(f"{name}: refused: {exc}") from None
        self.last_merge = {**record, "steps": meta["steps"]}
        await self.ctx.store.put(f"meta/{name}", meta)
        await self.ctx.store.put("merge/last", self.last_merge)
        self.ctx.publish("models.merged", self.last_merge)
        return self.last_merge

    # -- tuning kernels --------------------------------------------------------------------

    async def tune(self, name: str | None = None, beam: int = 2, output: Path | None = None) -> list[dict[str, Any]]:
        """Search the kernels of model `name` (or every built-in model) at BEAM width `beam` and keep the choices; a summary per model.

        Each search runs in a process of its own, for minutes, while automatic training pauses. The table
        goes to `<home>/models/tuned/<name>.json`, which the model uses from its next compilation on, or
        to `<output>/<name>.json`, which this node does not read.
        """
        self.sync_registrations()
        slots = [self.slot(name)] if name else [slot for slot in sorted(self.slots.values(), key=lambda s: s.name) if slot.owner == self.ctx.name]
        return [await self._tune(slot, beam, output) for slot in slots]

    async def _tune(self, slot: Slot, beam: int, output: Path | None) -> dict[str, Any]:
        from .tuning import own_path  # not at import: `python -m colony.plugins.models.tuning` runs it as a script

        if slot.owner != self.ctx.name:
            raise ServiceError(f"{slot.name}: only the built-in models can be tuned (this one comes from plugin {slot.owner!r})")
        path = output / f"{slot.name}.json" if output is not None else own_path(self.ctx.home, slot.name)
        command = [sys.executable, "-m", "colony.plugins.models.tuning", slot.name, "--beam", str(beam),
                   "--home", str(self.ctx.home), "--output", str(path), "--dims", json.dumps(slot.dims)]
        async with self._searching:
            self.tuning = slot.name
            try:
                done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
            finally:
                self.tuning = ""
        report = done.stdout.decode(errors="replace").strip().splitlines()
        if done.returncode != 0 or not report:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise ServiceError(f"{slot.name}: the kernel search failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
        summary: dict[str, Any] = json.loads(report[-1])
        if output is None and slot.model is not None:
            await self.worker.run(lambda: self._use_kernels(slot, slot.model), urgent=True)
        self.ctx.publish("models.tuned", summary)
        return summary

    # -- reporting -------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        """One model's figures for lists, panels and metrics."""
        slot = self.slots[name]
        model = slot.model
        meta = self.ctx.store.get(f"meta/{name}", {})
        head, end = self.pool.bounds(name)
        return {
            "name": name,
            "owner": slot.owner,
            "arch": getattr(model, "arch", meta.get("arch")),
            "loaded": model is not None,
            "parameters": slot.parameters,
            "dims": dict(model.dims) if model is not None else slot.dims,
            "steps": model.steps if model is not None else meta.get("steps", 0),
            "loss": slot.losses[-1] if slot.losses else None,
            "examples": end - head,
            "saved_at": meta.get("saved_at"),
            "error": slot.error,
            "kernels": slot.kernels,
            "kernels_error": slot.kernels_error,
        }

    def _fail(self, slot: Slot, error: str) -> None:
        """Record a model's failure where operators look: its slot (models.list, the panel), the log, an event."""
        slot.error = error
        self.ctx.log.error("model %s: %s", slot.name, error)
        self._publish("models.error", {"model": slot.name, "error": error})

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        """Publish from any thread through the trio loop, without waiting."""
        try:
            self._token.run_sync_soon(self.ctx.publish, topic, data)
        except trio.RunFinishedError:
            pass

