"""Small, defensive formatting helpers for data that arrives from a node."""

from __future__ import annotations

import time
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else an empty one (replies from a node are untrusted)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def number(value: Any, default: float = 0.0) -> float:
    """`value` as a float when it is a real number, else `default`."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def clock(ts: Any) -> str:
    """A Unix timestamp as `HH:MM:SS.mmm` UTC; `-` when missing."""
    if not isinstance(ts, (int, float)) or isinstance(ts, bool) or ts <= 0:
        return "-"
    try:
        return time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"
    except (OverflowError, OSError, ValueError):
        return "-"


def duration(seconds: Any) -> str:
    """Seconds as `1d 2h 3m 4s`, dropping leading zero units."""
    total = int(number(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    shown = [f"{value}{unit}" for value, unit in parts if value] + [f"{secs}s"]
    return " ".join(shown)


def short(value: Any, limit: int = 120) -> str:
    """`value` as one line of at most `limit` characters."""
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def si(value: Any) -> str:
    """A count with an SI suffix: 950, 12.3 k, 4.56 G."""
    amount = number(value)
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(amount) >= scale:
            return f"{amount / scale:.3g} {suffix}"
    return str(int(amount))
