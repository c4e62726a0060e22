"""Money: exact decimal amounts, ISO 4217 currencies and their minor units.

Amounts never touch floats. Campaign amounts are :class:`decimal.Decimal` values converted
once to integer minor units (cents, pence, yen) with the currency's precision from CLDR
(via Babel); all arithmetic after that is on integers.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

#: Enough precision that no amount a campaign could name is ever rounded (Decimal's default is 28).
_EXACT = Context(prec=200, Emax=10_000, Emin=-10_000)

_KNOWN_CURRENCIES = frozenset(list_currencies())


def is_known_currency(code: str) -> bool:
    """True when ``code`` is an ISO 4217 currency Babel knows (upper-case, e.g. ``USD``)."""
    return code in _KNOWN_CURRENCIES


def minor_digits(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (USD 2, JPY 0, BHD 3)."""
    return get_currency_precision(currency)


def to_minor(amount: Decimal | str, currency: str) -> int:
    """Convert an amount to integer minor units, exactly.

    Raises ``ValueError`` if the amount is not a finite non-negative number or has more
    decimal places than the currency allows (``"1.005"`` USD): rounding money silently is
    never right.
    """
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a decimal amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if value < 0:
        raise ValueError(f"amount must not be negative: {amount}")
    if value.adjusted() > 100:
        raise ValueError(f"amount is absurdly large: {amount}")
    scaled = value.scaleb(minor_digits(currency), context=_EXACT)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{amount} has more decimal places than {currency} allows ({minor_digits(currency)})"
        )
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units back to an exact :class:`Decimal` in major units."""
    return Decimal(minor).scaleb(-minor_digits(currency), context=_EXACT)


def format_minor(minor: int, currency: str, locale: str = "en_US") -> str:
    """Human-readable amount, e.g. ``format_minor(123456, "USD") == "$1,234.56"``."""
    return format_currency(from_minor(minor, currency), currency, locale=locale)
