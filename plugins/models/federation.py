"""Sharing what a model learned: the seed's delta merging and plain weighted averaging."""

from __future__ import annotations

import math

from tinygrad import Tensor

from .base import Model, ModelError
from .weights import check_arch, from_bytes, stamp, to_bytes


def export_delta(model: Model, base: dict[str, Tensor] | None = None) -> bytes:
    """The model's weights minus `base` (default: its deterministic fresh init), as safetensors bytes."""
    reference = model.initial_state() if base is None else base
    model.check_state(reference, "delta base")
    own = model.state_dict()
    delta = {k: (own[k] - reference[k].to(own[k].device)).realize() for k in own}
    return to_bytes(delta, {**stamp(model), "base": "init" if base is None else "given"})


def merge_delta(model: Model, delta: bytes, rate: float) -> None:
    """The seed's merge, local += rate × delta; refuses foreign arch, shapes, seeds and non-finite values."""
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 < rate <= 1):
        raise ModelError(f"merge rate must be in (0, 1], got {rate!r}")
    tensors, metadata = from_bytes(delta)
    check_arch(model, metadata, "delta weights")
    if metadata.get("base") == "init" and metadata.get("seed") != str(model.seed):
        raise ModelError(f"delta is relative to the init of seed {metadata.get('seed')}, this model has seed {model.seed}")
    model.check_state(tensors, "delta")
    check_finite(tensors, "delta")
    own = model.state_dict()
    Tensor.realize(*[own[k].assign(own[k] + tensors[k].to(own[k].device) * rate) for k in own])


def fedavg(states: list[tuple[dict[str, Tensor], float]]) -> dict[str, Tensor]:
    """Plain weighted average of state dicts with the same names and shapes (weights > 0)."""
    if not states:
        raise ModelError("fedavg needs at least one state")
    total = 0.0
    for _, weight in states:
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            raise ModelError(f"fedavg weights must be finite and positive, got {weight!r}")
        total += weight
    first = states[0][0]
    for state, _ in states[1:]:
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ModelError("fedavg states differ in names or shapes")
    averaged = {k: sum((s[k].to(first[k].device) * (w / total) for s, w in states[1:]), first[k] * (states[0][1] / total)) for k in first}
    Tensor.realize(*averaged.values())
    return averaged


def check_finite(tensors: dict[str, Tensor], what: str) -> None:
    """Raise ModelError if any tensor holds NaN or Inf."""
    bad = Tensor.stack(*[(~t.isfinite()).sum().cast("int32") for t in tensors.values()]).tolist()
    names = [name for name, count in zip(tensors, bad) if count]
    if names:
        raise ModelError(f"{what} holds NaN or Inf values in {names[:5]}")
