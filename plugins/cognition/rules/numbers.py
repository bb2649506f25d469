"""Number guards shared by the cognitive systems: clamping, and refusing NaN or infinity from peers."""

from __future__ import annotations

import math
from typing import Any


def clamp(x: float, low: float, high: float) -> float:
    """x clamped to [low, high]; anything not a finite number counts as 0 clamped."""
    return min(max(x, low), high) if math.isfinite(x) else min(max(0.0, low), high)


def finite(value: Any) -> float:
    """A float that is neither NaN nor infinite (peer data is untrusted)."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {value!r}")
    return x
