"""The brain and quality MLPs: learning, inference and input validation."""

from __future__ import annotations

import math

import pytest

from colony.plugins.models.base import ModelError
from colony.plugins.models.brain import Brain
from colony.plugins.models.features import CAPABILITIES, ERROR_CLASSES
from colony.plugins.models.plan import Plan
from colony.plugins.models.quality import Quality


@pytest.mark.parametrize(("model", "factor"), [(Brain, 0.8), (Quality, 0.5)])
def test_loss_falls_on_a_learnable_task(model, factor, brain_data, quality_data) -> None:
    mlp = model(seed=1, hidden=32)
    data = brain_data if model is Brain else quality_data
    train, held_out = data(0, 256), data(1, 128)
    before = mlp.evaluate(held_out)
    for step in range(60):
        mlp.train_step(train[(step % 4) * 64 : (step % 4 + 1) * 64])
    assert mlp.steps == 60
    assert mlp.evaluate(held_out) < factor * before


def test_brain_predicts_probabilities(brain_data) -> None:
    brain = Brain(seed=1, hidden=32)
    out = brain.predict({"features": brain_data(2, 1)[0]["features"]})
    assert 0 < out["success"] < 1
    assert len(out["error"]) == len(ERROR_CLASSES) and math.isclose(sum(out["error"]), 1, rel_tol=1e-4)
    assert len(out["capabilities"]) == len(CAPABILITIES) and all(0 < p < 1 for p in out["capabilities"])


def test_brain_trains_on_a_partial_batch(brain_data) -> None:
    brain = Brain(seed=1, hidden=32)
    assert math.isfinite(brain.train_step(brain_data(3, 5)))


@pytest.mark.parametrize(
    "example",
    [
        {"features": [0.0] * 127, "success": 1},
        {"features": [float("nan")] * 128, "success": 1},
        {"features": ["x"] * 128, "success": 1},
        {"features": [0.0] * 128, "success": 2},
        {"features": [0.0] * 128, "success": 0, "error": 11},
        {"features": [0.0] * 128, "success": 0, "capabilities": [2.0] * 11},
        {"features": [0.0] * 128, "success": 0, "capabilities": [0.5]},
        "not an object",
    ],
)
def test_brain_refuses_bad_examples(example) -> None:
    brain = Brain(seed=1, hidden=32)
    with pytest.raises(ModelError):
        brain.train_step([example])


def test_quality_scores_in_range(quality_data) -> None:
    assert -1 <= Quality(seed=1, hidden=32).predict({"features": quality_data(1, 1)[0]["features"]})["score"] <= 1


def test_quality_refuses_out_of_range_scores() -> None:
    with pytest.raises(ModelError, match="score"):
        Quality(seed=1, hidden=32).train_step([{"features": [0.0] * 32, "score": 3}])


def test_bad_dimensions_are_refused() -> None:
    with pytest.raises(ModelError, match="unknown dimensions"):
        Brain(width=3)
    with pytest.raises(ModelError, match="positive integers"):
        Brain(hidden=0)
    with pytest.raises(ModelError, match="multiple of heads"):
        Plan(dim=30, heads=4)
