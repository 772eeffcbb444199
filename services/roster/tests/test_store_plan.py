"""The upload's matching and diff (R-ROSTER-4) as plain functions, without a database."""

from __future__ import annotations

import uuid

from ck_contracts.roster import PersonFields
from ck_roster.domain.matching import Existing, digest, email_key, name_key, plan_replace
from ck_roster.store import field_values


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
    assert values["match_key"] == name_key(person("émile"))
    assert len(values["digest"]) == 32
