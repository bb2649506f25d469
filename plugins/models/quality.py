"""The quality model: an MLP scoring a code diff in -1..1 from 32 diff features."""

from __future__ import annotations

from array import array

from tinygrad import Tensor, TinyJit
from tinygrad.nn.optim import AdamW, Optimizer

from .base import Model, ModelError, read, vector
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
        self._infer = TinyJit(lambda x: self.net(x).tanh().realize())

    def build(self) -> MLP:
        d = self.dims
        return MLP(d["inputs"], d["hidden"], d["hidden"], 1)

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        return AdamW(params, lr=5e-4, weight_decay=1e-4)

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        rows, scores = [], array("f")
        for example in examples:
            rows.append(self.features(example))
            score = vector([example.get("score")], 1, "quality: score")[0]
            if not -1.0 <= score <= 1.0:
                raise ModelError("quality: score must lie in -1..1")
            scores.append(score)
        missing = self.batch_size - len(rows)
        rows += [array("f", bytes(4 * self.dims["inputs"]))] * missing
        scores.extend([0.0] * missing)
        weights = array("f", [1.0] * len(examples) + [0.0] * missing)
        inputs = self.stage("x", rows), self.stage("scores", [scores]), self.stage("weights", [weights])
        return inputs, float(len(examples))

    def loss(self, x: Tensor, scores: Tensor, weights: Tensor) -> Tensor:
        error = self.net(x)[:, 0].tanh() - scores.reshape(-1)
        return (error.square() * weights.reshape(-1)).sum() / weights.sum().maximum(1)

    def predict(self, request: dict) -> dict:
        """The predicted score of one diff."""
        x = self.stage("request", [self.features(request)])
        with self.compiling():
            return {"score": read(self._infer(x))[0]}
