"""Saving and loading weights: exact round trips, deterministic init, corrupt files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from colony.plugins.models import weights
from colony.plugins.models.base import ModelError
from colony.plugins.models.brain import Brain
from colony.plugins.models.quality import Quality


def snapshot(model) -> dict[str, bytes]:
    """Every parameter's raw bytes."""
    return {k: bytes(t.data()) for k, t in model.state_dict().items()}


def test_same_seed_gives_identical_weights() -> None:
    assert snapshot(Brain(seed=7, hidden=32)) == snapshot(Brain(seed=7, hidden=32))
    assert snapshot(Brain(seed=7, hidden=32)) != snapshot(Brain(seed=8, hidden=32))


def test_save_then_load_gives_bit_identical_outputs(tmp_path: Path, brain_data) -> None:
    trained = Brain(seed=1, hidden=32)
    for _ in range(3):
        trained.train_step(brain_data(0, 64))
    request = {"features": brain_data(1, 1)[0]["features"]}
    expected = trained.predict(request)
    weights.save(trained, tmp_path / "brain.safetensors", {"note": "test"})

    fresh = Brain(seed=2, hidden=32)
    fresh.predict(request)  # the inference JIT is captured before the load and must see the new weights
    fresh.predict(request)
    metadata = weights.load(fresh, tmp_path / "brain.safetensors")
    assert metadata["arch"] == "brain/1" and metadata["note"] == "test" and fresh.steps == 3
    assert fresh.predict(request) == expected
    assert snapshot(fresh) == snapshot(trained)


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],
        lambda blob: blob[:5],
        lambda blob: b"",
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 0xFF]),
        lambda blob: blob[:8] + b"#" + blob[9:],
        lambda blob: (2**40).to_bytes(8, "little") + blob[8:],
        lambda blob: (50_000).to_bytes(8, "little") + b"[" * 50_000 + blob[8:],
    ],
    ids=["half", "header-cut", "empty", "bit-flip", "bad-json", "huge-header", "deep-header"],
)
def test_corrupt_or_truncated_file_is_refused_and_weights_kept(tmp_path: Path, damage) -> None:
    path = tmp_path / "brain.safetensors"
    weights.save(Brain(seed=3, hidden=32), path, {})
    path.write_bytes(damage(path.read_bytes()))
    model = Brain(seed=4, hidden=32)
    before = snapshot(model)
    with pytest.raises(ModelError, match="truncated|corrupt"):
        weights.load(model, path)
    assert snapshot(model) == before


def test_wrong_arch_or_shapes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    weights.save(Quality(seed=1, hidden=32), path, {})
    model = Brain(seed=1, hidden=32)
    before = snapshot(model)
    with pytest.raises(ModelError, match="architecture 'quality/1'"):
        weights.load(model, path)
    weights.save(Brain(seed=1, hidden=16), path, {})
    with pytest.raises(ModelError, match=r"expected float\[32, 128\]"):
        weights.load(model, path)
    assert snapshot(model) == before


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        weights.load(Brain(seed=1, hidden=32), tmp_path / "absent.safetensors")


def test_save_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "brain.safetensors"
    weights.save(Brain(seed=1, hidden=32), path, {})
    weights.save(Brain(seed=2, hidden=32), path, {})
    assert [p.name for p in tmp_path.iterdir()] == ["brain.safetensors"]
    model = Brain(seed=9, hidden=32)
    weights.load(model, path)
    assert snapshot(model) == snapshot(Brain(seed=2, hidden=32))
