"""Invoicing rules as plain functions: numbers, totals, deviations, Dutch formats.

Money is integer euro cents everywhere; `format_euro` (shared with the gateway) shows it the
Dutch way: € 1.234,56 (R-INVOICE-2).

Invoice numbers (R-INVOICE-1): 8 digits, the last two digits of the invoice's calendar year
(Europe/Amsterdam) and a 6-digit counter that starts at 1 each year: 26000001, 26000002, ...
At most 999,999 invoices a year; the counter never wraps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ck_contracts.budget import OrderLine
from ck_contracts.invoicing import Deviation, InvoiceStatus, InvoicingReason
from ck_contracts.money import format_euro
from ck_contracts.roster import RosterKind

__all__ = [
    "MAX_COUNTER",
    "TIMEZONE",
    "UNKNOWN",
    "NumbersExhausted",
    "deviation_percent",
    "deviations",
    "format_count",
    "format_date",
    "format_datetime",
    "format_euro",
    "format_number",
    "invoice_year",
    "lines_total",
    "local_date",
    "status_label",
]

TIMEZONE = ZoneInfo("Europe/Amsterdam")
MAX_COUNTER = 999_999
UNKNOWN = "Onbekend"
KIND_LABELS = {RosterKind.STUDENTS: "Studenten", RosterKind.TEACHERS: "Docenten"}
STATUS_LABELS = {InvoiceStatus.OPEN: "Open", InvoiceStatus.PAID: "Betaald"}


class NumbersExhausted(Exception):
    """All 999,999 numbers of a year are taken."""


def invoice_year(at: datetime) -> int:
    """The calendar year an invoice made at this moment belongs to (Dutch time)."""
    return at.astimezone(TIMEZONE).year


def local_date(at: datetime) -> date:
    return at.astimezone(TIMEZONE).date()


def format_number(year: int, counter: int) -> str:
    """(2026, 1) -> '26000001'."""
    if not 1 <= counter <= MAX_COUNTER:
        raise NumbersExhausted(f"invoice counter {counter} of {year} out of range")
    return f"{year % 100:02d}{counter:06d}"


def lines_total(lines: Iterable[OrderLine]) -> int:
    """The invoice total: the sum of its lines, in cents."""
    return sum(line.total_cents for line in lines)


def _dutch_decimal(value: Decimal) -> str:
    """Decimal with two places -> '1.234,56' (thousands dot, decimal comma)."""
    sign = "-" if value < 0 else ""
    whole, _, fraction = f"{abs(value):.2f}".partition(".")
    return f"{sign}{int(whole):,}".replace(",", ".") + f",{fraction}"


def deviation_percent(ordered: int, uploaded: int) -> str:
    """R-INVOICE-3: (uploaded - ordered) / uploaded as a Dutch percentage, two decimals,
    rounded half away from zero. 20 ordered, 1001 uploaded -> '98,00%'.

    Nothing ordered -> 'Onbekend' (the manual's teachers row). Nothing uploaded (but something
    ordered) -> also 'Onbekend': without a roster there is nothing to compare with, and the
    formula would divide by zero.
    """
    if ordered == 0 or uploaded == 0:
        return UNKNOWN
    percent = (Decimal(uploaded - ordered) * 100 / Decimal(uploaded)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return f"{_dutch_decimal(percent)}%"


def deviations(ordered_students: int, uploaded: Mapping[RosterKind, int]) -> list[Deviation]:
    """The invoice's overview: students ordered versus uploaded, and teachers (budget orders
    are for students, so teachers are never ordered: 'Onbekend', as in the manual)."""
    ordered = {RosterKind.STUDENTS: ordered_students, RosterKind.TEACHERS: 0}
    return [
        Deviation(
            kind=KIND_LABELS[kind],
            ordered=ordered[kind],
            uploaded=uploaded.get(kind, 0),
            percent=deviation_percent(ordered[kind], uploaded.get(kind, 0)),
        )
        for kind in (RosterKind.STUDENTS, RosterKind.TEACHERS)
    ]


def format_count(count: int) -> str:
    """123456 -> '123.456'."""
    return f"{count:,}".replace(",", ".")


def format_date(day: date) -> str:
    """date(2022, 11, 16) -> '16-11-2022'."""
    return day.strftime("%d-%m-%Y")


def format_datetime(at: datetime) -> str:
    """In Dutch time, as the portal shows it: '16-11-2022 15:24'."""
    return at.astimezone(TIMEZONE).strftime("%d-%m-%Y %H:%M")


def status_label(status: InvoiceStatus) -> str:
    return STATUS_LABELS[status]


def payment_problem(
    amount_cents: int, total_cents: int, paid_on: date, today: date
) -> tuple[str, InvoicingReason] | None:
    """(field, reason) when a recorded payment cannot be right: another amount than the
    invoice's, or a day still to come (Amsterdam)."""
    if amount_cents != total_cents:
        return "amount_cents", InvoicingReason.PAYMENT_AMOUNT_MISMATCH
    if paid_on > today:
        return "paid_on", InvoicingReason.PAYMENT_DATE_IN_FUTURE
    return None
