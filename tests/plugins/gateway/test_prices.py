"""Human prices to atomic units and back, integers only."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.gateway.prices import format_price, parse_price


@pytest.mark.parametrize(
    ("text", "decimals", "amount"),
    [
        ("$0.001", 6, 1000),
        ("0.5", 6, 500_000),
        ("12", 6, 12_000_000),
        ("$1.00", 6, 1_000_000),
        ("0.000001", 6, 1),
        ("0", 6, 0),
        ("007.10", 6, 7_100_000),
        ("12", 0, 12),
        ("1", 18, 10**18),
        (5, 6, 5),
        (0, 6, 0),
        (2**256 - 1, 6, 2**256 - 1),
        (str(2**256 - 1), 0, 2**256 - 1),
    ],
)
def test_parse_price(text: str | int, decimals: int, amount: int) -> None:
    assert parse_price(text, decimals) == amount


@pytest.mark.parametrize(
    ("text", "decimals", "message"),
    [
        ("-1", 6, "negative"),
        ("$-0.5", 6, "negative"),
        (-1, 6, "outside"),
        ("1e3", 6, "exponent"),
        ("1E-3", 6, "exponent"),
        ("0.0000001", 6, "fractional digits"),
        ("0.5", 0, "fractional digits"),
        ("", 6, "decimal number"),
        ("$", 6, "decimal number"),
        (" 1", 6, "decimal number"),
        ("1.", 6, "decimal number"),
        (".5", 6, "decimal number"),
        ("1,000", 6, "decimal number"),
        ("$$1", 6, "decimal number"),
        ("١", 6, "decimal number"),
        ("NaN", 6, "decimal number"),
        (str(2**256), 0, "outside"),
        ("1" * 79, 0, "uint256"),
        ("9" * 5000, 6, "uint256"),
        (2**256, 6, "outside"),
        (True, 6, "string or an int"),
        (1.5, 6, "string or an int"),
        ("1", 19, "decimals"),
        ("1", -1, "decimals"),
        ("1", True, "decimals"),
    ],
)
def test_parse_price_rejects(text: Any, decimals: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_price(text, decimals)


@pytest.mark.parametrize(
    ("amount", "decimals", "text"),
    [
        (1000, 6, "$0.001"),
        (10_000, 6, "$0.01"),
        (1_000_000, 6, "$1.00"),
        (500_000, 6, "$0.50"),
        (0, 6, "$0.00"),
        (1_234_567, 6, "$1.234567"),
        (12, 0, "$12"),
        (15, 1, "$1.5"),
    ],
)
def test_format_price(amount: int, decimals: int, text: str) -> None:
    assert format_price(amount, decimals) == text


@pytest.mark.parametrize("amount", [-1, 1.0, True, "1"])
def test_format_price_rejects(amount: Any) -> None:
    with pytest.raises(ValueError):
        format_price(amount)


@given(st.integers(0, 2**256 - 1), st.integers(0, 18))
def test_round_trip(amount: int, decimals: int) -> None:
    assert parse_price(format_price(amount, decimals), decimals) == amount
