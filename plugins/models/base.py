"""The Model base class every neural model of the node derives from, and ModelError."""

from __future__ import annotations

import math
import random
import threading
from array import array
from typing import Any, ClassVar

from tinygrad import Context, Tensor, TinyJit, dtypes
from tinygrad.helpers import BEAM
from tinygrad.nn.optim import Optimizer
from tinygrad.nn.state import get_state_dict

from .replay import Replay, host_view


class ModelError(Exception):
    """A model refused an operation: bad input, corrupt weights, or a foreign architecture."""


class Model:
    """A tinygrad model with fixed batch shapes, a jitted optimizer step and exact state I/O.

    Subclasses set `name`, `arch`, `batch_size` and `defaults` (their dimensions), and implement
    `build` (the parameters), `optimizer`, `encode` (examples to fixed-shape tensors), `loss` and
    `predict`. All calls on one instance, and all tinygrad work in a process, belong on one thread,
    except `predict` once `replays_predictions()` (under the `predicting` lock).

    `beam` > 0 makes tinygrad search kernel variants when a jitted step is first captured (minutes;
    results persist in the CACHEDB that `device.setup` places under the node's home). The plugin
    instead ships the searched choices (`kernels`, `tuning`), so `beam` stays 0 in production.
    """

    name: ClassVar[str]
    arch: ClassVar[str]
    batch_size: ClassVar[int]
    defaults: ClassVar[dict[str, int]]
    _infer: TinyJit | None = None  # a model whose prediction runs this one JIT sets it

    def __init__(self, seed: int = 0, **dims: int) -> None:
        unknown = sorted(set(dims) - set(self.defaults))
        if unknown:
            raise ModelError(f"{self.name}: unknown dimensions {unknown}; known: {sorted(self.defaults)}")
        bad = sorted(k for k, v in dims.items() if type(v) is not int or v < 1)
        if bad:
            raise ModelError(f"{self.name}: dimensions {bad} must be positive integers")
        self.seed = seed
        self.dims: dict[str, int] = {**self.defaults, **dims}
        if self.dims.get("dim", 0) % self.dims.get("heads", 1):
            raise ModelError(f"{self.name}: dim must be a multiple of heads")
        self.steps = 0
        self.beam = BEAM.value
        Tensor.manual_seed(seed)
        self.net = self.build()
        Tensor.realize(*self.state_dict().values())
        self.opt = self.optimizer(list(self.state_dict().values()))
        self._lr = float(self.opt.lr.item())
        self._staged: dict[str, Tensor] = {}
        self._views: dict[str, memoryview | None] = {}
        self._replays: dict[TinyJit, Replay | None] = {}
        self._train_jit = TinyJit(self._train)
        self._eval_jit = TinyJit(self._eval)
        self.predicting = threading.Lock()  # held by whoever predicts: the staged request buffers are shared

    # --- what subclasses provide

    def build(self) -> Any:
        """Create the parameters (an object whose tensors `get_state_dict` finds)."""
        raise NotImplementedError

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        """The optimizer over `params`."""
        raise NotImplementedError

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        """Fixed-shape input tensors for one batch (see `stage`) and the batch's total loss weight."""
        raise NotImplementedError

    def loss(self, *inputs: Tensor) -> Tensor:
        """Scalar loss of one encoded batch, a weighted mean over its rows or tokens."""
        raise NotImplementedError

    def learning_rate(self) -> float:
        """Learning rate for the next step (constant unless a subclass schedules it)."""
        return self._lr

    def predict(self, request: dict) -> dict:
        """Inference on one JSON-able request."""
        raise NotImplementedError

    def replays_predictions(self) -> bool:
        """Whether `predict` now runs only replayed kernels (see `Replay`), so it may run on another thread than tinygrad's.

        True once captured for models whose prediction is the one JIT `_infer`.
        """
        return self._infer is not None and self._replays.get(self._infer) is not None

    def samples(self, rng: random.Random) -> tuple[list[dict], list[dict]]:
        """Synthetic examples (a full batch) and requests that reach every jitted shape; `tuning` searches kernels with them."""
        raise NotImplementedError

    # --- training

    def _train(self, *inputs: Tensor) -> Tensor:
        self.opt.zero_grad()
        loss = self.loss(*inputs)
        loss.backward()
        return loss.realize(*self.opt.schedule_step())

    def _eval(self, *inputs: Tensor) -> Tensor:
        return self.loss(*inputs).realize()

    def train_step(self, examples: list[dict]) -> float:
        """One optimizer step on `examples` (padded or trimmed to `batch_size`); returns the loss."""
        if not examples:
            raise ModelError(f"{self.name}: train_step needs at least one example")
        inputs, _ = self.encode(examples[: self.batch_size])
        lr = self.learning_rate()
        if lr != self._lr:
            write(self.opt.lr, array("f", [lr]))
            self._lr = lr
        loss = self.values(self._train_jit, *inputs, training=True)[0]
        self.steps += 1
        return loss

    def evaluate(self, examples: list[dict]) -> float:
        """Mean loss over `examples` without updating the weights."""
        if not examples:
            raise ModelError(f"{self.name}: evaluate needs at least one example")
        total = weight = 0.0
        for start in range(0, len(examples), self.batch_size):
            inputs, rows = self.encode(examples[start : start + self.batch_size])
            total += self.values(self._eval_jit, *inputs)[0] * rows
            weight += rows
        return total / weight if weight else 0.0

    def features(self, example: Any) -> array:
        """`example["features"]`: exactly `dims["inputs"]` finite numbers, or ModelError."""
        if not isinstance(example, dict):
            raise ModelError(f"{self.name}: an example or request must be an object")
        return vector(example.get("features"), self.dims["inputs"], f"{self.name}: features")

    def run(self, jit: TinyJit, *inputs: Tensor, training: bool = False) -> Any:
        """`jit(*inputs)`: captured under this model's settings, then replayed straight from its compiled kernels.

        The inputs must be staged buffers (`stage`), the same ones on every call.
        """
        replay = self._replays.get(jit)
        if replay is not None and replay.takes(inputs):
            return replay()
        with Context(TRAINING=int(training), BEAM=self.beam):
            out = jit(*inputs)
        if jit.captured is not None:
            self._replays[jit] = Replay.of(jit, inputs)
        return out

    def values(self, jit: TinyJit, *inputs: Tensor, training: bool = False) -> list:
        """The values of `run`'s output (one tensor) as a flat list, read from host memory the replay keeps a view of."""
        replay = self._replays.get(jit)
        if replay is not None and replay.view is not None and replay.takes(inputs):
            replay()
            return replay.view.tolist()
        return read(self.run(jit, *inputs, training=training))

    def stage(self, name: str, rows: list[array]) -> Tensor:
        """Equal-length `rows` (array('f') or array('i')) copied into the persistent input buffer `name`.

        The jitted steps read their inputs from these buffers in place, so a step costs one memcpy
        per input instead of a tinygrad copy schedule.
        """
        flat = array(rows[0].typecode)
        for row in rows:
            flat.extend(row)
        shape = (len(rows), len(rows[0]))
        buffer = self._staged.get(name)
        if buffer is None or buffer.shape != shape:
            dtype = dtypes.float32 if flat.typecode == "f" else dtypes.int32
            buffer = self._staged[name] = Tensor.zeros(*shape, dtype=dtype).contiguous().realize()
            self._views[name] = host_view(buffer)
        view = self._views[name]
        if view is not None:  # tinygrad runs CPU kernels synchronously on this thread: nothing is in flight
            view[:] = flat
        else:
            write(buffer, flat)
        return buffer

    def stage_batch(self, name: str, rows: list[array]) -> Tensor:
        """`stage` `rows` padded with zero rows to exactly `batch_size`, so every batch has one shape."""
        blank = array(rows[0].typecode, bytes(rows[0].itemsize * len(rows[0])))
        return self.stage(name, rows + [blank] * (self.batch_size - len(rows)))

    def stage_weights(self, count: int) -> Tensor:
        """Stage the row weights of a batch of `count` real rows: 1 for each of them, 0 for the padding."""
        return self.stage("weights", [array("f", [1.0] * count + [0.0] * (self.batch_size - count))])

    # --- state

    def parameter_count(self) -> int:
        """Number of trainable scalars."""
        return sum(t.numel() for t in self.state_dict().values())

    def state_dict(self) -> dict[str, Tensor]:
        """The parameters by name, in a stable order (the live tensors, not copies)."""
        return get_state_dict(self.net)

    def initial_state(self) -> dict[str, Tensor]:
        """The parameters a fresh model with this seed and these dimensions starts from."""
        Tensor.manual_seed(self.seed)
        state = get_state_dict(self.build())
        Tensor.realize(*state.values())
        return state

    def check_state(self, state: dict[str, Tensor], what: str = "state") -> None:
        """Raise ModelError unless `state` has exactly this model's names, shapes and dtypes."""
        own = self.state_dict()
        missing, extra = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
        if missing or extra:
            raise ModelError(f"{self.name}: {what} does not match {self.arch}: missing {missing[:5]}, unexpected {extra[:5]}")
        for key, tensor in own.items():
            other = state[key]
            if other.shape != tensor.shape or other.dtype != tensor.dtype:
                raise ModelError(
                    f"{self.name}: {what} tensor {key!r} is {other.dtype.name}{list(other.shape)}, "
                    f"expected {tensor.dtype.name}{list(tensor.shape)}"
                )

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Copy `state` into the parameters in place (the jitted steps keep their buffers)."""
        self.check_state(state)
        own = self.state_dict()
        Tensor.realize(*[own[k].assign(state[k].to(own[k].device)) for k in own])


def pad(values: list, length: int, fill: Any = 0) -> list:
    """`values` cut or padded with `fill` to exactly `length` items."""
    return list(values[:length]) + [fill] * (length - len(values))


def write(tensor: Tensor, values: array) -> None:
    """Overwrite a realized, contiguous tensor's memory with `values` (same count and type)."""
    buffer = tensor.uop.buffer
    if hasattr(buffer.allocator, "_as_buffer"):  # host memory (CPU): write in place, after a sync
        buffer.as_memoryview(force_zero_copy=True)[:] = memoryview(values).cast("B")
    else:
        tensor.assign(Tensor(values.tobytes(), dtype=tensor.dtype, device=tensor.device).reshape(tensor.shape)).realize()


def read(tensor: Tensor) -> list:
    """A realized tensor's values as a flat list, straight from host memory when it is one plain buffer.

    Saves about 0.2 ms per call against `tolist()`, which matters for single-example inference.
    """
    view = host_view(tensor)
    return view.tolist() if view is not None else tensor.flatten().tolist()


def vector(value: Any, length: int, what: str) -> array:
    """`value` as an array('f') of `length` finite numbers, or ModelError."""
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise ModelError(f"{what} must be a list of {length} numbers")
    try:
        out = array("f", value)
    except (TypeError, OverflowError):
        raise ModelError(f"{what} must hold finite numbers, not other values") from None
    if not math.isfinite(sum(out)):
        raise ModelError(f"{what} must hold finite numbers")
    return out


def tokens(value: Any, vocab: int, what: str) -> list[int]:
    """`value` as a list of token ids below `vocab`, or ModelError."""
    if not isinstance(value, (list, tuple)) or not all(type(t) is int and 0 <= t < vocab for t in value):
        raise ModelError(f"{what} must be a list of token ids in 0..{vocab - 1}")
    return list(value)
