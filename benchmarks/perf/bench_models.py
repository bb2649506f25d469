"""The four models in tinygrad against the same architectures in PyTorch CPU, in the same run.

Training steps/s (same batch shapes, AdamW on both sides) and inference latency: one example for
the MLPs, the encoder pass and per-token greedy decoding (key/value caches on both sides) for the
transformers. torch comes from the `bench` extra; without it only our figures are printed.
"""

from __future__ import annotations

import math
import random
import statistics
import warnings
from array import array
from collections.abc import Callable
from time import perf_counter
from typing import Any

from _common import Table, parse_args, progress, ratio, report
from colony.plugins.models import device
from colony.plugins.models.features import BOS, EOS

MODELS = ("brain", "quality", "plan", "codegen")
WARMUP = 3  # tinygrad: call 1 runs eagerly, call 2 captures the JIT, call 3 replays
DECODE = 32  # tokens per timed greedy generation

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # torch without numpy is fine here
try:
    import torch
    from torch import nn as tnn
    from torch.nn import functional as F
except ImportError:  # the bench extra is optional
    torch = None


# -- the same architectures in torch ------------------------------------------------------


if torch is not None:

    def torch_mlp(*sizes: int) -> tnn.Module:
        layers: list[tnn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [tnn.Linear(a, b), tnn.ReLU()]
        return tnn.Sequential(*layers[:-1])

    class TorchAttention(tnn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.q, self.kv, self.out = tnn.Linear(dim, dim), tnn.Linear(dim, 2 * dim), tnn.Linear(dim, dim)

        def split(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

        def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            k, v = self.kv(context).chunk(2, dim=-1)
            return self.split(k), self.split(v)

        def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Any = None, causal: bool = False) -> torch.Tensor:
            out = F.scaled_dot_product_attention(self.split(self.q(x)), k, v, attn_mask=mask, is_causal=causal)
            return self.out(out.transpose(1, 2).reshape(x.shape))

    class TorchBlock(tnn.Module):
        def __init__(self, dim: int, heads: int, ffn: int, cross: bool = False) -> None:
            super().__init__()
            self.norm1, self.attn = tnn.LayerNorm(dim), TorchAttention(dim, heads)
            self.norm_cross = tnn.LayerNorm(dim) if cross else None
            self.cross = TorchAttention(dim, heads) if cross else None
            self.norm2, self.ffn = tnn.LayerNorm(dim), torch_mlp(dim, ffn, dim)

        def forward(self, x: torch.Tensor, mask: Any = None, causal: bool = False, cross: Any = None, cache: list | None = None) -> torch.Tensor:
            h = self.norm1(x)
            k, v = self.attn.keys_values(h)
            if cache is not None:  # decoding: append this position's keys and values
                if cache:
                    k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
                cache[:] = [k, v]
            x = x + self.attn.attend(h, k, v, mask, causal)
            if self.cross is not None and self.norm_cross is not None:
                x = x + self.cross.attend(self.norm_cross(x), *cross)
            return x + self.ffn(self.norm2(x))

    class TorchPlan(tnn.Module):
        def __init__(self, vocab: int = 128, dim: int = 256, heads: int = 8, ffn: int = 512, layers: int = 4, seq: int = 64) -> None:
            super().__init__()
            self.tokens = tnn.Embedding(vocab, dim)
            self.positions = tnn.Parameter(torch.zeros(seq, dim))
            self.blocks = tnn.ModuleList(TorchBlock(dim, heads, ffn) for _ in range(layers))
            self.norm, self.head_bias = tnn.LayerNorm(dim), tnn.Parameter(torch.zeros(vocab))

        def forward(self, tokens: torch.Tensor, start: int = 0, caches: list | None = None) -> torch.Tensor:
            x = self.tokens(tokens) + self.positions[start : start + tokens.shape[1]]
            for i, block in enumerate(self.blocks):
                x = block(x, causal=caches is None, cache=None if caches is None else caches[i])
            return self.norm(x) @ self.tokens.weight.T + self.head_bias

    class TorchCodegen(tnn.Module):
        def __init__(self, vocab: int = 8192, dim: int = 384, heads: int = 6, ffn: int = 1536, layers: int = 3, max_len: int = 512) -> None:
            super().__init__()
            self.tokens, self.positions = tnn.Embedding(vocab, dim), tnn.Embedding(max_len, dim)
            self.encoder = tnn.ModuleList(TorchBlock(dim, heads, ffn) for _ in range(layers))
            self.encoder_norm = tnn.LayerNorm(dim)
            self.decoder = tnn.ModuleList(TorchBlock(dim, heads, ffn, cross=True) for _ in range(layers))
            self.norm, self.head_bias = tnn.LayerNorm(dim), tnn.Parameter(torch.zeros(vocab))

        def encode(self, source: torch.Tensor) -> list:
            x = self.tokens(source) + self.positions.weight[: source.shape[1]]
            mask = (source != 0).view(source.shape[0], 1, 1, -1)
            for block in self.encoder:
                x = block(x, mask)
            memory = self.encoder_norm(x)
            return [(*block.cross.keys_values(memory), mask) for block in self.decoder]

        def forward(self, source: torch.Tensor, target: torch.Tensor, positions: torch.Tensor, crosses: list | None = None, caches: list | None = None) -> torch.Tensor:
            crosses = self.encode(source) if crosses is None else crosses
            x = self.tokens(target) + self.positions(positions)
            for i, block in enumerate(self.decoder):
                x = block(x, causal=caches is None, cross=crosses[i], cache=None if caches is None else caches[i])
            return self.norm(x) @ self.tokens.weight.T + self.head_bias


class TorchSide:
    """One model in torch: a training step on tensors built like ours, and inference."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.net = {"brain": lambda: torch_mlp(128, 1024, 1024, 23), "quality": lambda: torch_mlp(32, 1024, 1024, 1), "plan": TorchPlan, "codegen": TorchCodegen}[name]()
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3, weight_decay=1e-4)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def batch(self, rows: list[dict]) -> tuple:
        """The same tensors (shapes and content) our `encode` produces."""
        if self.name == "brain":
            x = torch.tensor([r["features"] for r in rows])
            return x, torch.tensor([float(r["success"]) for r in rows]), torch.tensor([r["error"] for r in rows]), torch.tensor([r["capabilities"] for r in rows])
        if self.name == "quality":
            return torch.tensor([r["features"] for r in rows]), torch.tensor([r["score"] for r in rows])
        if self.name == "plan":
            seqs = torch.tensor([[BOS, *r["tokens"], EOS] for r in rows])
            return seqs[:, :-1], seqs[:, 1:]
        source = torch.tensor([[BOS, *r["source"]] for r in rows])
        target = torch.tensor([[BOS, *r["target"], EOS] for r in rows])
        return source, target[:, :-1], torch.arange(64).expand(len(rows), 64), target[:, 1:]

    def loss(self, batch: tuple) -> torch.Tensor:
        if self.name == "brain":
            x, success, error, caps = batch
            out = self.net(x)
            return F.binary_cross_entropy_with_logits(out[:, 0], success) + F.cross_entropy(out[:, 1:12], error) + F.binary_cross_entropy_with_logits(out[:, 12:], caps)
        if self.name == "quality":
            x, score = batch
            return F.mse_loss(self.net(x)[:, 0].tanh(), score)
        if self.name == "plan":
            inputs, targets = batch
            return F.cross_entropy(self.net(inputs).flatten(0, 1), targets.flatten())
        source, target, positions, expected = batch
        return F.cross_entropy(self.net(source, target, positions).flatten(0, 1), expected.flatten())

    def train_step(self, batch: tuple) -> float:
        self.opt.zero_grad()
        loss = self.loss(batch)
        loss.backward()
        self.opt.step()
        return loss.item()

    @torch.no_grad()
    def predict(self, request: dict) -> Any:
        """Eager inference as a PyTorch user would write it, with the result as Python data."""
        if self.name == "brain":
            out = self.net(torch.tensor([request["features"]]))[0]
            return {"success": out[0].sigmoid().item(), "error": out[1:12].softmax(0).tolist(), "capabilities": out[12:].sigmoid().tolist()}
        if self.name == "quality":
            return {"score": self.net(torch.tensor([request["features"]]))[0, 0].tanh().item()}
        caches: list = [[] for _ in range(3 if self.name == "codegen" else 4)]
        crosses = self.net.encode(torch.tensor([[BOS, *request["source"]]])) if self.name == "codegen" else None
        token, out = BOS, []
        for pos in range(request["max_len"]):
            t = torch.tensor([[token]])
            if crosses is None:
                logits = self.net(t, pos, caches)
            else:
                logits = self.net(None, t, torch.tensor([[pos]]), crosses, caches)
            logits[0, -1, :4] = -math.inf
            token = int(logits[0, -1].argmax())
            out.append(token)
        return out


# -- measurement ------------------------------------------------------------------------------


def ours(name: str, beam: int, tuned: bool) -> Any:
    """Our model at full size: with its shipped tuned kernels (or tinygrad's defaults), searching the rest with BEAM=`beam`."""
    from colony.plugins.models import BUILTIN, factory, kernels, tuning

    module, cls, _ = BUILTIN[name]
    model = factory(module, cls)(seed=0)
    table = tuning.choose(model, None)[0] if tuned else None
    if table is not None:
        kernels.activate(table)
    model.beam = beam
    return model


def request(name: str, example: dict) -> dict:
    """One inference request of the timed kind."""
    if name in ("brain", "quality"):
        return {"features": example["features"]}
    if name == "plan":
        return {"prefix": [], "max_len": DECODE, "temperature": 0}
    return {"source": example["source"], "max_len": DECODE}


def interleaved(calls: dict[str, Callable[[int], Any]], budget: float, most: int) -> dict[str, list[float]]:
    """Seconds of each call, the calls taking turns (so a noisy neighbour hits all alike) until `budget` runs out."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    deadline = perf_counter() + budget
    for i in range(most):
        for name, call in calls.items():
            start = perf_counter()
            call(i)
            times[name].append(perf_counter() - start)
        if i >= 2 and perf_counter() > deadline:
            break
    return times


def compare(row: dict[str, Any], times: dict[str, list[float]], scale: float, invert: bool) -> dict[str, Any]:
    """Median (and best) figures of ours and torch in `row`: per second if `invert`, else milliseconds."""
    for side in times:
        median, best = statistics.median(times[side]) / scale, min(times[side]) / scale
        row[side] = 1 / median if invert else median * 1e3
        row[f"{side}_best"] = 1 / best if invert else best * 1e3
    if "torch" in times:
        row["ratio"] = ratio(statistics.median(times["torch"]), statistics.median(times["ours"]))
        row["ratio_best"] = ratio(min(times["torch"]), min(times["ours"]))
    row["n"] = len(times["ours"])
    return row


def measure(name: str, table_train: Table, table_infer: Table, budget: float, beam: int, tuned: bool) -> None:
    """Fill one row of each table for model `name`."""
    from colony.plugins.models.base import write  # after device.setup, like all tinygrad imports
    from colony.plugins.models.layers import NEG

    rng = random.Random(0)
    model = ours(name, beam, tuned)
    batches = [model.samples(rng)[0] for _ in range(4)]  # full batches at the default dimensions torch mirrors
    progress(f"{name}: {model.parameter_count():,} parameters; compiling tinygrad kernels (slow the first time)")
    start = perf_counter()
    for i in range(WARMUP):
        model.train_step(batches[i % 4])
    warm = perf_counter() - start
    req = request(name, batches[0][0])
    for _ in range(WARMUP):
        model.predict(req)
    generated = 1
    if name in ("plan", "codegen"):  # an untrained model may stop at once: forbid EOS to time DECODE tokens
        write(model.net.head_bias, array("f", [NEG if t == EOS else 0.0 for t in range(model.dims["vocab"])]))
        generated = len(model.predict(req)["tokens"])
    train_calls: dict[str, Callable[[int], Any]] = {"ours": lambda i: model.train_step(batches[i % 4])}
    infer_calls: dict[str, Callable[[int], Any]] = {"ours": lambda i: model.predict(req)}
    if torch is not None:
        base = TorchSide(name)
        tbatches = [base.batch(b) for b in batches]
        torch_req = {"features": req.get("features"), "source": req.get("source", []), "max_len": generated}
        for i in range(WARMUP):
            base.train_step(tbatches[i % 4])
            base.predict(torch_req)
        train_calls["torch"] = lambda i: base.train_step(tbatches[i % 4])
        infer_calls["torch"] = lambda i: base.predict(torch_req)
    progress(f"{name}: timing training")
    row = {"model": name, "params": model.parameter_count(), "batch": model.batch_size, "warmup_s": warm}
    table_train.rows.append(compare(row, interleaved(train_calls, budget, 200), 1.0, invert=True))
    progress(f"{name}: timing inference")
    what = "one example" if name in ("brain", "quality") else f"per token ({generated} greedy{', with encoder' if name == 'codegen' else ''})"
    most = 2000 if name in ("brain", "quality") else 20
    table_infer.rows.append(compare({"model": name, "what": what}, interleaved(infer_calls, budget / 2, most), generated, invert=False))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS)),
        p.add_argument("--budget", type=float, default=10.0, help="seconds of timed training per model (at least 3 steps)"),
        p.add_argument("--beam", type=int, default=0, help="tinygrad BEAM search width for kernels without a tuned choice (minutes)"),
        p.add_argument("--default-kernels", action="store_true", help="ignore the shipped tuned kernels: tinygrad's heuristics"),
    ))
    dev = device.setup(None)
    train = Table(
        f"Training steps/s on {dev}, median and best of n interleaved steps (ratio = ours / torch; higher is better)",
        {
            "model": "model", "params": "params", "batch": "batch", "warmup_s": "first 3 steps s", "n": "n",
            "ours": "tinygrad", "torch": "torch", "ratio": "ratio", "ours_best": "tinygrad best", "torch_best": "torch best",
            "ratio_best": "ratio best",
        },
    )
    infer = Table(
        "Inference latency in ms, median and best (ratio = torch time / ours; above 1 means we are faster)",
        {
            "model": "model", "what": "what", "n": "n", "ours": "tinygrad", "torch": "torch", "ratio": "ratio",
            "ours_best": "tinygrad best", "torch_best": "torch best", "ratio_best": "ratio best",
        },
    )
    if torch is None:
        train.notes.append("torch is not installed (pip install -e '.[bench]'): no baseline")
    else:
        train.notes.append(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    kernels = "tinygrad's default heuristics" if args.default_kernels else "the shipped BEAM-tuned kernels"
    train.notes.append(f"tinygrad with {kernels}" + (f", BEAM={args.beam} for the others" if args.beam else ""))
    for name in args.models.split(","):
        measure(name, train, infer, args.budget, args.beam, not args.default_kernels)
    report("bench_models", [train, infer], args.json)


if __name__ == "__main__":
    main()
