"""Delta merging and weighted averaging between nodes' models."""

from __future__ import annotations

import math

import pytest
from tinygrad import Tensor

from colony.plugins.models import federation, weights
from colony.plugins.models.base import ModelError
from colony.plugins.models.brain import Brain
from colony.plugins.models.quality import Quality


def distance(a, b) -> float:
    """L2 distance between two models' parameters."""
    sa, sb = a.state_dict(), b.state_dict()
    return math.sqrt(sum(float((sa[k] - sb[k]).square().sum().item()) for k in sa))


def test_merging_deltas_brings_two_nodes_closer(brain_data) -> None:
    a, b = Brain(seed=5, hidden=32), Brain(seed=5, hidden=32)
    for step in range(5):
        a.train_step(brain_data(10 + step, 64))
        b.train_step(brain_data(20 + step, 64))
    before = distance(a, b)
    delta_a, delta_b = federation.export_delta(a), federation.export_delta(b)
    federation.merge_delta(a, delta_b, 0.5)
    federation.merge_delta(b, delta_a, 0.5)
    assert distance(a, b) == pytest.approx(0.5 * before, rel=1e-3)


def test_delta_against_a_given_base_moves_toward_the_peer(brain_data) -> None:
    a, b = Brain(seed=5, hidden=32), Brain(seed=5, hidden=32)
    a.train_step(brain_data(1, 64))
    before = distance(a, b)
    federation.merge_delta(b, federation.export_delta(a, base=b.state_dict()), 0.25)
    assert distance(a, b) == pytest.approx(0.75 * before, rel=1e-3)


def test_merging_another_arch_or_seed_is_refused() -> None:
    brain = Brain(seed=5, hidden=32)
    before = {k: bytes(t.data()) for k, t in brain.state_dict().items()}
    with pytest.raises(ModelError, match="architecture 'quality/1'"):
        federation.merge_delta(brain, federation.export_delta(Quality(seed=5, hidden=32)), 0.5)
    with pytest.raises(ModelError, match=r"expected float\[32, 128\]"):
        federation.merge_delta(brain, federation.export_delta(Brain(seed=5, hidden=16)), 0.5)
    with pytest.raises(ModelError, match="seed 6"):
        federation.merge_delta(brain, federation.export_delta(Brain(seed=6, hidden=32)), 0.5)
    assert {k: bytes(t.data()) for k, t in brain.state_dict().items()} == before


def test_non_finite_delta_and_bad_rates_are_refused() -> None:
    brain = Brain(seed=5, hidden=32)
    poisoned = {k: t.contiguous() for k, t in brain.state_dict().items()}
    first = next(iter(poisoned))
    poisoned[first] = poisoned[first] * float("nan")
    blob = weights.to_bytes(poisoned, {"arch": brain.arch, "seed": "5", "base": "given"})
    with pytest.raises(ModelError, match="NaN or Inf"):
        federation.merge_delta(brain, blob, 0.5)
    good = federation.export_delta(brain)
    for rate in (0, -1, 1.5, float("nan")):
        with pytest.raises(ModelError, match="rate"):
            federation.merge_delta(brain, good, rate)
    with pytest.raises(ModelError, match="corrupt|truncated"):
        federation.merge_delta(brain, good[:100], 0.5)


def test_fedavg_is_the_weighted_mean() -> None:
    a = {"w": Tensor([1.0, 2.0]), "b": Tensor([0.0])}
    b = {"w": Tensor([3.0, 6.0]), "b": Tensor([4.0])}
    out = federation.fedavg([(a, 1.0), (b, 3.0)])
    assert out["w"].tolist() == [2.5, 5.0] and out["b"].tolist() == [3.0]
    with pytest.raises(ModelError, match="positive"):
        federation.fedavg([(a, 0.0)])
    with pytest.raises(ModelError, match="shapes"):
        federation.fedavg([(a, 1.0), ({"w": Tensor([1.0]), "b": Tensor([0.0])}, 1.0)])
