"""The plan model: a causal transformer over step tokens that writes plans without an LLM."""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

from tinygrad import Tensor, TinyJit, nn
from tinygrad.nn.optim import AdamW, Optimizer

from .base import Model, ModelError, pad, tokens
from .features import BOS, EOS, PAD, UNK
from .layers import Block, Embedding, TiedOutput, causal_mask, decode, kv_cache, token_loss

MAX_BEAM = 8


class PlanNet(TiedOutput):
    """Token and position embeddings, causal blocks, and an output head tied to the token embedding."""

    def __init__(self, vocab: int, dim: int, heads: int, ffn: int, layers: int, seq: int) -> None:
        self.tokens = Embedding(vocab, dim)
        self.positions = Tensor.glorot_uniform(seq, dim)
        self.blocks = [Block(dim, heads, ffn) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head_bias = Tensor.zeros(vocab).contiguous()

    def __call__(self, tokens: Tensor) -> Tensor:
        """Logits (batch, length, vocab) for every position."""
        length = tokens.shape[1]
        x = self.tokens(tokens) + self.positions[:length]
        mask = causal_mask(length)
        for block in self.blocks:
            x = block(x, mask)
        return self.logits(x)

    def step(self, token: Tensor, pos: Tensor, parents: Tensor, caches: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Log-probabilities (beams, vocab) after `token` (beams, 1) at `pos` (1, 1), caches reordered by `parents` (1, beams)."""
        pos, parents = pos.reshape(1), parents.reshape(-1)
        x = self.tokens(token) + self.positions[pos].reshape(1, 1, -1)
        x, updates = decode(self.blocks, x, pos, caches, parents)
        return self.logits(x)[:, 0].log_softmax(-1).realize(*updates)


class Plan(Model):
    """4-layer causal transformer (D=256, 8 heads, FFN 512, context 64) over a step-token vocabulary.

    Example: {"tokens": [ids]} (the model adds BOS and EOS). predict({"prefix": [ids], "max_len": n,
    "temperature": t, "beam": k, "seed": s}) returns {"tokens": [ids]}: the continuation after the
    prefix, without BOS/EOS. beam > 1 runs a beam search (temperature ignored); otherwise tokens are
    sampled at `temperature` (0 is greedy) from a generator seeded with `seed` (default 0). PAD, BOS
    and UNK are never generated. Adam at the seed's learning rate 1e-3, weight decay 1e-4.
    """

    name = "plan"
    arch = "plan/1"
    batch_size = 8
    defaults = {"vocab": 128, "dim": 256, "heads": 8, "ffn": 512, "layers": 4, "seq": 64}

    def __init__(self, seed: int = 0, **dims: int) -> None:
        super().__init__(seed, **dims)
        self._decoders: dict[int, TinyJit] = {}

    def build(self) -> PlanNet:
        d = self.dims
        return PlanNet(d["vocab"], d["dim"], d["heads"], d["ffn"], d["layers"], d["seq"])

    def optimizer(self, params: list[Tensor]) -> Optimizer:
        return AdamW(params, lr=1e-3, weight_decay=1e-4)

    def encode(self, examples: list[dict]) -> tuple[tuple[Tensor, ...], float]:
        seq, vocab = self.dims["seq"], self.dims["vocab"]
        inputs, targets, weights = [], [], []
        for example in examples:
            if not isinstance(example, dict):
                raise ModelError("plan: an example must be an object")
            sequence = [BOS, *tokens(example.get("tokens"), vocab, "plan: tokens"), EOS][: seq + 1]
            inputs.append(array("i", pad(sequence[:-1], seq, PAD)))
            targets.append(array("i", pad(sequence[1:], seq, PAD)))
            weights.append(array("f", pad([1.0] * (len(sequence) - 1), seq, 0.0)))
        total = float(sum(sum(w) for w in weights))
        # Padding rows are zeros: PAD tokens with weight 0.
        return (self.stage_batch("inputs", inputs), self.stage_batch("targets", targets), self.stage_batch("weights", weights)), total

    def loss(self, inputs: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        return token_loss(self.net(inputs), targets, weights)

    def predict(self, request: dict) -> dict:
        """Continue a plan from `prefix` by sampling or beam search."""
        if not isinstance(request, dict):
            raise ModelError("plan: a request must be an object")
        prefix = tokens(request.get("prefix", []), self.dims["vocab"], "plan: prefix")
        room = self.dims["seq"] - 1 - len(prefix)
        if room < 1:
            raise ModelError(f"plan: prefix must be shorter than {self.dims['seq'] - 1} tokens")
        max_len = _number(request.get("max_len", room), int, 1, math.inf, "max_len")
        beam = _number(request.get("beam", 1), int, 1, MAX_BEAM, "beam")
        temperature = _number(request.get("temperature", 1.0), float, 0.0, math.inf, "temperature")
        seed = _number(request.get("seed", 0), int, -math.inf, math.inf, "seed")
        steps = min(max_len, room)
        if beam > 1:
            return {"tokens": self._beam_search(prefix, steps, beam)}
        return {"tokens": self._sample(prefix, steps, temperature, random.Random(seed))}

    def samples(self, rng: random.Random) -> tuple[list[dict], list[dict]]:
        length, vocab = self.dims["seq"] - 1, self.dims["vocab"]
        examples = [{"tokens": [rng.randrange(UNK + 1, vocab) for _ in range(length)]} for _ in range(self.batch_size)]
        return examples, [{"prefix": examples[0]["tokens"][:2], "max_len": 3, "temperature": 0}]

    def _advance(self, beams: int, last: list[int], pos: int, parents: list[int]) -> list[list[float]]:
        """Feed each beam's `last` token at `pos` (beams continuing rows `parents`); next log-probabilities."""
        if beams not in self._decoders:
            d = self.dims
            caches = [kv_cache(beams, d["heads"], d["seq"], d["dim"] // d["heads"]) for _ in range(d["layers"])]
            self._decoders[beams] = TinyJit(lambda token, at, rows: self.net.step(token, at, rows, caches))
        token = self.stage(f"token{beams}", [array("i", [t]) for t in last])
        at = self.stage("pos", [array("i", [pos])])
        rows = self.stage(f"parents{beams}", [array("i", parents)])
        flat = self.values(self._decoders[beams], token, at, rows)
        vocab = self.dims["vocab"]
        return [flat[i * vocab : (i + 1) * vocab] for i in range(beams)]

    def _feed(self, prefix: list[int], beams: int) -> list[list[float]]:
        """Run BOS and the prefix through the decoder; log-probabilities after the last of them."""
        for pos, token in enumerate([BOS, *prefix]):
            logp = self._advance(beams, [token] * beams, pos, list(range(beams)))
        return logp

    def _sample(self, prefix: list[int], steps: int, temperature: float, rng: random.Random) -> list[int]:
        logp = self._feed(prefix, 1)[0]
        out: list[int] = []
        for i in range(steps):
            token = _choose(logp, temperature, rng)
            if token == EOS:
                break
            out.append(token)
            if i + 1 < steps:
                logp = self._advance(1, [token], len(prefix) + 1 + i, [0])[0]
        return out

    def _beam_search(self, prefix: list[int], steps: int, width: int) -> list[int]:
        """The continuation with the best mean log-probability per token among `width` beams."""
        logp = self._feed(prefix, width)
        live: list[tuple[float, list[int]]] = [(0.0, [])]  # row i of logp continues live[i]
        finished: list[tuple[float, list[int]]] = []
        for i in range(steps):
            candidates = sorted(
                ((score + lp, row, token) for row, (score, _) in enumerate(live) for token, lp in _allowed(logp[row])),
                key=lambda c: c[0],
                reverse=True,
            )[:width]
            grown = [(score, row, live[row][1] + [token]) for score, row, token in candidates]
            finished += [(score / len(path), path[:-1]) for score, _, path in grown if path[-1] == EOS]
            grown = [c for c in grown if c[2][-1] != EOS]
            live = [(score, path) for score, _, path in grown]
            if not live or i + 1 == steps:
                break
            parents = [row for _, row, _ in grown]
            last = [path[-1] for _, _, path in grown]
            parents += parents[:1] * (width - len(parents))
            last += last[:1] * (width - len(last))
            logp = self._advance(width, last, len(prefix) + 1 + i, parents)
        finished += [(score / len(path), path) for score, path in live if path]
        return max(finished, key=lambda f: f[0])[1] if finished else []


def _allowed(logp: list[float]) -> list[tuple[int, float]]:
    """(token, log-probability) pairs a plan may contain next: no PAD, BOS or UNK."""
    return [(token, lp) for token, lp in enumerate(logp) if token not in (PAD, BOS, UNK)]


def _choose(logp: list[float], temperature: float, rng: random.Random) -> int:
    """Sample a token at `temperature` (0: the most probable) among the allowed ones."""
    allowed = _allowed(logp)
    if temperature == 0:
        return max(allowed, key=lambda a: a[1])[0]
    top = max(lp for _, lp in allowed)
    weights = [math.exp((lp - top) / temperature) for _, lp in allowed]
    return rng.choices([token for token, _ in allowed], weights)[0]


def _number(value: Any, kind: type, low: float, high: float, what: str) -> Any:
    """`value` as an int or float within [low, high], or ModelError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not low <= value <= high:
        raise ModelError(f"plan: {what} must be {'an integer' if kind is int else 'a number'} in [{low}, {high}]")
    return kind(value)
