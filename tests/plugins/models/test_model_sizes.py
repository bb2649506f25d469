"""Each model at its full size: the parameter counts of the issue's architectures."""

from __future__ import annotations

import pytest

from colony.plugins.models.brain import Brain
from colony.plugins.models.codegen import Codegen
from colony.plugins.models.plan import Plan
from colony.plugins.models.quality import Quality


@pytest.mark.parametrize(
    ("model", "count"),
    [
        (Brain, 128 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 23 + 23),  # 1,205,271: the seed's "~1.18 M"
        (Quality, 32 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 + 1),  # 1,084,417
        (Plan, 2_158_208),  # the seed's "~2.2 M"
        (Codegen, 15_775_232),  # the seed's "~15 M"
    ],
)
def test_full_size_parameter_counts(model, count) -> None:
    assert model(seed=0).parameter_count() == count
