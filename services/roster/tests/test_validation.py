"""The validation tool (R-ROSTER-3) on realistic and broken roster files."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ck_contracts.roster import PersonFields, RosterKind, RosterReason
from ck_roster import spreadsheet
from ck_roster.domain import Problem, rules
from ck_roster.domain.validation import Validated, validate
from ck_testkit import rosters

S, T = RosterKind.STUDENTS, RosterKind.TEACHERS
GOOD = ("Anna", "de Vries", "anna@school.nl", "+31612345678", "Zwolle", 2, "Zorg", "2A", "25LP")


def run(rows: list[tuple[Any, ...]], kind: RosterKind = S, **kwargs: Any) -> Validated:
    content = rosters.student_xlsx(rows, **kwargs) if kind is S else rosters.teacher_xlsx(rows)
    return validate(kind, "leerlingen.xlsx", content)


def messages(result: Validated) -> list[tuple[int, str, Problem]]:
    """Each error's row, column and problem (reason and params; the gateway writes the Dutch)."""
    return [
        (e.row, e.column, Problem(RosterReason(e.reason), e.params)) for e in result.report.errors
    ]


def summary(result: Validated) -> tuple[str, dict[str, Any]]:
    return result.report.reason, result.report.params


def test_realistic_file_is_green() -> None:
    rows = rosters.student_rows(500, seed=3)
    result = run(rows)
    assert result.report.ok, result.report.errors[:3]
    assert summary(result) == ("roster.file.valid_students", {"count": 500})
    assert result.report.count == 500 and len(result.people) == 500
    first = rows[0]
    assert result.people[0] == PersonFields(
        voornaam=first[0], achternaam=first[1], email=first[2], mobiel=first[3],
        locatienaam=first[4], studiejaar=first[5], opleiding=first[6], klas=first[7],
        brin=first[8],
    )  # fmt: skip


def test_people_behave_like_validated_models() -> None:
    person = run([GOOD]).people[0]
    assert isinstance(person, PersonFields)
    assert person.model_dump()["afdeling"] == ""
    assert PersonFields.model_validate(person.model_dump()) == person


def test_teachers_green() -> None:
    result = run(rosters.teacher_rows(20, seed=4), kind=T)
    assert result.report.ok and summary(result) == ("roster.file.valid_teachers", {"count": 20})
    assert all(p.studiejaar is None for p in result.people)


def test_anonymised_rows_of_the_manual() -> None:
    result = run(rosters.anonymous_student_rows(3), hint_row=False)
    assert result.report.ok and result.report.count == 3
    assert result.people[2].voornaam == "Leerling 3" and result.people[2].email == ""


def test_manual_layout_with_hint_rows_above_the_header() -> None:
    hints1 = (
        "Verplicht",
        "Verplicht",
        "Optioneel",
        "Optioneel",
        "Verplicht",
        "Verplicht",
        "Verplicht",
    )
    free = "Vrije invoer"
    hints2 = (free, free, "Geldig e-mail formaat", "+31612345678", free, "1,2,3,4,5 of 6", free)
    header = (
        "voornaam",
        "achternaam",
        "email",
        "mobiel nummer",
        "locatiennaam",
        "studiejaa",
        "opleiding",
    )
    rows = [hints2, header, *rosters.anonymous_student_rows(2)]
    content = rosters.xlsx(hints1, rows)
    result = validate(S, "x.xlsx", content)
    assert result.report.ok, result.report.errors
    assert result.report.count == 2


def test_every_error_with_row_column_and_dutch_message() -> None:
    rows = [
        GOOD,
        ("", "Jansen", "nope", "0612345678", "Zwolle", 7, "Zorg", "", ""),
        ("Piet", "Bos", "ANNA@School.nl", "", "Zwolle", "drie", "", "", ""),
    ]
    result = run(rows)
    assert not result.report.ok and result.people == []
    assert result.report.count == 3
    assert messages(result) == [
        (4, "voornaam", rules.REQUIRED),
        (4, "email", rules.INVALID_EMAIL),
        (4, "mobiel nummer", rules.MOBIEL_06),
        (4, "studiejaar", rules.STUDIEJAAR),
        (5, "email", rules.duplicate_email(3)),
        (5, "studiejaar", rules.STUDIEJAAR),
        (5, "opleiding", rules.REQUIRED),
    ]
    assert summary(result) == ("roster.file.has_errors", {"errors": 7})


