"""The upload's matching and diff (R-ROSTER-4) as plain functions, without a database."""

from __future__ import annotations

import uuid

from ck_contracts.roster import PersonFields
from ck_roster.domain.matching import (
    Existing,
    ReplacePlan,
    digest,
    email_key,
    finish_plan,
    name_key,
    plan_replace,
    plan_steps,
)
from ck_roster.domain.people import COLUMN_FIELDS, People
from ck_roster.store import field_values
from hypothesis import given, settings
from hypothesis import strategies as st


def person(voornaam: str = "Sam", email: str = "", **other: object) -> PersonFields:
    values: dict[str, object] = {
        "voornaam": voornaam,
        "achternaam": "Jansen",
        "locatienaam": "Haarlem",
        "studiejaar": 2,
        "opleiding": "Verzorging",
        "email": email,
    }
    values.update(other)
    return PersonFields.model_validate(values)


def existing(fields: PersonFields) -> Existing:
    return Existing(uuid.uuid4(), email_key(fields), name_key(fields), digest(fields))


def test_same_file_again_keeps_everyone_unchanged() -> None:
    rows = [person("A", "a@x.nl"), person("B"), person("C", "c@x.nl")]
    there = [existing(r) for r in rows]
    plan = plan_replace(there, rows)
    assert {pid for pid, _ in plan.kept} == {p.id for p in there}
    assert plan.changed == [] and plan.added == [] and plan.removed == []


def test_email_matches_case_insensitively_and_other_fields_may_change() -> None:
    old = existing(person("A", "Anna@School.nl", klas="1a"))
    plan = plan_replace([old], [person("Anna", "anna@school.NL", klas="2b")])
    assert [pid for pid, _ in plan.kept] == [old.id]
    assert [pid for pid, _ in plan.changed] == [old.id]
    assert plan.added == [] and plan.removed == []


def test_without_email_the_name_key_matches_case_insensitively() -> None:
    old = existing(person("Sam"))
    plan = plan_replace([old], [person("SAM", achternaam="jansen", mobiel="+31612345678")])
    assert [pid for pid, _ in plan.kept] == [old.id]
    assert len(plan.changed) == 1


def test_name_key_matches_when_only_one_side_has_an_email() -> None:
    old_without = existing(person("Sam"))
    old_with = existing(person("Kim", "kim@x.nl"))
    plan = plan_replace([old_without, old_with], [person("Sam", "sam@x.nl"), person("Kim")])
    assert {pid for pid, _ in plan.kept} == {old_without.id, old_with.id}
    assert plan.added == [] and plan.removed == []


def test_different_emails_are_different_people_despite_equal_names() -> None:
    old = existing(person("Sam", "sam@x.nl"))
    row = person("Sam", "sam.other@x.nl")
    plan = plan_replace([old], [row])
    assert plan.kept == [] and plan.added == [row] and plan.removed == [old.id]


def test_a_changed_identifying_field_is_a_new_person() -> None:
    old = existing(person("Sam"))
    row = person("Sam", studiejaar=3)
    plan = plan_replace([old], [row])
    assert plan.added == [row] and plan.removed == [old.id]


def test_each_person_matches_one_row_only() -> None:
    twin = existing(person("Sam"))
    rows = [person("Sam"), person("Sam")]
    plan = plan_replace([twin], rows)
    assert len(plan.kept) == 1 and len(plan.added) == 1 and plan.removed == []


def test_an_email_match_wins_over_a_name_match() -> None:
    by_name = existing(person("Sam"))
    by_email = existing(person("Other", "sam@x.nl"))
    plan = plan_replace([by_name, by_email], [person("Sam", "sam@x.nl")])
    assert [pid for pid, _ in plan.kept] == [by_email.id]
    assert plan.removed == [by_name.id]


def test_empty_file_would_remove_everyone_and_empty_roster_adds_everyone() -> None:
    old = existing(person("Sam"))
    assert plan_replace([old], []).removed == [old.id]
    rows = [person(str(i)) for i in range(5)]
    assert plan_replace([], rows).added == rows


def test_stored_values_have_lower_case_shadows_and_keys() -> None:
    values = field_values(person("Émile", "E@X.nl", klas="2B", brin="25LG"))
    assert values["voornaam_lower"] == "émile"
    assert values["email_lower"] == "e@x.nl" and values["email"] == "E@X.nl"
    assert values["brin_lower"] == "25lg" and values["klas_lower"] == "2b"
    assert "match_key" not in values  # made from the shadows when needed (load_existing)
    assert len(values["digest"]) == 32


# --- only the people the plan may match by name need their keys (store.load_existing) ----------
_NAMES = st.sampled_from(["Sam", "Ali", "Eva"])
_EMAILS = st.sampled_from(["", "", "a@x.nl", "B@x.nl", "c@x.nl"])
_PEOPLE = st.builds(lambda v, e, y: person(v, e, studiejaar=y), _NAMES, _EMAILS, st.integers(1, 2))


def _columns(rows: list[PersonFields]) -> People:
    found = {name: [getattr(r, name) for r in rows] for name in COLUMN_FIELDS}
    return People.from_fields(found, len(rows))


def _plan_summary(plan: ReplacePlan) -> tuple[object, ...]:
    return (
        sorted((str(pid), row.model_dump_json()) for pid, row in plan.kept),
        sorted((str(pid), row.model_dump_json()) for pid, row in plan.changed),
        sorted(row.model_dump_json() for row in plan.added),
        sorted(map(str, plan.removed)),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_PEOPLE, max_size=8), st.lists(_PEOPLE, max_size=8), st.booleans())
def test_keys_asked_for_are_the_only_ones_needed(
    there: list[PersonFields], rows: list[PersonFields], as_columns: bool
) -> None:
    """The plan is the same when the people with an address come without their name keys and
    plan_steps is answered only for those it asks about; it never asks about someone the
    file's address found first. Duplicate addresses in the roster (kept from before the
    rules) included."""
    everyone = [existing(p) for p in there]
    unkeyed = [p._replace(match_key=None) if p.email_lower else p for p in everyone]
    file = _columns(rows) if as_columns and rows else rows
    asked: list[int] = []

    def keys_of(need: list[int]) -> dict[int, str]:
        asked.extend(need)
        return {i: everyone[i].match_key or "" for i in need}

    plan = finish_plan(plan_steps(unkeyed, file), keys_of)
    assert _plan_summary(plan) == _plan_summary(plan_replace(everyone, file))
    assert all(everyone[i].email_lower for i in asked)  # the others came with their keys
    last = {p.email_lower: i for i, p in enumerate(everyone) if p.email_lower}  # as looked up
    found_by_address = {i for email, i in last.items() if email in {email_key(r) for r in rows}}
    assert not found_by_address & set(asked)


def test_no_key_is_asked_for_when_every_address_finds_its_person() -> None:
    there = [existing(person("A", "a@x.nl")), existing(person("B", "b@x.nl"))]
    unkeyed = [p._replace(match_key=None) for p in there]
    steps = plan_steps(unkeyed, [person("A", "A@X.nl "), person("B", "b@x.nl")])
    assert next(steps) == []
    steps = plan_steps(unkeyed, [person("A", "a@x.nl"), person("Bee")])  # Bee: no address
    assert next(steps) == [1]  # only B could still be Bee
    steps = plan_steps(unkeyed, [person("A", "a@x.nl"), person("Bee", "bee@x.nl")])
    assert next(steps) == []  # an addressed row never matches an addressed person by name
