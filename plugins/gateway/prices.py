"""Human prices ("$0.001") to and from atomic token units, with integer arithmetic only."""

from __future__ import annotations

import re

MAX_DECIMALS = 18
_PRICE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def _check_decimals(decimals: int) -> None:
    """Refuse decimal counts outside 0..18."""
    if type(decimals) is not int or not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be an int in 0..{MAX_DECIMALS}, got {decimals!r}")


def parse_price(text: str | int, decimals: int = 6) -> int:
    """Atomic units of a price: an int passes through; "$0.001", "0.5" or "12" are scaled by 10**decimals."""
    _check_decimals(decimals)
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"a price is a string or an int, got {text!r}")
    if isinstance(text, int):
        amount = text
    else:
        body = text.removeprefix("$")
        found = _PRICE.fullmatch(body)
        if found is None:
            if body.startswith("-"):
                raise ValueError(f"price {text!r} is negative")
            if "e" in body.lower():
                raise ValueError(f"price {text!r} uses an exponent; write it out in full")
            raise ValueError(f"price {text!r} is not a decimal number like '$0.001'")
        whole, fraction = found.group(1), found.group(2) or ""
        if len(fraction) > decimals:
            raise ValueError(f"price {text!r} has more than {decimals} fractional digits")
        # Anything with more than 78 integer digits is already >= 2**256; stop before int() does the work.
        if len(whole.lstrip("0")) > 78:
            raise ValueError(f"price {text!r} does not fit in uint256")
        amount = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if not 0 <= amount < 2**256:
        raise ValueError(f"price {text!r} is outside 0..2**256-1")
    return amount


def format_price(amount: int, decimals: int = 6) -> str:
    """A human price for atomic units, e.g. 1000 at 6 decimals -> "$0.001" (at least two fractional digits)."""
    _check_decimals(decimals)
    if type(amount) is not int or amount < 0:
        raise ValueError(f"amount must be a non-negative int, got {amount!r}")
    whole, fraction = divmod(amount, 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0").ljust(min(2, decimals), "0")
    return f"${whole}.{digits}" if digits else f"${whole}"