@pytest.mark.parametrize("bad", [False, True])
def test_the_validatietool_gets_the_same_report_without_people(bad: bool) -> None:
    rows = [*rosters.student_rows(50, seed=5)]
    if bad:
        rows.append(("", "Jansen", "nope", "0612345678", "Zwolle", 7, "Zorg", "", ""))
    content = rosters.student_xlsx(rows)
    full = validate(S, "leerlingen.xlsx", content)
    report_only = validate(S, "leerlingen.xlsx", content, keep_people=False)
    assert report_only.report == full.report
    assert report_only.people == []
    assert len(full.people) == (0 if bad else 50)


def test_duplicate_email_in_other_letter_case_names_both_rows() -> None:
    other = ("Bert", "Bos", " ANNA@SCHOOL.NL ", "", "Zwolle", 1, "Zorg", "", "")
    result = run([GOOD, other], hint_row=False)
    assert messages(result) == [(3, "email", rules.duplicate_email(2))]
    assert result.report.errors[0].params == {"first_row": 2}


def test_numbers_as_text_and_as_numbers() -> None:
    rows = [
        ("Anna", "Bos", "", "+31612345678", "Zwolle", "3", "Zorg", 1, 1234.0),
        ("Bert", "Bos", "", "", "Zwolle", 4.0, "Zorg", "1A", "25LP"),
    ]
    result = run(rows)
    assert result.report.ok, result.report.errors
    assert [p.studiejaar for p in result.people] == [3, 4]
    assert result.people[0].klas == "1" and result.people[0].brin == "1234"


def test_date_where_a_number_belongs() -> None:
    row = (*GOOD[:5], dt.date(2024, 3, 1), *GOOD[6:])
    result = run([row], hint_row=False)
    assert messages(result) == [(2, "studiejaar", rules.STUDIEJAAR_DATE)]


def test_mobile_typed_as_number_loses_the_plus() -> None:
    row = (*GOOD[:3], 31612345678, *GOOD[4:])
    result = run([row], hint_row=False)
    assert messages(result) == [(2, "mobiel nummer", rules.MOBIEL_INTERNATIONAL)]


def test_blank_rows_in_the_middle_are_skipped_and_trailing_dropped() -> None:
    blank = ("",) * 9
    spaces = ("  ",) * 9
    bad = ("Piet", "", "", "", "Zwolle", 1, "Zorg", "", "")
    result = run([GOOD, blank, spaces, bad, blank, spaces], hint_row=True)
    assert messages(result) == [(6, "achternaam", rules.REQUIRED)]
    assert result.report.count == 2
    result = run([GOOD, blank, (*GOOD[:2], "b@c.nl", *GOOD[3:]), spaces])
    assert result.report.ok and result.report.count == 2


def test_a_row_with_only_a_refused_value_is_not_blank() -> None:
    """A value that was there but is refused (a studiejaar 0 or "drie") keeps its row and its
    error: it was found once by the fuzz test, such a row silently vanished."""
    for year in (0, "drie", dt.date(2024, 1, 1)):
        lone = ("", "", "", "", "", year, "", "", "")
        result = run([GOOD, lone], hint_row=False)
        assert not result.report.ok, year
        assert (3, "studiejaar") in [(e.row, e.column) for e in result.report.errors], year
        assert result.report.count == 2
    only = run([("", "", "", "", "", 0, "", "", "")], hint_row=False)
    assert only.report.reason == RosterReason.FILE_HAS_ERRORS


def test_no_rows() -> None:
    for content in (rosters.student_xlsx([]), rosters.student_xlsx([], hint_row=False)):
        result = validate(S, "x.xlsx", content)
        assert not result.report.ok
        assert result.report.reason == "roster.file.no_students"
    result = validate(T, "x.xlsx", rosters.teacher_xlsx([]))
    assert result.report.reason == "roster.file.no_teachers"
    result = validate(S, "x.xlsx", rosters.xlsx([], []))
    assert result.report.reason == "roster.file.no_students"


