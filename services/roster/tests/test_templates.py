"""The downloadable templates (R-ROSTER-1) and that the validator accepts them filled in."""

from __future__ import annotations

import io

import openpyxl
import pytest
from ck_contracts.roster import RosterKind
from ck_roster.domain.columns import COLUMNS
from ck_roster.domain.validation import validate
from ck_roster.templates import template_filename, template_xlsx
from ck_testkit import rosters


def test_filenames() -> None:
    assert template_filename(RosterKind.STUDENTS) == "template_leerlingen.xlsx"
    assert template_filename(RosterKind.TEACHERS) == "template_docenten.xlsx"


@pytest.mark.parametrize("kind", list(RosterKind))
def test_header_hint_row_and_frozen_panes(kind: RosterKind) -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(template_xlsx(kind))).active
    assert sheet is not None
    columns = COLUMNS[kind]
    assert [c.value for c in sheet[1]] == [c.header for c in columns]
    hints = [str(c.value) for c in sheet[2]]
    assert [h.split(" - ")[0] for h in hints] == [c.requirement for c in columns]
    assert sheet.freeze_panes == "A3"
    assert all(sheet.column_dimensions[letter].width >= 10 for letter in "ABCDEF")


def test_studiejaar_dropdown() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(template_xlsx(RosterKind.STUDENTS))).active
    assert sheet is not None
    (choice,) = sheet.data_validations.dataValidation
    assert choice.type == "list" and choice.formula1 == '"1,2,3,4,5,6"'
    assert str(choice.sqref).startswith("F3:F")


def test_manual_hints_are_in_the_template() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(template_xlsx(RosterKind.STUDENTS))).active
    assert sheet is not None
    assert "Beginnend met 06 is dus fout!" in str(sheet["D2"].value)
    assert "1,2,3,4,5 of 6" in str(sheet["F2"].value)


def test_empty_template_has_no_people() -> None:
    result = validate(RosterKind.STUDENTS, "t.xlsx", template_xlsx(RosterKind.STUDENTS))
    assert result.report.reason == "roster.file.no_students"


@pytest.mark.parametrize("kind", list(RosterKind))
def test_filled_template_validates(kind: RosterKind) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(template_xlsx(kind)))
    sheet = workbook.active
    assert sheet is not None
    if kind is RosterKind.STUDENTS:
        rows = rosters.student_rows(25, seed=9)
    else:
        rows = rosters.teacher_rows(25, seed=9)
    for row in rows:
        sheet.append([None if value == "" else value for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = validate(kind, template_filename(kind), buffer.getvalue())
    assert result.report.ok, result.report.errors[:3]
    assert result.report.count == 25
    assert result.people[0].voornaam == rows[0][0]


def test_the_service_loads_openpyxl_only_when_a_file_is_written() -> None:
    """openpyxl (~8 MB of modules) is imported by the first template or export, not by the
    service's start: the roster's resident memory at rest (issue 15)."""
    import subprocess
    import sys

    probe = (
        "import sys, ck_roster.app; assert 'openpyxl' not in sys.modules; "
        "from ck_roster.templates import template_xlsx; from ck_contracts.roster import "
        "RosterKind; template_xlsx(RosterKind.STUDENTS); assert 'openpyxl' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
