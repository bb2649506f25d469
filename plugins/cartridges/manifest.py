"""Cartridge manifests: `cartridge.toml` validated into a `CartridgeManifest`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
HOOK = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("backend", "interactive", "cognitive")
LANGS = ("c", "zig", "wat", "rust", "wasm")

# Per-kind budgets from the runtime research (fuel runs at ~15-19 G/s here); memory per the issue.
DEFAULT_LIMITS: dict[str, dict[str, int]] = {
    "backend": {"memory_mib": 64, "fuel": 200_000_000, "deadline_ms": 50},
    "interactive": {"memory_mib": 64, "fuel": 100_000_000, "deadline_ms": 20},
    "cognitive": {"memory_mib": 64, "fuel": 2_000_000_000, "deadline_ms": 1000},
}
LIMIT_RANGES: dict[str, tuple[int, int]] = {
    "memory_mib": (1, 4096),
    "fuel": (1, 10**12),
    "deadline_ms": (1, 600_000),
}
_REQUIRED = object()
_KEYS = {"slug", "kind", "version", "lang", "source", "price", "hook", "limits", "sha256", "name", "description"}


class ManifestError(ValueError):
    """A cartridge manifest is invalid; the message says which field and why."""


@dataclass(frozen=True)
class Limits:
    """What one invocation may use: linear memory, fuel, and wall-clock time."""

    memory_mib: int
    fuel: int
    deadline_ms: int

    def to_dict(self) -> dict[str, int]:
        """The `[limits]` table."""
        return {"memory_mib": self.memory_mib, "fuel": self.fuel, "deadline_ms": self.deadline_ms}


@dataclass(frozen=True)
class CartridgeManifest:
    """A validated cartridge manifest."""

    slug: str
    kind: str
    version: str
    limits: Limits
    lang: str | None = None
    source: str | None = None
    price: int | None = None
    hook: str | None = None
    sha256: str | None = None
    name: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest as a TOML/JSON-ready dict that `parse` reads back unchanged."""
        out: dict[str, Any] = {"slug": self.slug, "kind": self.kind, "version": self.version}
        for key in ("lang", "source", "price", "hook", "sha256", "name", "description"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["limits"] = self.limits.to_dict()
        return out


def parse(data: dict[str, Any]) -> CartridgeManifest:
    """Validate a manifest dict (cartridge.toml contents, optionally with sha256 and lang)."""
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a table of keys")
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    if unknown:
        raise ManifestError(f"unknown manifest keys: {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS))})")
    slug = _text(data, "slug", SLUG, "lowercase letters, digits and '-', 1-63 characters, not starting with '-'")
    kind = data.get("kind", "backend")
    if kind not in KINDS:
        raise ManifestError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    version = _text(data, "version", VERSION, "like 1.0.0", default="0.1.0")
    lang = data.get("lang")
    if lang is not None and lang not in LANGS:
        raise ManifestError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    return CartridgeManifest(
        slug=slug,
        kind=kind,
        version=version,
        limits=_limits(data.get("limits"), kind),
        lang=lang,
        source=_optional_text(data, "source", 255),
        price=_price(data.get("price"), kind),
        hook=_hook(data.get("hook"), kind),
        sha256=_text(data, "sha256", SHA256, "64 lowercase hex digits", default=None),
        name=_optional_text(data, "name", 100),
        description=_optional_text(data, "description", 1000),
    )


def _text(data: dict[str, Any], key: str, pattern: re.Pattern[str], shape: str, default: Any = _REQUIRED) -> Any:
    value = data.get(key)
    if value is None and default is not _REQUIRED:
        return default
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ManifestError(f"{key} must be {shape}, not {value!r}")
    return value


def _optional_text(data: dict[str, Any], key: str, longest: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise ManifestError(f"{key} must be text of at most {longest} characters")
    return value


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _price(value: Any, kind: str) -> int | None:
    if value is None:
        return None
    if kind != "backend":
        raise ManifestError(f"only backend cartridges have a price; this one is {kind}")
    if not _integer(value) or not 0 <= value < 2**256:
        raise ManifestError(f"price must be a whole number of atomic token units (0 or more), not {value!r}")
    return value


def _hook(value: Any, kind: str) -> str | None:
    if kind != "cognitive":
        if value is not None:
            raise ManifestError(f"only cognitive cartridges answer a hook; this one is {kind}")
        return None
    if not isinstance(value, str) or not HOOK.fullmatch(value):
        raise ManifestError(f"a cognitive cartridge needs hook = the computation it answers (e.g. 'brain.predict'), not {value!r}")
    return value


def _limits(value: Any, kind: str) -> Limits:
    table = dict(DEFAULT_LIMITS[kind])
    if value is None:
        return Limits(**table)
    if not isinstance(value, dict):
        raise ManifestError("limits must be a table")
    for key, given in value.items():
        if key not in LIMIT_RANGES:
            raise ManifestError(f"unknown limit {key!r} (allowed: {', '.join(LIMIT_RANGES)})")
        low, high = LIMIT_RANGES[key]
        if not _integer(given) or not low <= given <= high:
            raise ManifestError(f"limits.{key} must be a whole number from {low} to {high}, not {given!r}")
        table[key] = given
    return Limits(**table)
