"""The codegen model: an encoder-decoder transformer that reads tests and writes solutions."""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

from tinygrad import Tensor, TinyJit, nn
from tinygrad.nn.optim import AdamW, Optimizer

from .base import Model, ModelError, pad, tokens
from .features import BOS, EOS, PAD, UNK
from .layers import NEG, Block, Cross, Embedding, TiedOutput, causal_mask, decode, kv_cache, padding_mask, token_loss


class CodegenNet(TiedOutput):
    """Shared token embedding (inputs of both sides and the output head), positions, encoder and decoder."""

    def __init__(self, vocab: int, dim: int, heads: int, ffn: int, layers: int, max_len: int) -> None:
        self.tokens = Embedding(vocab, dim)
        self.positions = Embedding(max_len, dim)
        self.encoder = [Block(dim, heads, ffn) for _ in range(layers)]
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder = [Block(dim, heads, ffn, cross=True) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head_bias = Tensor.zeros(vocab).contiguous()

    def encode(self, source: Tensor) -> list[Cross]:
        """Each decoder block's cross-attention keys, values and source padding mask."""
        x = self.tokens(source) + self.positions.weight[: source.shape[1]]
        mask = padding_mask(source)
        for block in self.encoder:
            x = block(x, mask)
        memory = self.encoder_norm(x)
        return [(*block.cross.keys_values(memory), mask) for block in self.decoder if block.cross is not None]

    def __call__(self, source: Tensor, target: Tensor, positions: Tensor) -> Tensor:
        """Logits (batch, length, vocab) for decoder inputs `target` at absolute `positions`."""
        crosses = self.encode(source)
        x = self.tokens(target) + self.positions(positions)
        mask = causal_mask(target.shape[1])
        for block, cross in zip(self.decoder, crosses):
            x = block(x, mask, cross)
        return self.logits(x)


class Codegen(Model):
    """Encoder-decoder, 3+3 layers, D=384, 6 heads, FFN 1536, vocabulary 8192, positions up to 512.

    Example: {"source": [ids], "target": [ids]} (test code in, solution out; the model adds BOS/EOS).
    The encoder reads BOS + the first `source_len - 1` source tokens. The target is cut into windows
    of `target_len` tokens, one batch row each, trained with teacher forcing at every position (the
    seed's v9.3 scheme). predict({"source": [ids], "max_len": n}) returns {"tokens": [ids]}, greedy,
    without BOS/EOS, stopping at EOS. Adam with the seed's schedule: warm-up 3e-4 to 2e-3 over 500
    steps, then a periodic cosine between 2e-3 and 3e-4.
    """

    name = "codegen"
    arch = "codegen/1"
    batch_size = 4
    defaults = {
        "vocab": 8192,
        "dim": 384,
        "heads": 6,
        "ffn": 1536,
        "layers": 3,
        "max_len": 512,
        "source_len": 256,
        "target_len": 64,
    }

    def __init__(self, seed: int = 0, **dims: int) -> None:
        super().__init__(seed, **dims)
        if self.dims["source_len"] > self.dims["max_len"] or self.dims["target_len"] > self.dims["max_len"]:
            raise ModelError("codegen: source_len and target_len must not exceed max_len")
        self._generator: tuple[TinyJit, TinyJit] | None = None

    def build(self) -> CodegenNet:
        d = self.dims
        return CodegenNet(d["vocab"], d["dim"], d["heads"], d["ffn"], d["layers"], d["max_len"])

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        return AdamW(params, lr=3e-4, weight_decay=1e-4)

    def learning_rate(self) -> float:
        if self.steps < 500:
            return 3e-4 + (2e-3 - 3e-4) * self.steps / 500
        return 3e-4 + 1.7e-3 * 0.5 * (1 + math.cos(math.pi * (self.steps - 500) / 10000))

    def _source(self, request: Any) -> array:
        if not isinstance(request, dict):
            raise ModelError("codegen: an example or request must be an object")
        source = tokens(request.get("source"), self.dims["vocab"], "codegen: source")
        return array("i", pad([BOS, *source], self.dims["source_len"], PAD))

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        length, rows = self.dims["target_len"], []
        for example in examples:
            source = self._source(example)
            target = [BOS, *tokens(example.get("target"), self.dims["vocab"], "codegen: target"), EOS]
            target = target[: self.dims["max_len"] + 1]
            for start in range(0, len(target) - 1, length):
                window = target[start : start + length + 1]
                rows.append((
                    source,
                    array("i", pad(window[:-1], length, PAD)),
                    array("i", range(start, start + length)),
                    array("i", pad(window[1:], length, PAD)),
                    array("f", pad([1.0] * (len(window) - 1), length, 0.0)),
                ))
        rows = rows[: self.batch_size]
        total = float(sum(sum(row[-1]) for row in rows))
        blank = (
            array("i", [PAD] * self.dims["source_len"]),
            array("i", [PAD] * length),
            array("i", range(length)),
            array("i", [PAD] * length),
            array("f", [0.0] * length),
        )
        rows += [blank] * (self.batch_size - len(rows))
        names = ("source", "target", "positions", "expected", "weights")
        return tuple(self.stage(name, list(column)) for name, column in zip(names, zip(*rows))), total

    def loss(self, source: Tensor, target: Tensor, positions: Tensor, expected: Tensor, weights: Tensor) -> Tensor:
        return token_loss(self.net(source, target, positions), expected, weights)

    def _jits(self) -> tuple[TinyJit, TinyJit]:
        """The jitted encoder (filling cross-attention buffers) and one-token greedy decoder step."""
        if self._generator is None:
            d = self.dims
            head_dim = d["dim"] // d["heads"]
            caches = [kv_cache(1, d["heads"], d["max_len"], head_dim) for _ in range(d["layers"])]
            crosses = [(*kv_cache(1, d["heads"], d["source_len"], head_dim), Tensor.zeros(1, 1, 1, d["source_len"]).contiguous().realize()) for _ in range(d["layers"])]
            banned = Tensor([NEG if t in (PAD, BOS, UNK) else 0.0 for t in range(d["vocab"])])

            def run_encoder(source: Tensor) -> Tensor:
                fresh = self.net.encode(source)
                return Tensor.realize(*[mine.assign(new) for cross, new_cross in zip(crosses, fresh) for mine, new in zip(cross, new_cross)])[0]

            def step(token: Tensor, pos: Tensor, parents: Tensor) -> Tensor:
                x = self.net.tokens(token) + self.net.positions(pos)
                x, updates = decode(self.net.decoder, x, pos.reshape(1), caches, parents.reshape(-1), crosses)
                return (self.net.logits(x)[0, 0] + banned).argmax().realize(*updates)

            self._generator = (TinyJit(run_encoder), TinyJit(step))
        return self._generator

    def predict(self, request: dict) -> dict:
        """Greedy decoding of a solution for the request's source tokens."""
        source = self._source(request)
        max_len = request.get("max_len", self.dims["max_len"] - 1)
        if type(max_len) is not int or max_len < 1:
            raise ModelError("codegen: max_len must be a positive integer")
        encoder, step = self._jits()
        parents, token, out = self.stage("parents", [array("i", [0])]), BOS, []
        self.run(encoder, self.stage("request", [source]))
        for pos in range(min(max_len, self.dims["max_len"] - 1)):
            token = self.values(step, self.stage("token", [array("i", [token])]), self.stage("pos", [array("i", [pos])]), parents)[0]
            if token == EOS:
                break
            out.append(token)
        return {"tokens": out}

    def samples(self, rng: random.Random) -> tuple[list[dict], list[dict]]:
        d = self.dims

        def text(length: int) -> list[int]:
            return [rng.randrange(UNK + 1, d["vocab"]) for _ in range(length)]

        examples = [{"source": text(d["source_len"] - 1), "target": text(d["target_len"] - 1)} for _ in range(self.batch_size)]
        return examples, [{"source": examples[0]["source"], "max_len": 3}]
