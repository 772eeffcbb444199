"""The budget rules as plain functions, without I/O (R-BUDGET-1..8).

Money is integer euro cents everywhere. A rule that says no raises a ck_runtime error with a
BudgetReason and its params (`Conflict(BudgetReason.INSUFFICIENT_BALANCE, balance_cents=0,
amount_cents=2100, ...)`); the gateway has the Dutch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from ck_contracts.budget import BudgetReason, OrderCounts, OrderLine, OrderStatus, Quote, Rates
from ck_contracts.rpc import FieldError, Param
from ck_runtime.errors import Conflict, Invalid
from dateutil.easter import easter  # python-dateutil comes with holidays, which uses it too

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

PRODUCT_COLLECTIVE = "Studenten met bijdrage school"
PRODUCT_INDIVIDUAL = "Studenten zonder bijdrage school"


# --- the order form's yellow block (R-BUDGET-1/2) ------------------------------------------------
def require_counts(counts: OrderCounts) -> None:
    """An order is for at least one student (the order form checks the same)."""
    if counts.collective_students == 0 and counts.individual_students == 0:
        empty = FieldError(reason=BudgetReason.ORDER_EMPTY)
        raise Invalid(
            BudgetReason.ORDER_EMPTY,
            fields={"collective_students": empty, "individual_students": empty},
        )


def quote(counts: OrderCounts, rates: Rates) -> Quote:
    """What an order gives and costs, priced with these rates.

    Invoice lines in the manual's order (zonder bijdrage first, as on invoice 22700986); a line
    with count 0 is left out, so an invoice never shows "0 x". The manual's example, 10 + 10
    students: EUR 25,00 + EUR 105,00 = EUR 130,00, budgets 10 x 21,00 and 10 x 10,50.
    """
    lines: list[OrderLine] = []
    if counts.individual_students:
        n = counts.individual_students
        lines.append(
            OrderLine(
                product=PRODUCT_INDIVIDUAL,
                count=n,
                unit_cents=rates.individual_invoice_per_student_cents,
                ocw_cents=n * rates.ocw_per_student_cents,
                total_cents=n * rates.individual_invoice_per_student_cents,
            )
        )
    if counts.collective_students:
        n = counts.collective_students
        lines.append(
            OrderLine(
                product=PRODUCT_COLLECTIVE,
                count=n,
                unit_cents=rates.collective_invoice_per_student_cents,
                ocw_cents=n * rates.ocw_per_student_cents,
                total_cents=n * rates.collective_invoice_per_student_cents,
            )
        )
    return Quote(
        collective_budget_cents=counts.collective_students
        * rates.collective_budget_per_student_cents,
        individual_budget_cents=counts.individual_students
        * rates.individual_budget_per_student_cents,
        invoice_total_cents=sum(line.total_cents for line in lines),
        lines=lines,
    )


# --- the objection period (R-BUDGET-3) -----------------------------------------------------------
@lru_cache(maxsize=64)
def days_off(year: int) -> frozenset[date]:
    """Dutch public holidays that are not working days, following the Algemene termijnenwet
    (art. 3) rather than the `holidays` library's NL calendar as it is:

    - Goede Vrijdag (Good Friday) IS a working day: the Termijnenwet does not list it, and
      most employers and government offices are open. The library lists it; we drop it.
    - 5 mei (Bevrijdingsdag) is NOT a working day, every year: the Termijnenwet lists it
      without exception. The library lists it only in lustrum years (2025, 2030); we add it.
    - Everything else as the library has it: Nieuwjaarsdag, Tweede Paasdag, Koningsdag
      (26 April when 27 April is a Sunday), Hemelvaartsdag, Tweede Pinksterdag, Eerste and
      Tweede Kerstdag (Eerste Paasdag and Pinksterdag are Sundays anyway).

    Saturdays and Sundays are never working days.
    """
    calendar = holidays.country_holidays("NL", years=year, language="nl")
    good_friday = easter(year) - timedelta(days=2)
    off = {day for day in calendar if day != good_friday}
    off.add(date(year, 5, 5))
    return frozenset(off)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in days_off(day.year)


def objection_period_end(placed_at: datetime, working_days: int = 5) -> datetime:
    """The moment (UTC) the objection period of an order placed at `placed_at` is over.

    The day of placing does not count, whatever the hour (as in the Algemene termijnenwet:
    the day of the event is not part of the period). The next `working_days` working days
    (Monday to Friday, not a day off, see `days_off`) are the period, in Amsterdam's calendar.
    The period lasts to the end of its last working day: it ends at 00:00 Amsterdam time of the
    following calendar day, and at that moment the order is approved. Until then (up to and
    including 23:59:59 of the 5th working day) the school may change or cancel the order.

    Example: placed Monday 10:00 -> Tuesday to Monday are the five working days -> the period
    ends Tuesday 00:00, eight days after placing. Midnight exists on every Dutch DST change day
    (clocks move at 02:00/03:00), so the end is always a valid local time.
    """
    if placed_at.tzinfo is None:
        raise ValueError("placed_at must be aware")
    day = placed_at.astimezone(AMSTERDAM).date()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    end_local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=AMSTERDAM)
    return end_local.astimezone(UTC)


def last_day_of_period(ends_at: datetime) -> date:
    """The last day (Amsterdam) on which the order can still be changed: for messages."""
    return (ends_at.astimezone(AMSTERDAM) - timedelta(microseconds=1)).date()


def change_refused(status: str, objection_ends_at: datetime, cancel: bool = False) -> Conflict:
    """Why an order can no longer be changed (or cancelled, `cancel`): R-BUDGET-3."""
    if status == OrderStatus.CANCELLED.value:
        return Conflict(BudgetReason.ORDER_CANCELLED)
    if status == OrderStatus.APPROVED.value:
        return Conflict(
            BudgetReason.ORDER_APPROVED_NO_CANCEL
            if cancel
            else BudgetReason.ORDER_APPROVED_NO_CHANGE
        )
    return Conflict(
        BudgetReason.OBJECTION_PERIOD_OVER_CANCEL
        if cancel
        else BudgetReason.OBJECTION_PERIOD_OVER_CHANGE,
        last_day_on=last_day_of_period(objection_ends_at).isoformat(),
    )


def approval_refused(status: str) -> Conflict:
    """Why a CJP admin cannot approve an order: it was cancelled or approved already."""
    if status == OrderStatus.CANCELLED.value:
        return Conflict(BudgetReason.CANCELLED_NOT_APPROVABLE)
    return Conflict(BudgetReason.ALREADY_APPROVED)


def in_objection_period(now: datetime, ends_at: datetime) -> bool:
    return now < ends_at


# --- the programme period (R-BUDGET-8) -----------------------------------------------------------
def amsterdam_date(moment: datetime) -> date:
    return moment.astimezone(AMSTERDAM).date()


def spending_ended(now: datetime, ends_on: date) -> bool:
    """True after the last day of the programme period (that day itself still counts)."""
    return amsterdam_date(now) > ends_on


def expired_cents(now: datetime, ends_on: date, balance_cents: int, assignable_cents: int) -> int:
    """What is left and can no longer be spent: the balance and the unassigned individual
    budget after the end date, 0 before it."""
    return balance_cents + assignable_cents if spending_ended(now, ends_on) else 0


def require_spending_open(now: datetime, ends_on: date) -> None:
    if spending_ended(now, ends_on):
        raise Conflict(BudgetReason.PERIOD_OVER, ends_on=ends_on.isoformat())


# --- the balance and the assignable pool (R-BUDGET-5/6/7) ----------------------------------------
def credit(balance_cents: int, amount_cents: int) -> int:
    if amount_cents < 0:
        raise ValueError("a credit is not negative")
    return balance_cents + amount_cents


def debit(balance_cents: int, amount_cents: int, now: datetime, ends_on: date) -> int:
    """The balance after a debit; refused when it would go below zero (R-BUDGET-7) or after
    the programme period (R-BUDGET-8)."""
    if amount_cents <= 0:
        raise ValueError("a debit is positive")
    require_spending_open(now, ends_on)
    if amount_cents > balance_cents:
        raise Conflict(
            BudgetReason.INSUFFICIENT_BALANCE,
            balance_cents=balance_cents,
            amount_cents=amount_cents,
            shortfall_cents=amount_cents - balance_cents,
        )
    return balance_cents - amount_cents


# --- weborders and Schooltoer: the spending saga (R-WEB-2/4) -------------------------------------
@dataclass(frozen=True)
class Refusal:
    """Why a debit of the saga is refused: a reason and its params."""

    reason: BudgetReason
    params: dict[str, Param] = field(default_factory=dict)


def debit_refusal(
    balance_cents: int, amount_cents: int, kind: str, now: datetime, ends_on: date
) -> Refusal | None:
    """Why a weborder or Schooltoer order cannot be debited; None when it can. Refusing is a
    normal outcome of the saga, not an error."""
    if spending_ended(now, ends_on):
        return Refusal(BudgetReason.PERIOD_OVER, {"ends_on": ends_on.isoformat()})
    if amount_cents > balance_cents:
        return Refusal(
            BudgetReason.INSUFFICIENT_BALANCE,
            {
                "balance_cents": balance_cents,
                "amount_cents": amount_cents,
                "shortfall_cents": amount_cents - balance_cents,
                "kind": kind,
            },
        )
    return None


CANCELLED_PREFIX = "Geannuleerd: "


def cancelled_description(description: str) -> str:
    """The ledger line of a credit for a cancelled approval; budget owns this wording. A
    description that already has the prefix (sent by weborders releases before this one, and
    still in queues during an upgrade) is not doubled ("Geannuleerd: Geannuleerd: ...")."""
    if description.startswith(CANCELLED_PREFIX):
        return clip(description)
    return clip(f"{CANCELLED_PREFIX}{description}")


def clip(text: str, length: int = 200) -> str:
    """Free text from another service, cut to fit a column."""
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


# --- card payments (R-WEB-6) ---------------------------------------------------------------------
def card_charge(allocated_cents: int, spent_cents: int, amount_cents: int) -> int:
    """The student's spent total after a card payment; refused, with what is left, when the
    payment exceeds the individual budget (never negative)."""
    if amount_cents <= 0:
        raise ValueError("a card payment is positive")
    left = max(allocated_cents - spent_cents, 0)
    if amount_cents > left:
        raise Conflict(
            BudgetReason.INSUFFICIENT_CARD_BUDGET, left_cents=left, amount_cents=amount_cents
        )
    return spent_cents + amount_cents


def allocate(
    assignable_cents: int, students: int, amount_cents_each: int, now: datetime, ends_on: date
) -> int:
    """The assignable pool after giving each of `students` the same amount; all or nothing:
    refused with the shortfall when the pool is too small (R-BUDGET-6)."""
    if students <= 0 or amount_cents_each <= 0:
        raise ValueError("allocate a positive amount to at least one student")
    require_spending_open(now, ends_on)
    needed = students * amount_cents_each
    if needed > assignable_cents:
        raise Conflict(
            BudgetReason.INSUFFICIENT_ASSIGNABLE,
            students=students,
            each_cents=amount_cents_each,
            needed_cents=needed,
            assignable_cents=assignable_cents,
            shortfall_cents=needed - assignable_cents,
        )
    return assignable_cents - needed


def require_all_active(chosen: int, active: int) -> None:
    """Budget toewijzen only to students with an active membership: all or nothing."""
    inactive = chosen - active
    if inactive:
        reason = (
            BudgetReason.STUDENT_NOT_ACTIVE if inactive == 1 else BudgetReason.STUDENTS_NOT_ACTIVE
        )
        params: dict[str, Param] = {"inactive": inactive, "chosen": chosen}
        invalid = Invalid(reason, fields={"person_ids": FieldError(reason=reason, params=params)})
        invalid.params = params
        raise invalid


def unspent(allocated_cents: int, spent_cents: int) -> int:
    """What goes back to the pool when a student leaves the roster (R-ROSTER-7)."""
    return max(allocated_cents - spent_cents, 0)


def running_balances(amounts: Iterable[int], start: int = 0) -> list[int]:
    """The balance after each ledger entry, oldest first (R-BUDGET-7)."""
    balance = start
    result = []
    for amount in amounts:
        balance += amount
        result.append(balance)
    return result


def paid_description(invoice_number: str) -> str:
    return f"Factuur {invoice_number} betaald: collectief budget"
