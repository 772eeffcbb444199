"""Field rules (R-ROSTER-2), the matching rule (R-ROSTER-4) and hand edits (R-ROSTER-5)."""

from __future__ import annotations

import datetime as dt
import random

import phonenumbers
import pytest
from ck_contracts.roster import PersonFields, RosterKind
from ck_roster.domain import Problem, rules
from ck_roster.domain.columns import COLUMNS, find_column


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("voornaam", "voornaam"),
        ("  Voornaam ", "voornaam"),
        ("ACHTERNAAM", "achternaam"),
        ("e-mail", "email"),
        ("mobiel nummer", "mobiel"),
        ("Mobiel", "mobiel"),
        ("mobiel   nummer", "mobiel"),
        ("locatiennaam", "locatienaam"),
        ("studiejaa", "studiejaar"),
        ("Leerjaar", "studiejaar"),
        ("BRIN", "brin"),
        ("klas", "klas"),
    ],
)
def test_student_headers_match_the_manuals_spellings(header: str, field: str) -> None:
    column = find_column(RosterKind.STUDENTS, header)
    assert column is not None and column.field == field


def test_columns_in_template_order() -> None:
    assert [c.header for c in COLUMNS[RosterKind.STUDENTS]] == [
        "voornaam", "achternaam", "email", "mobiel nummer", "locatienaam", "studiejaar",
        "opleiding", "klas", "BRIN",
    ]  # fmt: skip
    assert [c.field for c in COLUMNS[RosterKind.TEACHERS]] == [
        "voornaam", "achternaam", "email", "mobiel", "locatienaam", "afdeling",
    ]  # fmt: skip
    assert find_column(RosterKind.TEACHERS, "studiejaar") is None
    assert find_column(RosterKind.STUDENTS, "afdeling") is None


def test_required_text_is_trimmed_and_not_blank() -> None:
    assert rules.required_text("  Anna  ") == ("Anna", None)
    assert rules.required_text("   ") == ("", rules.REQUIRED)
    assert rules.required_text(None) == ("", rules.REQUIRED)
    assert rules.required_text(42.0) == ("42", None)
    assert rules.required_text(dt.date(2024, 1, 1))[1] == rules.DATE_IN_TEXT
    assert rules.optional_text("") == ("", None)


@pytest.mark.parametrize("value", ["a@b.nl", " Jan.de.Vries@school.example.com ", "x+y@mail.co.uk"])
def test_valid_emails(value: str) -> None:
    assert rules.email(value) == (value.strip(), None)


@pytest.mark.parametrize(
    "value", ["jan", "jan@school", "jan@@school.nl", "jan@school.", "@school.nl", "a b@c.nl"]
)
def test_invalid_emails(value: str) -> None:
    assert rules.email(value)[1] == rules.INVALID_EMAIL


def test_email_is_optional() -> None:
    assert rules.email("  ") == ("", None)
    assert rules.email(None) == ("", None)


@pytest.mark.parametrize(
    ("value", "clean"),
    [
        ("+31612345678", "+31612345678"),
        (" +31 6 12345678 ", "+31612345678"),
        ("+31-6-1234 5678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("+32470123456", "+32470123456"),  # Belgian mobile
        ("+4915123456789", "+4915123456789"),
    ],
)
def test_valid_mobile_numbers(value: str, clean: str) -> None:
    assert rules.mobiel(value) == (clean, None)


def test_06_number_gets_the_manuals_message() -> None:
    _, message = rules.mobiel("0612345678")
    assert message == rules.MOBIEL_06
    assert message is not None and message.reason == "roster.cell.mobiel_06"
    assert rules.mobiel("06-12345678")[1] == rules.MOBIEL_06


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("31612345678", rules.MOBIEL_INTERNATIONAL),
        (31612345678.0, rules.MOBIEL_INTERNATIONAL),  # typed as a number: the + is lost
        ("+3161234", rules.MOBIEL_INVALID),
        ("+31abc", rules.MOBIEL_INVALID),
        ("+999123456789", rules.MOBIEL_INVALID),
    ],
)
def test_invalid_mobile_numbers(value: object, message: Problem) -> None:
    assert rules.mobiel(value)[1] == message


def test_mobile_is_optional() -> None:
    assert rules.mobiel("") == ("", None)
    assert rules.mobiel(None) == ("", None)


def test_fast_dutch_mobile_pattern_agrees_with_phonenumbers() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        number = f"+316{rng.randrange(10**8):08d}"
        fast = rules.DUTCH_MOBILE.fullmatch(number) is not None
        if fast:
            assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert (rules.mobiel(number)[1] is None) == phonenumbers.is_valid_number(
            phonenumbers.parse(number)
        )


@pytest.mark.parametrize(("value", "year"), [(3, 3), ("3", 3), (3.0, 3), (" 6 ", 6), (1, 1)])
def test_valid_studiejaar(value: object, year: int) -> None:
    assert rules.studiejaar(value) == (year, None)


@pytest.mark.parametrize("value", [3.5, "drie", 0, 7, "7", -1, "3.5", True, "1e0"])
def test_invalid_studiejaar(value: object) -> None:
    assert rules.studiejaar(value) == (None, rules.STUDIEJAAR)


def test_studiejaar_date_and_blank() -> None:
    assert rules.studiejaar(dt.date(2024, 3, 1)) == (None, rules.STUDIEJAAR_DATE)
    # A date cell reads as a naive datetime (Excel has no zones).
    excel_cell = dt.datetime(2024, 3, 1, 0, 0)  # noqa: DTZ001
    assert rules.studiejaar(excel_cell) == (None, rules.STUDIEJAAR_DATE)
    assert rules.studiejaar("") == (None, rules.REQUIRED)
    assert rules.studiejaar(None) == (None, rules.REQUIRED)


def test_anonymised_person_is_valid() -> None:
    fields = PersonFields(
        voornaam="Leerling 1",
        achternaam="achternaam1",
        locatienaam="MBO",
        studiejaar=1,
        opleiding="media",
    )
    assert rules.validate_person(RosterKind.STUDENTS, fields) == {}


def test_validate_person_names_every_wrong_field() -> None:
    errors = rules.validate_person(
        RosterKind.STUDENTS,
        {"voornaam": " ", "achternaam": "X", "email": "nope", "mobiel": "0612345678"},
    )
    assert {name: error.reason for name, error in errors.items()} == {
        "voornaam": "roster.cell.required",
        "email": "roster.cell.invalid_email",
        "mobiel": "roster.cell.mobiel_06",
        "locatienaam": "roster.cell.required",
        "studiejaar": "roster.cell.required",
        "opleiding": "roster.cell.required",
    }


def test_validate_person_teacher_needs_no_studiejaar() -> None:
    fields = PersonFields(voornaam="Els", achternaam="Bos", locatienaam="Zwolle")
    assert rules.validate_person(RosterKind.TEACHERS, fields) == {}


def test_clean_person() -> None:
    person = rules.clean_person(
        RosterKind.STUDENTS,
        {"voornaam": " Els ", "achternaam": "Bos", "mobiel": "+31 6 12345678", "studiejaar": "2",
         "locatienaam": "Zwolle", "opleiding": "Zorg"},
    )  # fmt: skip
    assert person == PersonFields(
        voornaam="Els",
        achternaam="Bos",
        mobiel="+31612345678",
        studiejaar=2,
        locatienaam="Zwolle",
        opleiding="Zorg",
    )
