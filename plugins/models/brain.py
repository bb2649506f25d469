"""The brain: an MLP predicting a step's success, error class and capabilities from 128 features."""

from __future__ import annotations

import random
from array import array

from tinygrad import Tensor, TinyJit
from tinygrad.nn.optim import AdamW, Optimizer

from .base import Model, ModelError, vector
from .features import CAPABILITIES, ERROR_CLASSES
from .layers import MLP

N_ERRORS, N_CAPS = len(ERROR_CLASSES), len(CAPABILITIES)
# Target row layout: success, error one-hot, capability targets, capability mask.
_ERR, _CAP, _MASK = 1, 1 + N_ERRORS, 1 + N_ERRORS + N_CAPS


class Brain(Model):
    """MLP inputs→hidden→hidden→23: success (BCE), 11 error classes (softmax CE), 11 capabilities (BCE).

    Example: {"features": [128 floats], "success": 0|1, "error": 0..10 | None,
    "capabilities": [11 floats 0..1 or None]}; predict({"features": [...]}) returns
    {"success": p, "error": [11 probabilities], "capabilities": [11 probabilities]}.
    Adam at the seed's learning rate 0.003/(1 + steps/1e5) with decoupled weight decay 2e-4.
    """

    name = "brain"
    arch = "brain/1"
    batch_size = 64
    defaults = {"inputs": 128, "hidden": 1024}

    def __init__(self, seed: int = 0, **dims: int) -> None:
        super().__init__(seed, **dims)
        self._infer = TinyJit(self._probabilities)

    def build(self) -> MLP:
        d = self.dims
        return MLP(d["inputs"], d["hidden"], d["hidden"], 1 + N_ERRORS + N_CAPS)

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        return AdamW(params, lr=3e-3, weight_decay=2e-4)

    def learning_rate(self) -> float:
        return 3e-3 / (1 + self.steps / 1e5)

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        x = self.stage_batch("x", [self.features(e) for e in examples])
        targets = self.stage_batch("targets", [_targets(e) for e in examples])
        return (x, targets, self.stage_weights(len(examples))), float(len(examples))

    def loss(self, x: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        out, weights = self.net(x), weights.reshape(-1)
        success = out[:, 0].binary_crossentropy_logits(targets[:, 0], reduction="none")
        error_onehot = targets[:, _ERR:_CAP]
        error = -(out[:, _ERR:_CAP].log_softmax() * error_onehot).sum(1)
        cap_logits, cap_targets, cap_mask = out[:, _CAP:], targets[:, _CAP:_MASK], targets[:, _MASK:]
        caps = (cap_logits.binary_crossentropy_logits(cap_targets, reduction="none") * cap_mask).sum(1) / N_CAPS
        per_row = success + error + caps
        return (per_row * weights).sum() / weights.sum().maximum(1)

    def predict(self, request: dict) -> dict:
        """Probabilities for one step: success, error classes, capabilities."""
        out = self.values(self._infer, self.stage("request", [self.features(request)]))
        return {"success": out[0], "error": out[_ERR:_CAP], "capabilities": out[_CAP:]}

    def samples(self, rng: random.Random) -> tuple[list[dict], list[dict]]:
        d = self.dims
        examples = [
            {"features": [rng.random() for _ in range(d["inputs"])], "success": rng.randrange(2), "error": rng.randrange(N_ERRORS),
             "capabilities": [rng.random() for _ in range(N_CAPS)]}
            for _ in range(self.batch_size)
        ]
        return examples, [{"features": examples[0]["features"]}]

    def _probabilities(self, x: Tensor) -> Tensor:
        out = self.net.one(x)
        return out[:, :1].sigmoid().cat(out[:, _ERR:_CAP].softmax(), out[:, _CAP:].sigmoid(), dim=1).realize()


def _targets(example: dict) -> array:
    """success, one-hot error, capability targets and mask, validated."""
    success = example.get("success")
    if success not in (0, 1):
        raise ModelError("brain: success must be 0 or 1")
    onehot = [0.0] * N_ERRORS
    error = example.get("error")
    if error is not None:
        if isinstance(error, bool) or not isinstance(error, int) or not 0 <= error < N_ERRORS:
            raise ModelError(f"brain: error must be a class index 0..{N_ERRORS - 1} or null")
        onehot[error] = 1.0
    caps = example.get("capabilities")
    if caps is None:
        caps = [None] * N_CAPS
    if not isinstance(caps, (list, tuple)) or len(caps) != N_CAPS:
        raise ModelError(f"brain: capabilities must be a list of {N_CAPS} numbers or nulls")
    mask = [0.0 if c is None else 1.0 for c in caps]
    values = vector([0.0 if c is None else c for c in caps], N_CAPS, "brain: capabilities")
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ModelError("brain: capabilities must lie in 0..1")
    return array("f", [float(success), *onehot, *values, *mask])
