"""The plan and codegen transformers at small sizes: learning, generation, state round trips."""

from __future__ import annotations

import random

import pytest

from colony.plugins.models import federation, weights
from colony.plugins.models.base import ModelError
from colony.plugins.models.codegen import Codegen
from colony.plugins.models.features import BOS, EOS, PAD, UNK
from colony.plugins.models.plan import Plan

PLAN = {"vocab": 16, "dim": 32, "heads": 4, "ffn": 64, "layers": 2, "seq": 16}
CODEGEN = {"vocab": 64, "dim": 32, "heads": 4, "ffn": 64, "layers": 1, "max_len": 32, "source_len": 16, "target_len": 8}


def plans(seed: int, count: int) -> list[dict]:
    """Runs of consecutive step tokens 4..11 (wrapping), learnable from the first token."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        start = rng.randrange(8)
        out.append({"tokens": [4 + (start + i) % 8 for i in range(rng.randrange(3, 8))]})
    return out


def programs(seed: int, count: int) -> list[dict]:
    """Targets that copy the source shifted by 20 token ids."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        source = [rng.randrange(4, 20) for _ in range(rng.randrange(2, 6))]
        out.append({"source": source, "target": [t + 20 for t in source]})
    return out


def test_plan_learns_and_generates_the_learned_runs() -> None:
    plan = Plan(seed=0, **PLAN)
    data = plans(0, 64)
    before = plan.evaluate(data)
    for step in range(80):
        plan.train_step(data[(step % 8) * 8 : (step % 8 + 1) * 8])
    assert plan.evaluate(data) < 0.4 * before
    greedy = plan.predict({"prefix": [5, 6], "max_len": 3, "temperature": 0})["tokens"]
    assert greedy == [7, 8, 9]
    assert plan.predict({"prefix": [5, 6], "max_len": 3, "beam": 3})["tokens"] == [7, 8, 9]


def test_plan_sampling_is_seeded_and_never_emits_special_tokens() -> None:
    plan = Plan(seed=0, **PLAN)
    request = {"prefix": [4], "max_len": 14, "temperature": 2.0, "seed": 3}
    first = plan.predict(request)["tokens"]
    assert plan.predict(request)["tokens"] == first
    assert len(first) <= 14 and not {PAD, BOS, UNK, EOS} & set(first)
    assert not {PAD, BOS, UNK, EOS} & set(plan.predict({"prefix": [], "beam": 4, "max_len": 5})["tokens"])


@pytest.mark.parametrize(
    "request_",
    [
        {"prefix": [99]},
        {"prefix": "4 5"},
        {"prefix": [4] * 15},
        {"prefix": [4], "beam": 0},
        {"prefix": [4], "beam": 9},
        {"prefix": [4], "temperature": -1},
        {"prefix": [4], "max_len": 1.5},
        {"prefix": [True]},
    ],
)
def test_plan_refuses_bad_requests(request_) -> None:
    with pytest.raises(ModelError, match="plan"):
        Plan(seed=0, **PLAN).predict(request_)


def test_codegen_learns_to_copy() -> None:
    codegen = Codegen(seed=0, **CODEGEN)
    data = programs(0, 64)
    before = codegen.evaluate(data[:16])
    for step in range(150):
        codegen.train_step(data[(step % 16) * 4 : (step % 16 + 1) * 4])
    assert codegen.evaluate(data[:16]) < 0.5 * before
    out = codegen.predict({"source": data[0]["source"], "max_len": 10})["tokens"]
    assert 1 <= len(out) <= 10 and not {PAD, BOS, UNK} & set(out)


def test_codegen_splits_long_targets_into_windows() -> None:
    codegen = Codegen(seed=0, **CODEGEN)
    (source, target, positions, expected, weights_), total = codegen.encode([{"source": [5], "target": list(range(4, 16))}])
    assert total == 13  # 12 tokens and EOS, as targets
    assert target.tolist()[0] == [BOS, *range(4, 11)] and target.tolist()[1][:5] == [11, 12, 13, 14, 15]
    assert positions.tolist()[1] == list(range(8, 16))
    assert expected.tolist()[1][:6] == [12, 13, 14, 15, EOS, PAD]
    assert source.tolist()[0][:3] == [BOS, 5, PAD] and weights_.tolist()[2] == [0.0] * 8


@pytest.mark.parametrize("example", [{"source": [64], "target": [4]}, {"source": [4], "target": None}, {"target": [4]}, []])
def test_codegen_refuses_bad_examples(example) -> None:
    with pytest.raises(ModelError, match="codegen"):
        Codegen(seed=0, **CODEGEN).train_step([example])


def test_transformer_state_round_trips_and_merges(tmp_path) -> None:
    trained = Plan(seed=0, **PLAN)
    trained.train_step(plans(1, 8))
    request = {"prefix": [4], "max_len": 6, "temperature": 0}
    weights.save(trained, tmp_path / "plan.safetensors", {})
    fresh = Plan(seed=0, **PLAN)
    fresh.predict(request)
    weights.load(fresh, tmp_path / "plan.safetensors")
    assert fresh.predict(request) == trained.predict(request)
    assert fresh.evaluate(plans(2, 8)) == trained.evaluate(plans(2, 8))
    with pytest.raises(ModelError, match="architecture 'codegen/1'"):
        federation.merge_delta(fresh, federation.export_delta(Codegen(seed=0, **CODEGEN)), 0.5)
