"""ck_testkit.audit.assert_no_personal_data: finds a name in an entry, not inside its ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from ck_contracts.audit import AuditAction, AuditEntry, AuditRole
from ck_testkit.audit import assert_no_personal_data

SUBJECT = uuid.UUID("6aabb470-a3dc-4bea-b4e9-5bc5e9ab1cf4")  # "bea" inside an id


def entry(**details: str) -> AuditEntry:
    return AuditEntry(
        id=uuid.UUID("00000000-0000-4000-8000-00000000bea0"),
        service="budget",
        at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        actor_id=None,
        actor_role=AuditRole.SYSTEM,
        action=AuditAction.BUDGET_ALLOCATED,
        subject_type="school",
        subject_id=str(SUBJECT),
        details=dict(details),
        correlation_id="a6424cbfdf384bdfaa15d5997fdbea65",
    )


def test_a_name_made_of_hex_letters_is_not_found_inside_the_ids() -> None:
    assert_no_personal_data([entry(students="2")], "Bea")


def test_a_name_in_the_details_is_found() -> None:
    with pytest.raises(AssertionError):
        assert_no_personal_data([entry(note="Bestelling van Bea de Vries")], "Bea")


def test_an_id_given_as_personal_data_is_still_found() -> None:
    with pytest.raises(AssertionError):
        assert_no_personal_data([entry()], str(SUBJECT))
