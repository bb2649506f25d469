"""Building blocks shared by the models: linear layers, MLPs, embeddings and transformer blocks."""

from __future__ import annotations

import math

from tinygrad import Context, Tensor, dtypes, nn

from .features import PAD

Cross = tuple[Tensor, Tensor, Tensor]  # the encoder's keys, values and additive padding mask
NEG = -1e9  # additive mask value: finite, so a fully masked row cannot turn into NaN
LANES = 8  # partial sums per output in single-row matrix-vector products (the fastest of 2..64 here)


class Linear:
    """y = x @ weight.T + bias, Xavier-uniform weight (out, in) and zero bias.

    The (out, in) layout, as in torch, makes tinygrad's single-example matrix-vector kernels
    about 2x faster than (in, out) here.
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True) -> None:
        self.weight = Tensor.glorot_uniform(n_out, n_in)
        self.bias = Tensor.zeros(n_out).contiguous() if bias else None

    def __call__(self, x: Tensor) -> Tensor:
        return x.linear(self.weight.T, self.bias)

    def one(self, x: Tensor) -> Tensor:
        """The same for a single row `x` (1, in), summed in `LANES` interleaved partial sums.

        tinygrad's matrix-vector kernel otherwise adds every product into one chain per output; with
        independent partial sums the C compiler pipelines and vectorizes it (1024x1024: 2.7x faster
        here). Equal to `__call__` up to float rounding.
        """
        n_out, n_in = self.weight.shape
        if n_in % LANES:
            return self(x)
        products = x.reshape(1, 1, n_in // LANES, LANES) * self.weight.reshape(1, n_out, n_in // LANES, LANES)
        out = products.sum(2).sum(-1)
        return out if self.bias is None else out + self.bias


class MLP:
    """Linear layers with ReLU between them."""

    def __init__(self, *sizes: int) -> None:
        self.layers = [Linear(a, b) for a, b in zip(sizes, sizes[1:])]

    def __call__(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = layer(x).relu()
        return self.layers[-1](x)

    def one(self, x: Tensor) -> Tensor:
        """The output for a single row `x` (1, inputs), with the faster single-row kernels (see `Linear.one`)."""
        for layer in self.layers[:-1]:
            x = layer.one(x).relu()
        return self.layers[-1].one(x)


class Embedding(nn.Embedding):
    """Token lookup whose backward is an atomic scatter-add where the device has atomics.

    tinygrad's plain embedding backward is a one-hot reduction over the whole vocabulary (about 70x
    slower here for an 8192 vocabulary); its atomic kernel exists for the CPU and AMD only.
    """

    def __call__(self, idx: Tensor) -> Tensor:
        atomics = self.weight.device.split(":")[0] in ("CPU", "AMD")
        with Context(USE_ATOMICS=int(atomics)):
            return super().__call__(idx)


class TiedOutput:
    """A mixin for networks whose output head is their token embedding: `norm`, then `tokens.weight.T` plus `head_bias`."""

    tokens: Embedding
    norm: nn.LayerNorm
    head_bias: Tensor

    def logits(self, x: Tensor) -> Tensor:
        """Vocabulary logits of the hidden states `x`."""
        return self.norm(x) @ self.tokens.weight.T + self.head_bias


class Attention:
    """Multi-head attention over a full sequence, or one step at a time against a key/value cache."""

    def __init__(self, dim: int, heads: int) -> None:
        self.heads = heads
        self.q = Linear(dim, dim)
        self.kv = Linear(dim, 2 * dim)
        self.out = Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.heads, -1).transpose(1, 2)

    def keys_values(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of `context`, (batch, heads, length, head_dim) each."""
        k, v = self.kv(context).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
        """Queries from `x` against given keys and values; `mask` is added to the scores."""
        batch, length, dim = x.shape
        q = self._split(self.q(x))
        scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]))
        # Materialized probabilities: otherwise tinygrad recomputes the softmax's exp inside the
        # backward matmuls (2.5x slower attention).
        probs = (scores if mask is None else scores + mask).softmax(-1).contiguous()
        return self.out((probs @ v).transpose(1, 2).reshape(batch, length, dim))

    def __call__(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.attend(x, *self.keys_values(x if context is None else context), mask)

    def step(self, x: Tensor, cache: tuple[Tensor, Tensor], pos: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Self-attention of one new position `pos` (shape (1,)) against `cache`; returns it and the updated cache."""
        k_new, v_new = self.keys_values(x)
        length = cache[0].shape[2]
        at = (Tensor.arange(length) == pos).reshape(1, 1, -1, 1)
        k, v = at.where(k_new, cache[0]), at.where(v_new, cache[1])
        visible = (Tensor.arange(length) <= pos).reshape(1, 1, 1, -1)
        return self.attend(x, k, v, visible.where(0.0, NEG).cast(dtypes.float32)), (k, v)


class Block:
    """Pre-norm transformer block: self-attention, optional cross-attention, ReLU feed-forward."""

    def __init__(self, dim: int, heads: int, ffn: int, cross: bool = False) -> None:
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm_cross = nn.LayerNorm(dim) if cross else None
        self.cross = Attention(dim, heads) if cross else None
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MLP(dim, ffn, dim)

    def __call__(self, x: Tensor, mask: Tensor | None, cross: Cross | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)
        return self._rest(x, cross)

    def step(
        self, x: Tensor, cache: tuple[Tensor, Tensor], pos: Tensor, cross: Cross | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One decoding position against the block's self-attention cache; returns it and the updated cache."""
        attended, cache = self.attn.step(self.norm1(x), cache, pos)
        return self._rest(x + attended, cross), cache

    def _rest(self, x: Tensor, cross: Cross | None) -> Tensor:
        if self.cross is not None and self.norm_cross is not None and cross is not None:
            x = x + self.cross.attend(self.norm_cross(x), *cross)
        return x + self.ffn(self.norm2(x))


def causal_mask(length: int) -> Tensor:
    """Additive (1, 1, length, length) mask hiding later positions."""
    return Tensor.ones(length, length, dtype=dtypes.bool).tril().where(0.0, NEG).cast(dtypes.float32).reshape(1, 1, length, length)


def padding_mask(tokens: Tensor) -> Tensor:
    """Additive (batch, 1, 1, length) mask hiding PAD keys."""
    return (tokens != PAD).where(0.0, NEG).cast(dtypes.float32).reshape(tokens.shape[0], 1, 1, -1)


def token_loss(logits: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
    """Cross-entropy of `targets` under `logits` (..., vocab), averaged with per-token `weights`."""
    picked = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -(picked * weights).sum() / weights.sum().maximum(1)


def decode(
    blocks: list[Block],
    x: Tensor,
    pos: Tensor,
    caches: list[tuple[Tensor, Tensor]],
    parents: Tensor,
    crosses: list[Cross] | None = None,
) -> tuple[Tensor, list[Tensor]]:
    """Run one position through `blocks`, rows' caches first reordered by `parents` (beam search).

    Returns the output and the cache assignments, which the caller realizes with it.
    """
    updates = []
    for i, (block, cache) in enumerate(zip(blocks, caches)):
        x, (k, v) = block.step(x, (cache[0][parents], cache[1][parents]), pos, crosses[i] if crosses else None)
        updates += [cache[0].assign(k), cache[1].assign(v)]
    return x, updates


def kv_cache(batch: int, heads: int, length: int, head_dim: int) -> tuple[Tensor, Tensor]:
    """Zeroed, realized key and value buffers for step-by-step decoding."""
    return tuple(Tensor.zeros(batch, heads, length, head_dim).contiguous().realize() for _ in range(2))  # type: ignore[return-value]
