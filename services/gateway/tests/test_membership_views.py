"""The invite form, the result message and the activation form, without I/O."""

from __future__ import annotations

import uuid
from datetime import date

from ck_contracts.roles import Actor, Role
from ck_contracts.roster import MembershipStatus, RosterKind
from ck_gateway.roster_views import (
    NOBODY_TICKED,
    STUDENTS,
    TEACHERS,
    invite_notice,
    may_export,
    may_invite,
    parse_invite_form,
    parse_list_query,
)
from ck_gateway.routes.pages_membership import parse_activation_form, parse_birth_date
from starlette.datastructures import FormData, MultiDict

SCHOOL = uuid.uuid4()


def form(*pairs: tuple[str, str]) -> FormData:
    return FormData(list(pairs))


def query(*pairs: tuple[str, str]):  # type: ignore[no-untyped-def]
    return parse_list_query(STUDENTS, SCHOOL, MultiDict(list(pairs)))


def test_ticked_people_and_the_header_box() -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    ticked = parse_invite_form(query(), form(("keuze", "aangevinkt"), ("persoon", a)))
    assert ticked.selection is not None
    assert [str(i) for i in ticked.selection.person_ids] == [a]
    page = parse_invite_form(
        query(),
        form(("persoon", a), ("hele_pagina", "ja"), ("pagina_id", a), ("pagina_id", b)),
    )
    assert page.selection is not None
    assert [str(i) for i in page.selection.person_ids] == [a, b]
    # Page ids count only with the header box ticked; nonsense ids are ignored.
    only_rows = parse_invite_form(query(), form(("pagina_id", c), ("persoon", "x")))
    assert only_rows.selection is None
    assert only_rows.error == NOBODY_TICKED


def test_everyone_matching_the_filter_or_everyone() -> None:
    filtered = parse_invite_form(
        query(("klas", "MV2"), ("status", "nieuw")), form(("keuze", "filter"))
    )
    assert filtered.selection is not None and filtered.selection.filter is not None
    assert filtered.selection.filter.klas == "MV2"
    assert filtered.selection.filter.statuses == [MembershipStatus.NEW]
    everyone = parse_invite_form(query(), form(("keuze", "filter")))
    assert everyone.selection is not None and everyone.selection.all


def test_invite_notice() -> None:
    assert invite_notice(312, 14) == (
        "312 uitnodigingen worden verstuurd; 14 hebben al een actief lidmaatschap."
    )
    assert invite_notice(1, 0) == "1 uitnodiging wordt verstuurd."
    assert invite_notice(0, 1) == (
        "0 uitnodigingen worden verstuurd; 1 persoon heeft al een actief lidmaatschap."
    )


def test_docent_plus_invites_students_only() -> None:
    docent = Actor(user_id=uuid.uuid4(), role=Role.DOCENT_PLUS, school_id=SCHOOL)
    holder = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    assert may_invite(docent, SCHOOL, RosterKind.STUDENTS)
    assert not may_invite(docent, SCHOOL, TEACHERS.kind)
    assert may_invite(holder, SCHOOL, RosterKind.TEACHERS)
    assert not may_invite(holder, uuid.uuid4(), RosterKind.STUDENTS)
    assert not may_invite(admin, SCHOOL, RosterKind.STUDENTS)


def test_birth_dates_as_a_date_field_or_typed_the_dutch_way() -> None:
    assert parse_birth_date("2006-12-31") == date(2006, 12, 31)
    assert parse_birth_date("31-12-2006") == date(2006, 12, 31)
    assert parse_birth_date("1/2/2006") == date(2006, 2, 1)
    assert parse_birth_date("31.12.2006") == date(2006, 12, 31)
    for text in ("31-13-2006", "gisteren", "2006", ""):
        assert parse_birth_date(text) is None


def test_activation_form() -> None:
    good = parse_activation_form(
        {
            "code": " abcd-efgh-jkmn ",
            "voornaam": "Sanne",
            "achternaam": "de Boer",
            "email": "sanne@voorbeeld.nl",
            "geboortedatum": "17-05-2006",
        },
        today=date(2024, 1, 1),
    )
    assert good.errors == {}
    assert good.payload == {
        "code": "abcd-efgh-jkmn",
        "voornaam": "Sanne",
        "achternaam": "de Boer",
        "email": "sanne@voorbeeld.nl",
        "geboortedatum": "2006-05-17",
        "sleutel": "",
    }
    # Came by the personal link: its sleutel travels along (a hidden field).
    linked = parse_activation_form(
        {
            "code": "ABCD-EFGH-JKMN",
            "voornaam": "Sanne",
            "achternaam": "de Boer",
            "email": "sanne@voorbeeld.nl",
            "geboortedatum": "17-05-2006",
            "sleutel": " q1w2E3r4T5y6U7i8O9p0-_ ",
        },
        today=date(2024, 1, 1),
    )
    assert linked.payload is not None
    assert linked.payload["sleutel"] == "q1w2E3r4T5y6U7i8O9p0-_"
    bad = parse_activation_form(
        {"code": "", "voornaam": "x" * 101, "email": "sanne", "geboortedatum": "2099-01-01"},
        today=date(2024, 1, 1),
    )
    assert bad.payload is None
    # Issue 14: the too long voornaam in the same round as the blanks and formats.
    assert set(bad.errors) == {"code", "voornaam", "achternaam", "email", "geboortedatum"}
    assert bad.values["email"] == "sanne"  # what was typed comes back
    long_name = parse_activation_form(
        {
            "code": "ABCD",
            "voornaam": "x" * 101,
            "achternaam": "y",
            "email": "a@b.nl",
            "geboortedatum": "2006-01-01",
        },
        today=date(2024, 1, 1),
    )
    assert set(long_name.errors) == {"voornaam"}


def test_export_follows_the_list_but_docent_plus_students_only() -> None:
    docent = Actor(user_id=uuid.uuid4(), role=Role.DOCENT_PLUS, school_id=SCHOOL)
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    assert may_export(docent, SCHOOL, RosterKind.STUDENTS)
    assert not may_export(docent, SCHOOL, RosterKind.TEACHERS)
    assert may_export(admin, SCHOOL, RosterKind.TEACHERS)
    assert not may_export(docent, uuid.uuid4(), RosterKind.STUDENTS)
