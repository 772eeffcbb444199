"""Euro amounts as integer cents, shown the Dutch way (R-INVOICE-2): € 1.234,56.

One formatter and one parser for every service and the gateway, so an amount reads the same on
the invoice PDF, the portal and the exports.
"""

from __future__ import annotations

import re

_AMOUNT = re.compile(r"^(?P<euros>\d{1,3}(?:\.\d{3})+|\d+)(?:,(?P<cents>\d{1,2}))?$")


def format_euro(cents: int, *, symbol: bool = True) -> str:
    """1234567 -> '€ 12.345,67'; -250 -> '€ -2,50'."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    text = f"{sign}{euros:,}".replace(",", ".") + f",{rest:02d}"
    return f"€ {text}" if symbol else text


def parse_euro(text: str) -> int | None:
    """A school's typed amount -> cents, or None when it is not an amount.
    Accepts '10', '10,5', '10,50', '1.234,56', '€ 10,50'; a dot as decimal mark ('10.50') too,
    as people type it; never a negative amount."""
    value = text.strip().removeprefix("€").strip().replace(" ", "")
    if re.fullmatch(r"\d+\.\d{1,2}", value):  # 10.50: a decimal dot, not thousands
        value = value.replace(".", ",")
    match = _AMOUNT.match(value)
    if match is None:
        return None
    euros = int(match["euros"].replace(".", ""))
    cents = (match["cents"] or "0").ljust(2, "0")
    return euros * 100 + int(cents)
