"""Dutch euro amounts: formatting and parsing (R-INVOICE-2)."""

from __future__ import annotations

import pytest
from ck_contracts.money import format_euro, parse_euro
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "€ 0,00"),
        (5, "€ 0,05"),
        (13000, "€ 130,00"),
        (123456, "€ 1.234,56"),
        (6300000, "€ 63.000,00"),
        (100000000, "€ 1.000.000,00"),
        (-250, "€ -2,50"),
    ],
)
def test_format(cents: int, text: str) -> None:
    assert format_euro(cents) == text


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("10", 1000),
        ("10,5", 1050),
        ("10,50", 1050),
        ("€ 10,50", 1050),
        ("1.234,56", 123456),
        ("10.50", 1050),
        (" 7 ", 700),
    ],
)
def test_parse(text: str, cents: int) -> None:
    assert parse_euro(text) == cents


@pytest.mark.parametrize("text", ["", "tien", "-5", "10,505", "1,2,3", "12.34.56", "10.5.0"])
def test_parse_refuses(text: str) -> None:
    assert parse_euro(text) is None


@given(st.integers(min_value=0, max_value=10**12))
def test_round_trip(cents: int) -> None:
    assert parse_euro(format_euro(cents)) == cents
    assert parse_euro(format_euro(cents, symbol=False)) == cents
