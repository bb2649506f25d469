"""Fixtures for the model tests: tinygrad set up once, small models, deterministic data."""

from __future__ import annotations

import random

import pytest

from colony.plugins.models import device



@pytest.fixture(scope="session", autouse=True)
def tinygrad_device() -> str:
    """Configure tinygrad (compiler shim, kernel cache under ~/.cache/colony) before any model exists."""
    return device.setup(None)


def brain_examples(seed: int, count: int) -> list[dict]:
    """A learnable brain task: success iff feature 0 > 0.5; the error class (0 or 1) by feature 1."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        features = [rng.random() for _ in range(128)]
        success = int(features[0] > 0.5)
        error = None if success else int(features[1] > 0.5)
        capabilities = [float(features[2] > 0.5)] + [None] * 10
        out.append({"features": features, "success": success, "error": error, "capabilities": capabilities})
    return out


def quality_examples(seed: int, count: int) -> list[dict]:
    """A learnable quality task: the score is a fixed linear function of the features."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        features = [rng.uniform(-1, 1) for _ in range(32)]
        out.append({"features": features, "score": max(-1.0, min(1.0, 0.6 * features[0] - 0.3 * features[1]))})
    return out


@pytest.fixture
def brain_data():
    """The brain's synthetic example generator: brain_data(seed, count)."""
    return brain_examples


@pytest.fixture
def quality_data():
    """The quality model's synthetic example generator: quality_data(seed, count)."""
    return quality_examples
