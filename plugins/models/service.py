"""The training service: one thread owns all tinygrad work; trio hands it jobs, inference first."""

from __future__ import annotations

import base64
import hashlib
import itertools
import queue
import random
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from colony.core import PluginContext

from . import device
from .features import SPECIAL_TOKENS, UNK
from .tokenizer import BPE, VOCAB_SIZE, TokenizerError, corpus
from .tokenizer import train as train_tokenizer

URGENT, NORMAL, STOP = 1, 2, 0
THREAD = "colony-models"  # the name of every worker thread, so a new one can find an old one
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PLAN_SPECIALS = len(SPECIAL_TOKENS)  # PAD, BOS, EOS, UNK come before the step names
TEXTS = ("source", "target")  # codegen fields that may be given as text
PROGRESS_EVERY = 0.25  # seconds between two progress events of one cycle


class ServiceError(Exception):
    """A request the models service refuses: unknown model, bad example, bad weights, not running."""


class Worker:
    """The one thread that runs tinygrad: jobs in priority order, urgent ones also between training steps."""

    def __init__(self, on_exit: Callable[[], None] = lambda: None) -> None:
        self.on_exit = on_exit
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=THREAD, daemon=True)

    def submit(self, fn: Callable[[], Any], urgent: bool = False) -> Future[Any]:
        """Queue `fn`; its result or exception arrives in the returned future."""
        future: Future[Any] = Future()
        if self.stopping.is_set():
            future.set_exception(ServiceError("the models service is stopping"))
        else:
            self._queue.put((URGENT if urgent else NORMAL, next(self._order), fn, future))
        return future

    async def run(self, fn: Callable[[], Any], urgent: bool = False) -> Any:
        """Run `fn` on the worker thread and await its result without blocking trio."""
        return await wait(self.submit(fn, urgent))

    def serve_urgent(self) -> None:
        """Run every queued urgent job now (called between training steps, on the worker thread)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item[0] != URGENT:
                self._queue.put(item)
                return
            self._execute(item)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item[2] is None:
                break
            self._execute(item)
        self.on_exit()
        while True:  # whatever is left will never run
            try:
                _, _, _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None:
                future.cancel()

    @staticmethod
    def _execute(item: tuple[int, int, Callable[[], Any] | None, Future[Any] | None]) -> None:
        _, _, fn, future = item
        assert fn is not None and future is not None
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # delivered to the awaiting trio task, never lost
            future.set_exception(exc)

    def stop(self) -> None:
        """Ask the thread to finish its current job and exit."""
        self.stopping.set()
        self._queue.put((STOP, next(self._order), None, None))


def adopt_tinygrad(home: Path) -> str:
    """Make the calling worker tinygrad's only user in the process, set it up, and return its device.

    During a blue/green swap (or with two nodes in one process) the previous worker may still be
    running: tinygrad is not thread-safe, so this one waits for it to end.
    """
    me = threading.current_thread()
    for other in threading.enumerate():
        if other is not me and other.name == THREAD:
            other.join()
    name = device.setup(home)
    device.own_cache()
    return name


async def wait(future: Future[Any]) -> Any:
    """The result of a worker job, awaited without blocking trio."""
    token, done = trio.lowlevel.current_trio_token(), trio.Event()

    def wake(_: Future[Any]) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    future.add_done_callback(wake)
    await done.wait()
    try:
        return future.result()
    except CancelledError:
        raise ServiceError("the models service stopped before the job ran") from None


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
        self.last_merge: dict[str, Any] = ctx.store.get("merge/last") or {}
        self.bpe: BPE | None = None
        self._token = trio.lowlevel.current_trio_token()
        self._write_lock = trio.Lock()
        self._tokenizer_lock = trio.Lock()
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
        slot.model = model
        return model

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
        async with self._write_lock:
            vocab = self._grow_vocab(examples, model.dims.get("vocab", 0)) if name == "plan" else None
            ready = await self.prepare(name, examples, vocab)
            await self.worker.run(lambda: self._check(model, ready), urgent=True)
            head, end = self.bounds(name)
            cap = max(1, int(self.config["max_examples"]))
            async with self.ctx.store.transaction() as tx:
                for example in examples:
                    tx.put(f"ex/{name}/{end:012d}", example)
                    end += 1
                while end - head > cap:
                    tx.delete(f"ex/{name}/{head:012d}")
                    head += 1
                tx.put(f"exseq/{name}", [head, end])
                if vocab is not None:
                    tx.put("plan/vocab", vocab)
        return {name: end - head}

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

    def bounds(self, name: str) -> tuple[int, int]:
        """The sequence numbers of model `name`'s oldest stored example and of the next one."""
        head, end = self.ctx.store.get(f"exseq/{name}", [0, 0])
        return head, end

    def examples(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The stored examples of model `name`, oldest first (the newest `limit` of them)."""
        head, end = self.bounds(name)
        start = max(head, end - limit) if limit else head
        after = f"ex/{name}/{start - 1:012d}" if start > 0 else None
        return [value for _, value in self.ctx.store.scan(f"ex/{name}/", after=after)]

    def _grow_vocab(self, examples: list[dict[str, Any]], size: int) -> dict[str, int]:
        """The plan vocabulary with the next free token id for every new step name in `examples`, while it has room."""
        vocab: dict[str, int] = dict(self.ctx.store.get("plan/vocab", {}))
        for example in examples:
            for step in _names(example.get("steps", []), "steps"):
                if step not in vocab and PLAN_SPECIALS + len(vocab) < size:
                    vocab[step] = PLAN_SPECIALS + len(vocab)
        return vocab

    async def prepare(self, name: str, items: list[dict[str, Any]], vocab: dict[str, int] | None = None) -> list[dict[str, Any]]:
        """Examples or requests as model `name` reads them: plan step names and codegen texts become token ids."""
        if name == "plan":
            vocab = self.ctx.store.get("plan/vocab", {}) if vocab is None else vocab
            return [_plan_ids(item, vocab) for item in items]
        if name == "codegen" and any(isinstance(item.get(key), str) for item in items for key in TEXTS):
            bpe = await self.tokenizer()
            return await trio.to_thread.run_sync(lambda: [_codegen_ids(item, bpe) for item in items])  # type: ignore[no-any-return]
        return items

    def step_names(self, tokens: list[int]) -> list[str]:
        """Plan token ids back to step names (specials and unknown ids are left out)."""
        names = {i: step for step, i in self.ctx.store.get("plan/vocab", {}).items()}
        return [names[t] for t in tokens if t in names]

    # -- the tokenizer ---------------------------------------------------------------------

    async def tokenizer(self) -> BPE:
        """The BPE tokenizer: loaded from `<home>/models/tokenizer.json`, or trained now on the node's code."""
        async with self._tokenizer_lock:
            path = self.folder / "tokenizer.json"
            if self.bpe is None and path.exists():
                try:
                    self.bpe = await trio.to_thread.run_sync(BPE.load, path)
                except TokenizerError as exc:
                    self.ctx.log.error("%s; training a new tokenizer", exc)
            if self.bpe is None:
                bpe = await trio.to_thread.run_sync(self._train_tokenizer)
                await trio.to_thread.run_sync(bpe.save, path)
                await self.ctx.store.put("tokenizer", {"vocab_size": bpe.vocab_size, "trained_at": time.time()})
                self.bpe = bpe
            return self.bpe

    def _train_tokenizer(self) -> BPE:
        """Train a tokenizer on the verified solutions in the store and the node's code (in a worker thread)."""
        solutions = [e["target"] for e in self.examples("codegen") if isinstance(e.get("target"), str)]
        size = self.dims.get("codegen", {}).get("vocab", VOCAB_SIZE)
        return train_tokenizer(corpus(int(self.config["corpus_bytes"]), solutions), size)

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
        pool = await self.prepare(name, await trio.to_thread.run_sync(self.examples, name))
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
            head, end = self.bounds(each)
            if head == end:
                if name:
                    results.append({"model": each, "loss": None, "examples": 0, "steps": self.describe(each)["steps"]})
                continue
            model = await self.built(each)
            pool = await self.prepare(each, await trio.to_thread.run_sync(self.examples, each, limit or 4 * model.batch_size))
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
        [ready] = await self.prepare(name, [request])
        try:
            output = await self.worker.run(lambda: model.predict(ready), urgent=True)
        except ModelError as exc:
            raise ServiceError(str(exc)) from None
        if name == "plan":
            output = {**output, "steps": self.step_names(output.get("tokens", []))}
        elif name == "codegen" and isinstance(request.get("source"), str):
            output = {**output, "text": (await self.tokenizer()).decode(output.get("tokens", []))}
        return output, "model"

    # -- sharing weights -------------------------------------------------------------------

    async def export_delta(self, name: str) -> bytes:
        """Model `name`'s change from the shared fresh initialization, as bytes for `merge_delta`."""
        from .federation import export_delta

        model = await self.built(name)
        return bytes(await self.worker.run(lambda: export_delta(model), urgent=True))

    async def export_weights(self, name: str) -> bytes:
        """Model `name`'s full weights as safetensors bytes."""
        from .weights import save

        model = await self.built(name)

        def dump() -> bytes:
            with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
                path = Path(tmp) / "export.safetensors"
                save(model, path, {"steps": str(model.steps), "seed": str(model.seed), "arch": model.arch})
                return path.read_bytes()

        return bytes(await self.worker.run(dump, urgent=True))

    async def merge_delta(self, name: str, delta: bytes, rate: float, peer: str = "") -> dict[str, Any]:
        """Move model `name` towards a peer's delta by `rate`, then save; a foreign or corrupt delta is refused."""
        from .federation import merge_delta

        return await self._change(name, "delta", lambda model: merge_delta(model, delta, rate), rate=rate, peer=peer)

    async def import_weights(self, name: str, data: bytes, peer: str = "") -> dict[str, Any]:
        """Replace model `name`'s weights with full safetensors weights; the old ones stay on any error."""
        from .weights import load

        def replace(model: Any) -> None:
            with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
                path = Path(tmp) / "import.safetensors"
                path.write_bytes(data)
                load(model, path)

        return await self._change(name, "weights", replace, rate=1.0, peer=peer)

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

    # -- reporting -------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        """One model's figures for lists, panels and metrics."""
        slot = self.slots[name]
        model = slot.model
        meta = self.ctx.store.get(f"meta/{name}", {})
        head, end = self.bounds(name)
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


def _plan_ids(item: dict[str, Any], vocab: dict[str, int]) -> dict[str, Any]:
    """A plan example's `steps`, or a request's `prefix`, of step names as token ids."""
    out = dict(item)
    if "steps" in out:
        out["tokens"] = [vocab.get(step, UNK) for step in _names(out.pop("steps"), "steps")]
    if isinstance(out.get("prefix"), list) and any(isinstance(step, str) for step in out["prefix"]):
        out["prefix"] = [vocab.get(step, UNK) for step in _names(out["prefix"], "prefix")]
    return out


def _codegen_ids(item: dict[str, Any], bpe: BPE) -> dict[str, Any]:
    """A codegen example's or request's texts as BPE token ids."""
    try:
        return {**item, **{key: bpe.encode(item[key]) for key in TEXTS if isinstance(item.get(key), str)}}
    except TokenizerError as exc:
        raise ServiceError(f"codegen: {exc}") from None


def _names(value: Any, what: str) -> list[str]:
    """`value` as a list of plan step names, or a clear error."""
    if not isinstance(value, list) or not all(isinstance(step, str) for step in value):
        raise ServiceError(f"plan: {what} must be a list of step names")
    return value


def encode_blob(data: bytes) -> dict[str, Any]:
    """Bytes for the protocol: base64, size and sha256."""
    return {"data": base64.b64encode(data).decode(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
