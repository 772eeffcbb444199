"""The budget rules without I/O: prices, working days, the objection period, balances."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from ck_budget import domain
from ck_budget.settings import BudgetSettings, end_of_current_school_year, get_settings
from ck_contracts.budget import BudgetReason, OrderCounts
from ck_runtime.errors import Conflict, Invalid
from hypothesis import given
from hypothesis import strategies as st

RATES = BudgetSettings().rates()
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def ams(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=domain.AMSTERDAM)


# --- the yellow block (R-BUDGET-1/2, R-INVOICE-1) ------------------------------------------------
def test_an_order_is_for_at_least_one_student() -> None:
    domain.require_counts(OrderCounts(collective_students=0, individual_students=1))
    with pytest.raises(Invalid) as refused:
        domain.require_counts(OrderCounts(collective_students=0, individual_students=0))
    assert refused.value.reason == "budget_order_empty"
    assert set(refused.value.field_errors) == {"collective_students", "individual_students"}


def test_manual_example_ten_and_ten() -> None:
    quote = domain.quote(OrderCounts(collective_students=10, individual_students=10), RATES)
    assert quote.collective_budget_cents == 10 * 2100
    assert quote.individual_budget_cents == 10 * 1050
    assert quote.invoice_total_cents == 13000  # EUR 25,00 + EUR 105,00
    without, with_share = quote.lines
    assert (without.product, without.count, without.total_cents) == (
        "Studenten zonder bijdrage school",
        10,
        2500,
    )
    # OCW's 10.50 per student (R-BUDGET-1). The manual's sample invoice shows EUR 52,50 per
    # line of 10, which contradicts its own text: the rule wins (SPEC: text over samples).
    assert without.ocw_cents == 10500 and without.vat_cents == 0 and without.unit_cents == 250
    assert (with_share.product, with_share.count, with_share.total_cents) == (
        "Studenten met bijdrage school",
        10,
        10500,
    )
    assert with_share.ocw_cents == 10500 and with_share.unit_cents == 1050


def test_lines_with_nothing_ordered_are_left_out() -> None:
    only_collective = domain.quote(OrderCounts(collective_students=3, individual_students=0), RATES)
    assert [line.product for line in only_collective.lines] == ["Studenten met bijdrage school"]
    empty = domain.quote(OrderCounts(collective_students=0, individual_students=0), RATES)
    assert empty.lines == [] and empty.invoice_total_cents == 0


def test_rates_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_INDIVIDUAL_INVOICE_PER_STUDENT_CENTS", "300")
    monkeypatch.setenv("BUDGET_SPENDING_ENDS_ON", "2024-07-31")
    rates = get_settings().rates()
    assert rates.individual_invoice_per_student_cents == 300
    assert rates.spending_ends_on == date(2024, 7, 31)
    assert rates.collective_budget_per_student_cents == 2100


def test_default_end_date_is_the_end_of_the_current_school_year() -> None:
    assert end_of_current_school_year(date(2026, 11, 29)) == date(2027, 7, 31)
    assert end_of_current_school_year(date(2027, 7, 31)) == date(2027, 7, 31)
    assert end_of_current_school_year(date(2027, 8, 1)) == date(2028, 7, 31)


@given(
    collective=st.integers(0, 1_000_000),
    individual=st.integers(0, 1_000_000),
    unit_c=st.integers(0, 10_000),
    unit_i=st.integers(0, 10_000),
)
def test_quote_total_is_the_sum_of_its_lines(
    collective: int, individual: int, unit_c: int, unit_i: int
) -> None:
    rates = RATES.model_copy(
        update={
            "collective_invoice_per_student_cents": unit_c,
            "individual_invoice_per_student_cents": unit_i,
        }
    )
    quote = domain.quote(
        OrderCounts(collective_students=collective, individual_students=individual), rates
    )
    assert quote.invoice_total_cents == sum(line.total_cents for line in quote.lines)
    assert quote.invoice_total_cents == collective * unit_c + individual * unit_i
    assert all(line.total_cents == line.count * line.unit_cents for line in quote.lines)
    assert sum(line.count for line in quote.lines) == collective + individual


# --- working days (Algemene termijnenwet) --------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 30), True),  # a Monday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 4, 3), True),  # Goede Vrijdag: a working day
        (date(2024, 3, 29), True),  # Goede Vrijdag
        (date(2026, 4, 6), False),  # Tweede Paasdag
        (date(2026, 4, 27), False),  # Koningsdag
        (date(2025, 4, 26), False),  # Koningsdag on Saturday (27 April was a Sunday)
        (date(2026, 5, 5), False),  # Bevrijdingsdag in a non-lustrum year
        (date(2027, 5, 5), False),  # Bevrijdingsdag, a Wednesday
        (date(2025, 5, 5), False),  # Bevrijdingsdag in a lustrum year
        (date(2026, 5, 14), False),  # Hemelvaartsdag
        (date(2026, 5, 25), False),  # Tweede Pinksterdag
        (date(2026, 12, 25), False),  # Eerste Kerstdag
        (date(2024, 12, 26), False),  # Tweede Kerstdag
        (date(2027, 1, 1), False),  # Nieuwjaarsdag
        (date(2026, 12, 31), True),  # Oudejaarsdag is an ordinary day
    ],
)
def test_working_days(day: date, working: bool) -> None:
    assert domain.is_working_day(day) is working


# --- the objection period (R-BUDGET-3) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("placed", "ends"),
    [
        # Monday: Tue..Mon are the five working days; ends Tuesday 00:00 a week later.
        (ams(2026, 11, 30, 10), ams(2026, 12, 8)),
        # Saturday and Sunday never count: Mon..Fri, ends Saturday 00:00.
        (ams(2026, 11, 28, 12), ams(2026, 12, 5)),
        (ams(2026, 11, 29, 23, 59), ams(2026, 12, 5)),
        # The day of placing never counts, not even at 00:01 or 23:59.
        (ams(2026, 11, 27, 0, 1), ams(2026, 12, 5)),
        (ams(2026, 11, 26, 23, 59), ams(2026, 12, 4)),
        # Easter 2024: Good Friday counts, Easter Monday does not.
        (ams(2024, 3, 28, 10), ams(2024, 4, 6)),
        # Koningsdag 2026 (Monday) and Bevrijdingsdag (Tuesday 5 May) are skipped.
        (ams(2026, 4, 24, 10), ams(2026, 5, 5)),
        (ams(2026, 5, 1, 10), ams(2026, 5, 12)),
        # Christmas and New Year.
        (ams(2026, 12, 23, 15), ams(2027, 1, 1)),
        (ams(2026, 12, 24, 9), ams(2027, 1, 5)),
        # Across the change to winter time (25 October 2026) and to summer time (29 March).
        (ams(2026, 10, 21, 12), ams(2026, 10, 29)),
        (ams(2026, 3, 25, 12), ams(2026, 4, 2)),
        # Across summer time and Easter 2026: Good Friday 3 April is the fifth working day.
        (ams(2026, 3, 27, 12), ams(2026, 4, 4)),
    ],
)
def test_objection_period_end(placed: datetime, ends: datetime) -> None:
    end = domain.objection_period_end(placed.astimezone(UTC))
    assert end == ends
    assert end.tzinfo is UTC


def test_period_end_is_amsterdam_midnight_in_utc() -> None:
    winter = domain.objection_period_end(ams(2026, 10, 21, 12))
    assert winter == datetime(2026, 10, 28, 23, 0, tzinfo=UTC)  # CET, +1
    summer = domain.objection_period_end(ams(2024, 3, 28, 10))
    assert summer == datetime(2024, 4, 5, 22, 0, tzinfo=UTC)  # CEST, +2


def test_utc_late_evening_is_the_next_day_in_amsterdam() -> None:
    # 23:30 UTC on Thursday is 00:30 on Friday in Amsterdam: Friday is the day of placing.
    thursday_night = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert domain.objection_period_end(thursday_night) == ams(2026, 12, 5)
    assert domain.objection_period_end(thursday_night - timedelta(hours=1)) == ams(2026, 12, 4)


def test_last_day_and_in_period() -> None:
    end = domain.objection_period_end(ams(2026, 11, 30, 10))
    assert domain.last_day_of_period(end) == date(2026, 12, 7)
    assert domain.in_objection_period(ams(2026, 12, 7, 23, 59), end)
    assert not domain.in_objection_period(ams(2026, 12, 8), end)


def test_period_length_in_working_days_is_configurable() -> None:
    assert domain.objection_period_end(ams(2026, 11, 30, 10), 1) == ams(2026, 12, 2)


# Hypothesis takes naive bounds and adds the zone itself (the test puts UTC on).
@given(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2030, 12, 31)))  # noqa: DTZ001
def test_period_is_five_working_days_ending_at_midnight(placed_naive: datetime) -> None:
    placed = placed_naive.replace(tzinfo=UTC)
    end = domain.objection_period_end(placed).astimezone(domain.AMSTERDAM)
    assert (end.hour, end.minute, end.second) == (0, 0, 0)
    last = end.date() - timedelta(days=1)
    assert domain.is_working_day(last)
    start = placed.astimezone(domain.AMSTERDAM).date()
    days = [start + timedelta(days=i) for i in range(1, (last - start).days + 1)]
    assert sum(domain.is_working_day(d) for d in days) == 5
    assert timedelta(days=5) < end - placed <= timedelta(days=20)


# --- the programme period (R-BUDGET-8) -----------------------------------------------------------
def test_spending_ends_after_the_last_day_amsterdam_time() -> None:
    ends_on = date(2024, 7, 31)
    assert not domain.spending_ended(ams(2024, 7, 31, 23, 59), ends_on)
    assert domain.spending_ended(ams(2024, 8, 1, 0, 0), ends_on)
    # 22:30 UTC on 31 July is already 1 August in Amsterdam.
    assert domain.spending_ended(datetime(2024, 7, 31, 22, 30, tzinfo=UTC), ends_on)
    assert domain.expired_cents(ams(2024, 7, 31, 12), ends_on, 500, 300) == 0
    assert domain.expired_cents(ams(2024, 8, 1, 12), ends_on, 500, 300) == 800


def test_nothing_is_debited_or_allocated_after_the_end() -> None:
    after = ams(2024, 8, 1, 9)
    with pytest.raises(Conflict) as refused:
        domain.debit(1000, 100, after, date(2024, 7, 31))
    assert refused.value.reason == "period_over"
    with pytest.raises(Conflict) as refused:
        domain.allocate(1000, 1, 100, after, date(2024, 7, 31))
    assert refused.value.params == {"ends_on": "2024-07-31"}


# --- balance and pool (R-BUDGET-5/6/7) -----------------------------------------------------------
ENDS = date(2027, 7, 31)


def test_debit_never_below_zero() -> None:
    assert domain.debit(1000, 1000, NOW, ENDS) == 0
    with pytest.raises(Conflict) as refused:
        domain.debit(1000, 1001, NOW, ENDS)
    assert refused.value.reason == "insufficient_balance"
    assert refused.value.params == {
        "balance_cents": 1000,
        "amount_cents": 1001,
        "shortfall_cents": 1,
    }


def test_allocate_all_or_nothing_names_the_shortfall() -> None:
    assert domain.allocate(3150, 3, 1050, NOW, ENDS) == 0
    with pytest.raises(Conflict) as refused:
        domain.allocate(3000, 3, 1050, NOW, ENDS)
    assert refused.value.reason == "insufficient_assignable"
    assert refused.value.params == {
        "students": 3,
        "each_cents": 1050,
        "needed_cents": 3150,
        "assignable_cents": 3000,
        "shortfall_cents": 150,
    }


def test_unspent_and_running_balance() -> None:
    assert domain.unspent(1050, 300) == 750
    assert domain.unspent(1050, 1050) == 0
    assert domain.running_balances([2100, -500, 300]) == [2100, 1600, 1900]
    assert domain.paid_description("22700986") == "Factuur 22700986 betaald: collectief budget"


operations = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.integers(0, 100_000), st.integers(0, 100_000)),
        st.tuples(st.just("debit"), st.integers(1, 100_000), st.just(0)),
        st.tuples(st.just("allocate"), st.integers(1, 20), st.integers(1, 5_000)),
        st.tuples(st.just("remove"), st.integers(0, 30), st.integers(0, 5_000)),
    ),
    max_size=60,
)


@given(operations)
def test_no_sequence_of_operations_goes_below_zero(ops: list[tuple[str, int, int]]) -> None:
    """A model of the service: balance and pool change only through the domain functions."""
    balance, pool, ledger = 0, 0, []
    allocated: list[int] = []
    for kind, a, b in ops:
        try:
            if kind == "credit":
                balance = domain.credit(balance, a)
                ledger.append(a)
                pool += b
            elif kind == "debit":
                balance = domain.debit(balance, a, NOW, ENDS)
                ledger.append(-a)
            elif kind == "allocate":
                pool = domain.allocate(pool, a, b, NOW, ENDS)
                allocated.extend([b] * a)
            elif allocated:
                amount = allocated.pop(a % len(allocated))
                pool += domain.unspent(amount, min(b, amount))
        except Conflict:
            pass
        assert balance >= 0 and pool >= 0
        assert balance == sum(ledger)
    assert domain.running_balances(ledger)[-1:] in ([], [balance])


# --- the spending saga and card payments (R-WEB-2/4/6) -------------------------------------------
def test_debit_refusals_name_their_reason() -> None:
    ends = date(2027, 7, 31)
    assert domain.debit_refusal(5_500, 5_500, "weborder", NOW, ends) is None
    assert domain.debit_refusal(4_000, 5_500, "weborder", NOW, ends) == domain.Refusal(
        BudgetReason.INSUFFICIENT_BALANCE,
        {
            "balance_cents": 4_000,
            "amount_cents": 5_500,
            "shortfall_cents": 1_500,
            "kind": "weborder",
        },
    )
    after = ams(2027, 8, 1, 0, 0)
    assert domain.debit_refusal(10**6, 1, "weborder", after, ends) == domain.Refusal(
        BudgetReason.PERIOD_OVER, {"ends_on": "2027-07-31"}
    )


def test_card_charge_never_beyond_the_students_budget() -> None:
    assert domain.card_charge(2_000, 1_250, 750) == 2_000
    with pytest.raises(Conflict) as refused:
        domain.card_charge(2_000, 1_250, 1_000)
    assert refused.value.reason == "insufficient_card_budget"
    assert refused.value.params == {"left_cents": 750, "amount_cents": 1_000}
    with pytest.raises(ValueError):
        domain.card_charge(2_000, 0, 0)


def test_clip_fits_free_text_in_a_column() -> None:
    assert domain.clip("  Weborder\n Hamlet ") == "Weborder Hamlet"
    assert domain.clip("x" * 300) == "x" * 199 + "…"
    assert len(domain.cancelled_description("y" * 300)) == 200


def test_a_cancelled_description_says_geannuleerd_once() -> None:
    assert domain.cancelled_description("Weborder Spoor") == "Geannuleerd: Weborder Spoor"
    already = "Geannuleerd: Weborder Spoor: Hamlet (1 maart 2027)"
    assert domain.cancelled_description(already) == already
