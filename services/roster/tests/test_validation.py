"""The validation tool (R-ROSTER-3) on realistic and broken roster files."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ck_contracts.roster import PersonFields, RosterKind
from ck_roster import rules, spreadsheet
from ck_roster.validation import Validated, validate
from ck_testkit import rosters

S, T = RosterKind.STUDENTS, RosterKind.TEACHERS
GOOD = ("Anna", "de Vries", "anna@school.nl", "+31612345678", "Zwolle", 2, "Zorg", "2A", "25LP")


def run(rows: list[tuple[Any, ...]], kind: RosterKind = S, **kwargs: Any) -> Validated:
    content = rosters.student_xlsx(rows, **kwargs) if kind is S else rosters.teacher_xlsx(rows)
    return validate(kind, "leerlingen.xlsx", content)


def messages(result: Validated) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.message) for e in result.report.errors]


def test_realistic_file_is_green() -> None:
    rows = rosters.student_rows(500, seed=3)
    result = run(rows)
    assert result.report.ok, result.report.errors[:3]
    assert result.report.message == "500 leerling(en) gevalideerd!"
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
    assert result.report.ok and result.report.message == "20 docent(en) gevalideerd!"
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
        (4, "voornaam", rules.MSG_REQUIRED),
        (4, "email", rules.MSG_EMAIL),
        (4, "mobiel nummer", rules.MSG_MOBIEL_06),
        (4, "studiejaar", rules.MSG_STUDIEJAAR),
        (5, "email", rules.email_duplicate_message(3)),
        (5, "studiejaar", rules.MSG_STUDIEJAAR),
        (5, "opleiding", rules.MSG_REQUIRED),
    ]
    assert "7 fout(en)" in result.report.message


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
    assert messages(result) == [(3, "email", rules.email_duplicate_message(2))]
    assert "rij 2" in result.report.errors[0].message


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
    assert messages(result) == [(2, "studiejaar", rules.MSG_STUDIEJAAR_DATE)]


def test_mobile_typed_as_number_loses_the_plus() -> None:
    row = (*GOOD[:3], 31612345678, *GOOD[4:])
    result = run([row], hint_row=False)
    assert messages(result) == [(2, "mobiel nummer", rules.MSG_MOBIEL_INTERNATIONAL)]


def test_blank_rows_in_the_middle_are_skipped_and_trailing_dropped() -> None:
    blank = ("",) * 9
    spaces = ("  ",) * 9
    bad = ("Piet", "", "", "", "Zwolle", 1, "Zorg", "", "")
    result = run([GOOD, blank, spaces, bad, blank, spaces], hint_row=True)
    assert messages(result) == [(6, "achternaam", rules.MSG_REQUIRED)]
    assert result.report.count == 2
    result = run([GOOD, blank, (*GOOD[:2], "b@c.nl", *GOOD[3:]), spaces])
    assert result.report.ok and result.report.count == 2


def test_no_rows() -> None:
    for content in (rosters.student_xlsx([]), rosters.student_xlsx([], hint_row=False)):
        result = validate(S, "x.xlsx", content)
        assert not result.report.ok
        assert result.report.message == "Het bestand bevat geen leerlingen."
    result = validate(T, "x.xlsx", rosters.teacher_xlsx([]))
    assert result.report.message == "Het bestand bevat geen docenten."
    result = validate(S, "x.xlsx", rosters.xlsx([], []))
    assert result.report.message == "Het bestand bevat geen leerlingen."


def test_missing_and_unknown_columns() -> None:
    content = rosters.xlsx(
        ["voornaam", "achternaam", "geboortedatum", "locatienaam"], [["a", "b", "c", "d"]]
    )
    result = validate(S, "x.xlsx", content)
    message = result.report.message
    assert not result.report.ok and len(result.report.errors) == 1
    assert "studiejaar, opleiding" in message and "geboortedatum" in message
    assert result.report.errors[0].row == 1


def test_teacher_file_as_students_names_the_missing_columns() -> None:
    result = validate(S, "x.xlsx", rosters.teacher_xlsx(rosters.teacher_rows(3, seed=1)))
    assert "ontbrekende verplichte kolom(men): studiejaar, opleiding" in result.report.message
    assert "afdeling" in result.report.message


def test_duplicate_column() -> None:
    content = rosters.xlsx([*rosters.STUDENT_HEADER, "Voornaam"], [GOOD])
    assert "dubbele kolom(men): voornaam" in validate(S, "x.xlsx", content).report.message


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
    assert any("formule" in e.message for e in result.report.errors)


def test_legacy_xls_is_validated() -> None:
    content = rosters.xls(rosters.STUDENT_HEADER, [GOOD, (*GOOD[:2], "x@y.nl", *GOOD[3:])])
    result = validate(S, "leerlingen.xls", content)
    assert result.report.ok, result.report.errors
    assert result.report.count == 2 and result.people[0].studiejaar == 2


def test_libreoffice_like_inline_strings() -> None:
    content = rosters.openpyxl_xlsx(rosters.STUDENT_HEADER, [GOOD])
    assert validate(S, "x.xlsx", content).report.ok


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.4 not a spreadsheet", spreadsheet.MSG_NOT_EXCEL),
        (b"PK\x03\x04broken", spreadsheet.MSG_CORRUPT),
        (b"", spreadsheet.MSG_EMPTY_FILE),
    ],
)
def test_hostile_files_are_red_not_exceptions(content: bytes, message: str) -> None:
    result = validate(S, "x.xlsx", content)
    assert not result.report.ok and result.report.message == message
    assert result.report.errors[0].row == 0 and result.report.errors[0].column == ""


def test_oversized_upload() -> None:
    content = rosters.student_xlsx(rosters.student_rows(200, seed=5))
    result = validate(S, "x.xlsx", content, max_bytes=1024)
    assert result.report.message == "Het bestand is te groot: het mag maximaal 1 kB zijn."


def test_unexpected_failure_is_still_a_dutch_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("ck_roster.validation.read_rows", boom)
    result = validate(S, "x.xlsx", b"PK")
    assert not result.report.ok and "kan niet worden gecontroleerd" in result.report.message
