"""The models' training examples in the store, and what models read of them: plan step ids and codegen BPE tokens."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from colony.core import PluginContext

from .features import SPECIAL_TOKENS, UNK
from .tokenizer import BPE, VOCAB_SIZE, TokenizerError, corpus
from .tokenizer import train as train_tokenizer
from .worker import ServiceError

PLAN_SPECIALS = len(SPECIAL_TOKENS)  # PAD, BOS, EOS, UNK come before the step names
TEXTS = ("source", "target")  # codegen fields that may be given as text


class Examples:
    """Each model's example pool (`ex/<model>/<sequence>`, bounds at `exseq/<model>`), the plan vocabulary and the BPE tokenizer."""

    def __init__(self, ctx: PluginContext, folder: Path, dims: dict[str, dict[str, int]]) -> None:
        self.ctx = ctx
        self.folder = folder
        self.dims = dims
        self.bpe: BPE | None = None
        self._write_lock = trio.Lock()
        self._tokenizer_lock = trio.Lock()

    async def add(self, name: str, examples: list[dict[str, Any]], vocab_size: int,
                  check: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> int:
        """Append `examples` to model `name`'s pool once `check` accepted them as the model reads them; returns the pool size."""
        async with self._write_lock:
            vocab = self._grow_vocab(examples, vocab_size) if name == "plan" else None
            await check(await self.prepare(name, examples, vocab))
            head, end = self.bounds(name)
            cap = max(1, int(self.ctx.config["max_examples"]))
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
        return end - head

    def bounds(self, name: str) -> tuple[int, int]:
        """The sequence numbers of model `name`'s oldest stored example and of the next one."""
        head, end = self.ctx.store.get(f"exseq/{name}", [0, 0])
        return head, end

    def read(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
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
        solutions = [e["target"] for e in self.read("codegen") if isinstance(e.get("target"), str)]
        size = self.dims.get("codegen", {}).get("vocab", VOCAB_SIZE)
        return train_tokenizer(corpus(int(self.ctx.config["corpus_bytes"]), solutions), size)


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
