"""The downloadable Excel templates (R-ROSTER-1): template_leerlingen.xlsx and
template_docenten.xlsx. Row 1 holds the column names, row 2 the hint row of the manual
(Verplicht/Optioneel and the format); the panes are frozen below the hints and studiejaar has a
1..6 dropdown. The validator accepts the template as downloaded and filled."""

from __future__ import annotations

import io

from ck_contracts.roster import RosterKind

from ck_roster.domain.columns import COLUMNS

FILENAMES = {
    RosterKind.STUDENTS: "template_leerlingen.xlsx",
    RosterKind.TEACHERS: "template_docenten.xlsx",
}
_SHEET_TITLES = {RosterKind.STUDENTS: "Leerlingen", RosterKind.TEACHERS: "Docenten"}
_DATA_ROWS = 50_000
_WIDTHS = {"email": 34, "mobiel": 22, "studiejaar": 12, "brin": 12, "klas": 12}


def template_filename(kind: RosterKind) -> str:
    return FILENAMES[kind]


def template_xlsx(kind: RosterKind) -> bytes:
    # Imported on the first download (as in export.py): the resting service without openpyxl.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = _SHEET_TITLES[kind]
    bold = Font(bold=True)
    hint_font = Font(italic=True, color="555555", size=9)
    hint_fill = PatternFill("solid", fgColor="F2F2F2")
    wrap = Alignment(wrap_text=True, vertical="top")
    for position, column in enumerate(COLUMNS[kind], start=1):
        letter = get_column_letter(position)
        header = sheet.cell(row=1, column=position, value=column.header)
        header.font = bold
        hint = sheet.cell(row=2, column=position, value=f"{column.requirement} - {column.hint}")
        hint.font = hint_font
        hint.fill = hint_fill
        hint.alignment = wrap
        sheet.column_dimensions[letter].width = _WIDTHS.get(column.field, 20)
        if column.field in ("mobiel", "klas", "brin"):
            # text cells, so Excel keeps the + and leading zeros
            sheet.column_dimensions[letter].number_format = "@"
        if column.field == "studiejaar":
            choice = DataValidation(
                type="list",
                formula1='"1,2,3,4,5,6"',
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Studiejaar",
                error="Kies 1, 2, 3, 4, 5 of 6.",
            )
            choice.add(f"{letter}3:{letter}{_DATA_ROWS + 2}")
            sheet.add_data_validation(choice)
    sheet.row_dimensions[2].height = 60
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
