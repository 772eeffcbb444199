"""The accounts service's audit trail (issue 13): Docent+ granted and revoked by the budget
holder, and ended by the platform when the teacher's membership ends or the teacher leaves the
roster, each write one entry in the action's own transaction, with ids only (no name, no
address); a school lists only its own entries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ck_accounts.consumers import teachers_consumer
from ck_accounts.ops import router
from ck_accounts.ops.admin import register_school
from ck_accounts.settings import get_settings
from ck_contracts.accounts import Ops, Person, RegisterSchool, SchoolSettings
from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.membership import EndReason, MembershipActivated, MembershipEnded
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit.audit import assert_no_personal_data, break_audit_log, entries

PORTAL = "https://scholen.example"
NAME, EMAIL = "Dirk Docent", "dirk.docent@school.example"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def call(db: Database, op: Operation[Any, Any], payload: dict[str, Any], actor: Actor) -> Any:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url=PORTAL))


async def school(db: Database, key: str) -> uuid.UUID:
    registered = await register_school(
        db,
        RegisterSchool(
            settings=SchoolSettings(
                name=f"College {key.upper()}", brin_codes=["25LG"], duo_student_count=100
            ),
            budget_holder=Person(name=f"Budget {key}", email=f"budget@{key}.example"),
        ),
        PORTAL,
    )
    return registered.school_id


async def teacher(db: Database, school_id: uuid.UUID) -> uuid.UUID:
    pid = uuid.uuid4()
    event = MembershipActivated(
        school_id=school_id, person_id=pid, kind=RosterKind.TEACHERS, card_number="C1"
    )
    assert await teachers_consumer().handle(event.envelope(), db)
    return pid


def holder(school_id: uuid.UUID) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school_id)


def grant(school_id: uuid.UUID, pid: uuid.UUID, n: int = 0) -> dict[str, Any]:
    email = EMAIL.replace("@", f"{n}@")
    return {"school_id": str(school_id), "person_id": str(pid), "name": NAME, "email": email}


def ref(school_id: uuid.UUID, pid: uuid.UUID) -> dict[str, Any]:
    return {"school_id": str(school_id), "person_id": str(pid)}


async def test_grants_and_revocations_are_recorded(db: Database) -> None:
    school_id = await school(db, "a")
    who = holder(school_id)
    revoked, ended, removed = [await teacher(db, school_id) for _ in range(3)]
    for n, pid in enumerate((revoked, ended, removed)):
        granted = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid, n), who)
        assert granted["ok"], granted
    again = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, revoked), who)
    assert again["ok"]  # already granted: nothing new, no entry
    assert (await call(db, Ops.DOCENT_PLUS_REVOKE, ref(school_id, revoked), who))["ok"]
    consumer = teachers_consumer()
    end = MembershipEnded(
        school_id=school_id,
        person_id=ended,
        kind=RosterKind.TEACHERS,
        reason=EndReason.ENDED_BY_CJP,
    )
    assert await consumer.handle(end.envelope(), db)
    gone = PersonRemoved(school_id=school_id, person_id=removed, kind=RosterKind.TEACHERS)
    assert await consumer.handle(gone.envelope(), db)

    found = await entries(db)
    assert [(e.action, e.subject_id) for e in found] == [
        (AuditAction.DOCENT_PLUS_GRANTED, str(revoked)),
        (AuditAction.DOCENT_PLUS_GRANTED, str(ended)),
        (AuditAction.DOCENT_PLUS_GRANTED, str(removed)),
        (AuditAction.DOCENT_PLUS_REVOKED, str(revoked)),
        (AuditAction.DOCENT_PLUS_REVOKED, str(ended)),
        (AuditAction.DOCENT_PLUS_REVOKED, str(removed)),
    ]
    assert {(e.actor_id, e.actor_role) for e in found[:4]} == {
        (who.user_id, AuditRole.BUDGET_HOLDER)
    }
    assert {(e.actor_id, e.actor_role) for e in found[4:]} == {(None, AuditRole.SYSTEM)}
    assert [e.details.get("reason") for e in found[3:]] == [
        None,
        "ended_by_cjp",
        "removed_from_roster",
    ]
    assert all(e.school_id == school_id for e in found)
    assert_no_personal_data(found, NAME, "Dirk", EMAIL.split("@")[0], "school.example")


async def test_a_grant_and_its_entry_commit_together(db: Database) -> None:
    school_id = await school(db, "a")
    pid = await teacher(db, school_id)
    await break_audit_log(db)
    reply = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    assert reply["error"]["code"] == "internal"
    listed = await call(db, Ops.DOCENT_PLUS_LIST, {"school_id": str(school_id)}, holder(school_id))
    assert listed["ok"] and listed["result"]["items"] == []


async def test_a_school_lists_only_its_own_entries(db: Database) -> None:
    a, b = await school(db, "a"), await school(db, "b")
    for n, school_id in enumerate((a, b)):
        pid = await teacher(db, school_id)
        granted = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid, n), holder(school_id))
        assert granted["ok"], granted
    mine = await call(db, Ops.AUDIT_LIST, {"school_id": str(a)}, holder(a))
    assert [e["school_id"] for e in mine["result"]["items"]] == [str(a)]
    refused = await call(db, Ops.AUDIT_LIST, {"school_id": str(b)}, holder(a))
    assert refused["error"]["code"] == "forbidden"
