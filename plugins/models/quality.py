"""The quality model: an MLP scoring a code diff in -1..1 from 32 diff features."""

from __future__ import annotations

import random

from tinygrad import Tensor, TinyJit
from tinygrad.nn.optim import AdamW, Optimizer

from .base import Model, ModelError, vector
from .layers import MLP


class Quality(Model):
    """MLP inputs→hidden→hidden→1 with tanh, trained with MSE toward the diff's score.

    Example: {"features": [32 floats], "score": -1..1}; predict({"features": [...]}) returns
    {"score": float}. Adam at the seed's learning rate 5e-4 with weight decay 1e-4.
    """

    name = "quality"
    arch = "quality/1"
    batch_size = 64
    defaults = {"inputs": 32, "hidden": 1024}

    def __init__(self, seed: int = 0, **dims: int) -> None:
        super().__init__(seed, **dims)
        self._infer = TinyJit(lambda x: self.net.one(x).tanh().realize())

    def build(self) -> MLP:
        d = self.dims
        return MLP(d["inputs"], d["hidden"], d["hidden"], 1)

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        return AdamW(params, lr=5e-4, weight_decay=1e-4)

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        rows, scores = [], []
        for example in examples:
            rows.append(self.features(example))
            scores.append(vector([example.get("score")], 1, "quality: score"))
            if not -1.0 <= scores[-1][0] <= 1.0:
                raise ModelError("quality: score must lie in -1..1")
        inputs = self.stage_batch("x", rows), self.stage_batch("scores", scores), self.stage_weights(len(examples))
        return inputs, float(len(examples))

    def loss(self, x: Tensor, scores: Tensor, weights: Tensor) -> Tensor:
        error = self.net(x)[:, 0].tanh() - scores.reshape(-1)
        return (error.square() * weights.reshape(-1)).sum() / weights.sum().maximum(1)

    def predict(self, request: dict) -> dict:
        """The predicted score of one diff."""
        return {"score": self.values(self._infer, self.stage("request", [self.features(request)]))[0]}

    def samples(self, rng: random.Random) -> tuple[list[dict], list[dict]]:
        examples = [{"features": [rng.uniform(-1, 1) for _ in range(self.dims["inputs"])], "score": rng.uniform(-1, 1)}
                    for _ in range(self.batch_size)]
        return examples, [{"features": examples[0]["features"]}]
