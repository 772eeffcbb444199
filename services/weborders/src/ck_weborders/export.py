"""The spending export (R-WEB-5, menu Bestellingen > Exports): every debit and credit of the
school's budget through this service as one .xlsx sheet.

Rows: approved weborders (and cancelled approvals: the debit, then the credit as a negative
amount, so the column sums to what was really spent), Schooltoer orders the budget debited, and
card payments of students (R-WEB-6). Amounts are numbers in euros with a number format, dates
are dates; text from providers and schools is neutralised (ck_runtime.spreadsheets) so a
spreadsheet never runs it as a formula, and cleaned of characters no worksheet may hold (rows
stored before the input rules could hold them; one made every export fail). Written with
openpyxl's write-only mode (streams rows). No I/O here: store.spending() reads the rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from ck_contracts.weborders import WeborderStatus
from ck_runtime.spreadsheets import cell_text
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from ck_weborders import domain

S = WeborderStatus
HEADER = (
    "Soort",
    "Datum",
    "Omschrijving",
    "Aanbieder",
    "Referentie",
    "Aantal",
    "Status",
    "Bedrag (EUR)",
)
WIDTHS = (24, 12, 50, 30, 20, 10, 14, 14)
MONEY = "#,##0.00"
DAY = "DD-MM-YYYY"
STATUS_LABEL = {
    S.APPROVED.value: "Goedgekeurd",
    S.CANCELLED.value: "Geannuleerd",
}


def filename(school_number: int, now: datetime) -> str:
    return f"uitgaven_{school_number}_{domain.local_date(now):%Y-%m-%d}.xlsx"


def _row(
    sheet: WriteOnlyWorksheet,
    kind: str,
    day: date,
    description: str,
    provider: str,
    reference: str,
    count: int | None,
    status: str,
    cents: int,
) -> list[Any]:
    when = WriteOnlyCell(sheet, value=cast(datetime, day))  # a date cell; the stubs forget date
    when.number_format = DAY
    amount = WriteOnlyCell(sheet, value=domain.euros(cents))
    amount.number_format = MONEY
    return [
        kind,
        when,
        cell_text(description),
        cell_text(provider),
        cell_text(reference),
        count,
        status,
        amount,
    ]


def spending_workbook(
    debited: Sequence[Any], tours: Sequence[Any], payments: Sequence[Any]
) -> bytes:
    """The sheet of the rows store.spending() read: debited weborders, approved Schooltoer
    orders, card payments."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Uitgaven")
    for index, width in enumerate(WIDTHS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in HEADER:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    total = 0

    for w in debited:
        status = STATUS_LABEL.get(w.status, w.status)
        sheet.append(
            _row(
                sheet,
                "Weborder",
                w.activity_date,
                w.activity,
                w.provider_name,
                w.provider_reference,
                w.participants,
                status,
                w.amount_cents,
            )
        )
        total += w.amount_cents
        if w.status == S.CANCELLED.value:
            sheet.append(
                _row(
                    sheet,
                    "Weborder teruggeboekt",
                    domain.local_date(w.cancelled_at),
                    w.activity,
                    w.provider_name,
                    w.provider_reference,
                    w.participants,
                    status,
                    -w.amount_cents,
                )
            )
            total -= w.amount_cents

    for t in tours:
        sheet.append(
            _row(
                sheet,
                "Schooltoer",
                t.travel_date,
                f"{t.from_place} - {t.to_place}",
                "",
                "",
                t.travellers,
                "Goedgekeurd",
                t.amount_cents,
            )
        )
        total += t.amount_cents

    for p in payments:
        sheet.append(
            _row(
                sheet,
                "Kaartbetaling",
                domain.local_date(p.paid_at),
                p.description,
                p.provider_name or "",
                "",
                None,
                "Betaald",
                p.amount_cents,
            )
        )
        total += p.amount_cents

    label = WriteOnlyCell(sheet, value="Totaal")
    label.font = bold
    amount = WriteOnlyCell(sheet, value=domain.euros(total))
    amount.number_format = MONEY
    amount.font = bold
    sheet.append([label, None, None, None, None, None, None, amount])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
