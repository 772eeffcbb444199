"""Payout rules as plain functions (issue 13, capability 4): periods, statement numbers, what
a spending event becomes as a line. No I/O.

Periods. A period ends at 00:00 Europe/Amsterdam on each configured weekday (Monday and
Thursday by default: Thursday-Sunday and Monday-Wednesday, twice a week as CJP pays its
acceptants today). A statement holds the provider's lines booked before its period's end that
no earlier statement holds: a line that arrives late (an event delayed past the closing)
goes on the next statement, never on a closed one.

Numbers. Statements have their own series, like invoices: "U" + the last two digits of the
year of the period's last day + a 6-digit counter from 1 each year (U26000001), gapless.

Corrections. A cancelled approval credited back is a negative line for the same provider;
when its debit was already on a statement it is a correction on the provider's next one.
A provider whose pending lines add up to less than zero (only corrections) gets no statement
that period: the lines wait until the provider's next spending covers them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import UUID, uuid5

from ck_invoicing.domain import TIMEZONE, NumbersExhausted

MAX_COUNTER = 999_999
NAMESPACE = UUID("5b0f5f8e-4c0e-4d8a-9a57-4b8a0c0f3e21")  # spending line ids


class Entry:
    """What a spending line records (the `entry` column)."""

    DEBIT = "debit"
    CREDIT = "credit"
    CARD = "card"


def line_id(reference_id: UUID, entry: str) -> UUID:
    """The same event (or a repeat of it under another event id) makes the same line."""
    return uuid5(NAMESPACE, f"{reference_id}:{entry}")


def statement_number(year: int, counter: int) -> str:
    """(2026, 1) -> 'U26000001'."""
    if not 1 <= counter <= MAX_COUNTER:
        raise NumbersExhausted(f"statement counter {counter} of {year} out of range")
    return f"U{year % 100:02d}{counter:06d}"


def statement_year(period_end: datetime) -> int:
    """The year of the period's last day (a period ending 1 January at 00:00 is last year's)."""
    return (period_end.astimezone(TIMEZONE) - timedelta(microseconds=1)).year


def _boundary(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), TIMEZONE)


def last_period_end(at: datetime, weekdays: tuple[int, ...]) -> datetime:
    """The latest period end at or before `at` (00:00 Amsterdam on one of the weekdays)."""
    day = at.astimezone(TIMEZONE).date()
    for back in range(8):
        candidate = day - timedelta(days=back)
        if candidate.weekday() in weekdays and _boundary(candidate) <= at:
            return _boundary(candidate)
    raise ValueError("no weekdays configured")


def previous_period_end(end: datetime, weekdays: tuple[int, ...]) -> datetime:
    """The period end before this one: the start of the period that ends at `end`."""
    return last_period_end(end - timedelta(microseconds=1), weekdays)


def next_period_end(end: datetime, weekdays: tuple[int, ...]) -> datetime:
    day = end.astimezone(TIMEZONE).date()
    for ahead in range(1, 8):
        candidate = day + timedelta(days=ahead)
        if candidate.weekday() in weekdays:
            return _boundary(candidate)
    raise ValueError("no weekdays configured")


def periods_to_close(
    now: datetime,
    last_closed: datetime | None,
    weekdays: tuple[int, ...],
    delay: timedelta,
    limit: int = 100,
) -> list[datetime]:
    """The period ends due for closing, oldest first: every end after the last closed one up
    to the latest that is `delay` past (a service that was down catches up period by period,
    at most `limit` at a time). Nothing closed yet: only the latest."""
    due = last_period_end(now - delay, weekdays)
    if last_closed is None:
        return [due]
    ends: list[datetime] = []
    end = next_period_end(last_closed, weekdays)
    while end <= due and len(ends) < limit:
        ends.append(end)
        end = next_period_end(end, weekdays)
    return ends
