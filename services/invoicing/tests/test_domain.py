"""Invoicing rules without I/O: numbers, amounts, deviations (R-INVOICE-1..3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ck_contracts.budget import OrderLine
from ck_contracts.invoicing import Invoice, InvoiceStatus
from ck_contracts.roster import RosterKind
from ck_invoicing import domain
from ck_invoicing.store import to_invoice
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "€ 0,00"),
        (2500, "€ 25,00"),
        (10500, "€ 105,00"),
        (13000, "€ 130,00"),
        (123456, "€ 1.234,56"),
        (3200000, "€ 32.000,00"),
        (123456789, "€ 1.234.567,89"),
    ],
)
def test_format_euro(cents: int, text: str) -> None:
    assert domain.format_euro(cents) == text


@given(st.integers(min_value=0, max_value=10**13))
def test_format_euro_shape(cents: int) -> None:
    text = domain.format_euro(cents)
    euros, decimals = text.removeprefix("€ ").split(",")
    assert len(decimals) == 2
    assert int(euros.replace(".", "")) * 100 + int(decimals) == cents
    assert all(len(group) == 3 for group in euros.split(".")[1:])


def test_number_format() -> None:
    assert domain.format_number(2026, 1) == "26000001"
    assert domain.format_number(2022, 700986) == "22700986"  # the manual's number
    assert domain.format_number(2100, 999_999) == "00999999"
    for bad in (0, 1_000_000):
        with pytest.raises(domain.NumbersExhausted):
            domain.format_number(2026, bad)


def test_year_is_dutch() -> None:
    # 23:30 UTC on New Year's Eve is already the next year in Amsterdam.
    assert domain.invoice_year(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == 2026
    assert domain.invoice_year(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == 2027


@pytest.mark.parametrize(
    ("ordered", "uploaded", "percent"),
    [
        (20, 1001, "98,00%"),  # the manual's example
        (0, 40, "Onbekend"),  # nothing ordered (the manual's teachers row)
        (0, 0, "Onbekend"),
        (20, 0, "Onbekend"),  # nothing uploaded yet: nothing to compare with
        (20, 20, "0,00%"),
        (30, 20, "-50,00%"),
        (1001, 20, "-4.905,00%"),
        (1, 3, "66,67%"),
        (2, 3, "33,33%"),
        (7, 8, "12,50%"),
        (1, 200_000, "100,00%"),
    ],
)
def test_deviation(ordered: int, uploaded: int, percent: str) -> None:
    assert domain.deviation_percent(ordered, uploaded) == percent


def test_deviations_overview() -> None:
    overview = domain.deviations(20, {RosterKind.STUDENTS: 1001, RosterKind.TEACHERS: 40})
    assert [(d.kind, d.ordered, d.uploaded, d.percent) for d in overview] == [
        ("Studenten", 20, 1001, "98,00%"),
        ("Docenten", 0, 40, "Onbekend"),
    ]


line = st.builds(
    lambda product, count, unit, ocw: OrderLine(
        product=product, count=count, unit_cents=unit, ocw_cents=ocw, total_cents=count * unit
    ),
    st.sampled_from(["Studenten met bijdrage school", "Studenten zonder bijdrage school"]),
    st.integers(0, 1_000_000),
    st.integers(0, 10_000),
    st.integers(0, 10**10),
)


@settings(deadline=None)
@given(st.lists(line, max_size=6))
def test_total_is_the_sum_of_the_lines(lines: list[OrderLine]) -> None:
    total = domain.lines_total(lines)
    assert total == sum(line.count * line.unit_cents for line in lines)
    # And the invoice as the service answers it keeps that total.
    row = {
        "id": "00000000-0000-0000-0000-000000000001",
        "school_id": "00000000-0000-0000-0000-000000000002",
        "order_id": "00000000-0000-0000-0000-000000000003",
        "number": "26000001",
        "invoice_date": datetime(2026, 1, 5, tzinfo=UTC),
        "reference": "",
        "lines": [line.model_dump(mode="json") for line in lines],
        "total_cents": total,
        "status": "open",
        "collective_students": 0,
        "individual_students": 0,
    }
    invoice: Invoice = to_invoice(row, {})
    assert invoice.total_cents == sum(line.total_cents for line in invoice.lines)
    assert invoice.status == InvoiceStatus.OPEN


def test_dutch_counts() -> None:
    counts = (0, 10, 1001, 654321)
    assert [domain.format_count(n) for n in counts] == ["0", "10", "1.001", "654.321"]


def test_dutch_dates() -> None:
    assert domain.format_date(date(2022, 11, 16)) == "16-11-2022"
    assert domain.format_datetime(datetime(2022, 11, 16, 14, 24, tzinfo=UTC)) == "16-11-2022 15:24"