def test_missing_and_unknown_columns() -> None:
    content = rosters.xlsx(
        ["voornaam", "achternaam", "geboortedatum", "locatienaam"], [["a", "b", "c", "d"]]
    )
    result = validate(S, "x.xlsx", content)
    assert not result.report.ok and result.report.reason == "roster.file.columns"
    assert messages(result) == [
        (1, "", Problem(RosterReason.COLUMNS_MISSING, {"columns": "studiejaar, opleiding"})),
        (1, "", Problem(RosterReason.COLUMNS_UNKNOWN, {"columns": "geboortedatum"})),
    ]


def test_teacher_file_as_students_names_the_missing_columns() -> None:
    result = validate(S, "x.xlsx", rosters.teacher_xlsx(rosters.teacher_rows(3, seed=1)))
    missing = Problem(RosterReason.COLUMNS_MISSING, {"columns": "studiejaar, opleiding"})
    assert (1, "", missing) in messages(result)
    unknown = Problem(RosterReason.COLUMNS_UNKNOWN, {"columns": "afdeling"})
    assert (1, "", unknown) in messages(result)


def test_duplicate_column() -> None:
    content = rosters.xlsx([*rosters.STUDENT_HEADER, "Voornaam"], [GOOD])
    double = Problem(RosterReason.COLUMNS_DOUBLE, {"columns": "voornaam"})
    assert (1, "", double) in messages(validate(S, "x.xlsx", content))


def test_optional_columns_may_be_left_out_and_reordered() -> None:
    header = ["opleiding", "studiejaar", "locatienaam", "achternaam", "voornaam"]
    content = rosters.xlsx(header, [["Zorg", 2, "Zwolle", "Bos", "Els"]])
    result = validate(S, "x.xlsx", content)
    assert result.report.ok
    assert result.people[0] == PersonFields(
        voornaam="Els", achternaam="Bos", locatienaam="Zwolle", studiejaar=2, opleiding="Zorg"
    )


def test_formulas_are_errors_at_their_cells() -> None:
    content = rosters.xlsx(
        rosters.STUDENT_HEADER, [GOOD], rosters.STUDENT_HINTS, formulas={"F3": "1+1"}
    )
    result = validate(S, "x.xlsx", content)
    assert not result.report.ok
    assert (3, "studiejaar") in [(e.row, e.column) for e in result.report.errors]
    assert (3, "studiejaar", Problem(RosterReason.CELL_FORMULA, {"cell": "F3"})) in messages(result)


def test_legacy_xls_is_validated() -> None:
    content = rosters.xls(rosters.STUDENT_HEADER, [GOOD, (*GOOD[:2], "x@y.nl", *GOOD[3:])])
    result = validate(S, "leerlingen.xls", content)
    assert result.report.ok, result.report.errors
    assert result.report.count == 2 and result.people[0].studiejaar == 2


def test_libreoffice_like_inline_strings() -> None:
    content = rosters.openpyxl_xlsx(rosters.STUDENT_HEADER, [GOOD])
    assert validate(S, "x.xlsx", content).report.ok


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"%PDF-1.4 not a spreadsheet", spreadsheet.NOT_EXCEL),
        (b"PK\x03\x04broken", spreadsheet.CORRUPT),
        (b"", spreadsheet.EMPTY_FILE),
    ],
)
def test_hostile_files_are_red_not_exceptions(content: bytes, reason: str) -> None:
    result = validate(S, "x.xlsx", content)
    assert not result.report.ok and result.report.reason == reason
    assert result.report.errors[0].row == 0 and result.report.errors[0].column == ""


def test_oversized_upload() -> None:
    content = rosters.student_xlsx(rosters.student_rows(200, seed=5))
    result = validate(S, "x.xlsx", content, max_bytes=1024)
    assert summary(result) == ("roster.file.too_large", {"limit": "1 kB", "max_bytes": 1024})


def test_unexpected_failure_is_still_a_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("ck_roster.domain.validation.read_rows", boom)
    result = validate(S, "x.xlsx", b"PK")
    assert not result.report.ok and result.report.reason == "roster.file.uncheckable"
