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


def is_number(value: Any) -> bool:
    """Whether `value` is a finite int or float (not a bool, not an int too large for a float): what untrusted data must hold where a number belongs."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def number(value: Any, default: float = 0.0) -> float:
    """`value` as a float when it is a finite number, else `default` (observations come from any plugin)."""
    return float(value) if is_number(value) else default


def count(value: Any) -> int:
    """`value` as an int when it is a non-negative number, else 0."""
    return int(value) if is_number(value) and value >= 0 else 0
