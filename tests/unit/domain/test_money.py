"""forgood.domain.money: exact conversion between decimal amounts and integer minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.money import format_minor, from_minor, is_known_currency, minor_digits, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.00", "USD", 200),
        ("2", "USD", 200),
        ("0", "USD", 0),
        ("0.00", "USD", 0),
        ("0.01", "USD", 1),
        ("0.5", "GBP", 50),
        ("1234.56", "USD", 123456),
        ("1000000.00", "USD", 100000000),
        ("100", "JPY", 100),
        ("100.0", "JPY", 100),  # trailing zero is not an extra decimal place
        ("1.234", "BHD", 1234),
        ("1e-2", "USD", 1),
        (Decimal("2.50"), "USD", 250),
    ],
)
def test_to_minor_is_exact(amount, currency, expected):
    result = to_minor(amount, currency)
    assert result == expected
    assert type(result) is int


def test_minor_digits_per_currency():
    assert minor_digits("USD") == 2
    assert minor_digits("GBP") == 2
    assert minor_digits("JPY") == 0
    assert minor_digits("BHD") == 3


def test_known_currencies():
    assert is_known_currency("USD")
    assert is_known_currency("JPY")
    assert not is_known_currency("usd")
    assert not is_known_currency("XYZ")
    assert not is_known_currency("")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.005", "USD"), ("0.001", "USD"), ("1.5", "JPY"), ("1.2345", "BHD"), ("0.1", "JPY")],
)
def test_to_minor_rejects_too_many_decimals(amount, currency):
    with pytest.raises(ValueError, match="more decimal places"):
        to_minor(amount, currency)


@pytest.mark.parametrize("amount", ["-1", "-0.01", Decimal("-5")])
def test_to_minor_rejects_negative(amount):
    with pytest.raises(ValueError, match="negative"):
        to_minor(amount, "USD")


@pytest.mark.parametrize("amount", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"])
def test_to_minor_rejects_non_finite(amount):
    with pytest.raises(ValueError, match="not a finite amount"):
        to_minor(amount, "USD")


@pytest.mark.parametrize("amount", ["abc", "", "1,00", "$2", "2.00 USD", None, object(), [1]])
def test_to_minor_rejects_non_numbers(amount):
    with pytest.raises(ValueError, match="not a decimal amount"):
        to_minor(amount, "USD")


def test_from_minor_is_exact_decimal():
    assert from_minor(123456, "USD") == Decimal("1234.56")
    assert str(from_minor(200, "USD")) == "2.00"
    assert from_minor(100, "JPY") == Decimal("100")
    assert from_minor(1234, "BHD") == Decimal("1.234")
    assert from_minor(0, "USD") == 0


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (123456, "USD", "$1,234.56"),
        (0, "USD", "$0.00"),
        (5, "USD", "$0.05"),
        (100000000, "USD", "$1,000,000.00"),
        (1234, "JPY", "¥1,234"),
        (50, "GBP", "£0.50"),
    ],
)
def test_format_minor(minor, currency, expected):
    assert format_minor(minor, currency) == expected


@settings(max_examples=200, deadline=None)
@given(
    minor=st.integers(min_value=0, max_value=10**18),
    currency=st.sampled_from(["USD", "GBP", "EUR", "JPY", "BHD", "KWD"]),
)
def test_round_trip_minor_decimal_minor(minor, currency):
    assert to_minor(from_minor(minor, currency), currency) == minor


@settings(max_examples=200, deadline=None)
@given(
    minor=st.integers(min_value=0, max_value=10**18),
    currency=st.sampled_from(["USD", "JPY", "BHD"]),
)
def test_round_trip_through_text(minor, currency):
    # Campaign amounts arrive as text; the string form of from_minor must convert back exactly.
    assert to_minor(str(from_minor(minor, currency)), currency) == minor


def test_to_minor_does_not_round_long_amounts():
    # 29 significant digits once scaled to cents.
    assert to_minor("123456789012345678901234567.89", "USD") == 12345678901234567890123456789


def test_round_trip_large_minor():
    minor = 10**28 + 1
    assert to_minor(from_minor(minor, "USD"), "USD") == minor


def test_to_minor_huge_exponent_raises_value_error():
    with pytest.raises(ValueError):
        to_minor("1e999999", "USD")
