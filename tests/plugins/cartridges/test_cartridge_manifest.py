"""Cartridge manifests: defaults per kind, clear refusals, and a round trip through to_dict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cartridges.manifest import DEFAULT_LIMITS, CartridgeManifest, Limits, ManifestError, parse


def test_defaults_per_kind_and_round_trip() -> None:
    backend = parse({"slug": "hello", "price": 1000, "lang": "c", "source": "hello.c", "limits": {"deadline_ms": 80}})
    assert backend == CartridgeManifest("hello", "backend", "0.1.0", Limits(64, 200_000_000, 80), "c", "hello.c", 1000)
    assert parse(backend.to_dict()) == backend
    assert parse({"slug": "life", "kind": "interactive"}).limits == Limits(**DEFAULT_LIMITS["interactive"])
    brain = parse({"slug": "cognitive-brain", "kind": "cognitive", "hook": "brain.predict", "version": "2.1.0-rc.1"})
    assert (brain.hook, brain.limits.fuel, brain.limits.memory_mib) == ("brain.predict", 2_000_000_000, 64)
    assert parse({"slug": "free", "sha256": "ab" * 32}).to_dict() == {
        "slug": "free", "kind": "backend", "version": "0.1.0", "sha256": "ab" * 32, "limits": DEFAULT_LIMITS["backend"],
    }


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, "slug must be"),
        ({"slug": "-x"}, "slug must be"),
        ({"slug": "a" * 64}, "slug must be"),
        ({"slug": "UPPER"}, "slug must be"),
        ({"slug": "ok\n"}, "slug must be"),
        ({"slug": "ok", "version": "1.0.0\n"}, "version must be like 1.0.0"),
        ({"slug": "ok", "kind": "cognitive", "hook": "brain.predict\n"}, "hook"),
        ({"slug": "ok", "kind": "frontend"}, "kind must be one of backend, interactive, cognitive"),
        ({"slug": "ok", "price": -1}, "price must be a whole number"),
        ({"slug": "ok", "price": True}, "price must be a whole number"),
        ({"slug": "ok", "price": 1.5}, "price must be a whole number"),
        ({"slug": "ok", "kind": "interactive", "price": 5}, "only backend cartridges have a price"),
        ({"slug": "ok", "kind": "cognitive"}, "needs hook ="),
        ({"slug": "ok", "hook": "brain.predict"}, "only cognitive cartridges answer a hook"),
        ({"slug": "ok", "limits": {"fuel": 0}}, "limits.fuel must be a whole number from 1"),
        ({"slug": "ok", "limits": {"memory_mib": 5000}}, "limits.memory_mib must be a whole number from 1 to 4096"),
        ({"slug": "ok", "limits": {"memory_mb": 5}}, "unknown limit 'memory_mb'"),
        ({"slug": "ok", "limits": 5}, "limits must be a table"),
        ({"slug": "ok", "lang": "cobol"}, "lang must be one of"),
        ({"slug": "ok", "sha256": "XYZ"}, "sha256 must be 64 lowercase hex digits"),
        ({"slug": "ok", "version": ""}, "version must be like 1.0.0"),
        ({"slug": "ok", "prize": 1}, "unknown manifest keys: prize"),
        ({"slug": "ok", "description": "x" * 1001}, "description must be text of at most 1000 characters"),
    ],
)
def test_bad_manifests_are_refused_clearly(data: dict[str, Any], words: str) -> None:
    with pytest.raises(ManifestError) as refused:
        parse(data)
    assert words in str(refused.value)


VALUES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=70) | st.lists(st.integers(), max_size=2)
KEYS = st.sampled_from(["slug", "kind", "version", "lang", "source", "price", "hook", "limits", "sha256", "name", "description", "other"])


@given(st.dictionaries(KEYS, VALUES | st.dictionaries(st.sampled_from(["memory_mib", "fuel", "deadline_ms", "x"]), VALUES, max_size=3), max_size=8))
def test_any_input_parses_or_fails_with_a_manifest_error(data: dict[str, Any]) -> None:
    try:
        manifest = parse(data)
    except ManifestError:
        return
    assert parse(manifest.to_dict()) == manifest
    assert 1 <= manifest.limits.memory_mib <= 4096 and manifest.limits.fuel >= 1 and manifest.limits.deadline_ms >= 1
