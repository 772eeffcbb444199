"""Docent+ (R-ROLE-2, R-ROSTER-7): the teachers' membership projection, grant and revoke, and
the automatic end of access, on SQLite and PostgreSQL, plus once through the real broker."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from ck_accounts.app import build
from ck_accounts.consumers import teachers_consumer
from ck_accounts.ops import router
from ck_accounts.ops.admin import register_school
from ck_accounts.settings import get_settings
from ck_accounts.tables import outbox, password_links, sessions, teacher_memberships, users
from ck_contracts.accounts import Ops, Person, RegisterSchool, SchoolSettings
from ck_contracts.membership import EndReason, MembershipActivated, MembershipEnded
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit import clocks, drain, eventually, publish_event
from sqlalchemy import func, select

PORTAL = "https://scholen.example"
PASSWORD = "docent plus wachtwoord"
TEACHER_EMAIL = "Dirk.Docent@School.example"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url=PORTAL))


async def school(db: Database, key: str = "a") -> uuid.UUID:
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


def actor(role: str, school_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "user_id": str(uuid.uuid4()),
        "role": role,
        "school_id": str(school_id) if school_id else None,
    }


def holder(school_id: uuid.UUID) -> dict[str, Any]:
    return actor("budgethouder", school_id)


def at(seconds: float) -> datetime:
    return clocks.now() + timedelta(seconds=seconds)


def activated(
    school_id: uuid.UUID, pid: uuid.UUID, kind: RosterKind = RosterKind.TEACHERS, when: float = 0
) -> dict[str, Any]:
    return MembershipActivated(
        school_id=school_id, person_id=pid, kind=kind, card_number="C1", occurred_at=at(when)
    ).envelope()


def ended(school_id: uuid.UUID, pid: uuid.UUID, when: float = 1) -> dict[str, Any]:
    return MembershipEnded(
        school_id=school_id,
        person_id=pid,
        kind=RosterKind.TEACHERS,
        reason=EndReason.ENDED_BY_CJP,
        occurred_at=at(when),
    ).envelope()


def removed(school_id: uuid.UUID, pid: uuid.UUID, kind: RosterKind = RosterKind.TEACHERS) -> Any:
    return PersonRemoved(school_id=school_id, person_id=pid, kind=kind).envelope()


def grant(school_id: uuid.UUID, pid: uuid.UUID, email: str = TEACHER_EMAIL) -> dict[str, Any]:
    return {
        "school_id": str(school_id),
        "person_id": str(pid),
        "name": "Dirk Docent",
        "email": email,
    }


def ref(school_id: uuid.UUID, pid: uuid.UUID) -> dict[str, Any]:
    return {"school_id": str(school_id), "person_id": str(pid)}


async def mails(db: Database, template: str = "docent_plus_access") -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    return [
        r.body
        for r in rows
        if r.body["type"] == "notifier.email.requested" and r.body["template"] == template
    ]


async def active_teacher(db: Database, school_id: uuid.UUID) -> uuid.UUID:
    pid = uuid.uuid4()
    assert await teachers_consumer().handle(activated(school_id, pid), db)
    return pid


async def log_in_with_mailed_link(db: Database, mail: dict[str, Any]) -> str:
    token = mail["context"]["link"].split("token=")[1]
    used = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": PASSWORD})
    assert used["ok"], used
    login = await call(db, Ops.LOGIN, {"email": mail["to"], "password": PASSWORD})
    assert login["ok"], login
    return str(login["result"]["token"])


async def session_code(db: Database, token: str) -> str:
    reply = await call(db, Ops.SESSION, {"token": token})
    return "ok" if reply["ok"] else reply["error"]["code"]


async def test_grant_creates_a_docent_plus_user_with_a_password_link_mail(db: Database) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    reply = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    assert reply["ok"], reply
    access = reply["result"]
    assert access["person_id"] == str(pid)
    assert access["email"] == "dirk.docent@school.example"  # stored lower-case
    (mail,) = await mails(db)
    assert mail["to"] == "dirk.docent@school.example"
    assert mail["school_id"] == str(school_id)
    assert mail["context"]["recipient_name"] == "Dirk Docent"
    assert mail["context"]["school_name"] == "College A"
    assert mail["context"]["school_number"].isdigit()
    assert mail["context"]["link"].startswith(f"{PORTAL}/wachtwoord-instellen?token=")

    token = await log_in_with_mailed_link(db, mail)
    me = await call(db, Ops.SESSION, {"token": token})
    assert me["result"]["actor"]["role"] == "docent_plus"
    assert me["result"]["actor"]["school_id"] == str(school_id)
    assert me["result"]["actor"]["user_id"] == access["user_id"]
    assert me["result"]["school_name"] == "College A"

    listed = await call(db, Ops.DOCENT_PLUS_LIST, {"school_id": str(school_id)}, holder(school_id))
    assert [i["person_id"] for i in listed["result"]["items"]] == [str(pid)]
    assert listed["result"]["items"][0]["user_id"] == access["user_id"]


async def test_grant_twice_changes_nothing_and_mails_once(db: Database) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    first = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    again = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    assert again["ok"] and again["result"]["user_id"] == first["result"]["user_id"]
    assert len(await mails(db)) == 1


async def test_grant_needs_an_active_teacher_membership_of_that_school(db: Database) -> None:
    school_a, school_b = await school(db, "a"), await school(db, "b")
    consumer = teachers_consumer()
    unknown = uuid.uuid4()
    student = uuid.uuid4()
    await consumer.handle(activated(school_a, student, kind=RosterKind.STUDENTS), db)
    of_b = await active_teacher(db, school_b)
    stopped = await active_teacher(db, school_a)
    await consumer.handle(ended(school_a, stopped), db)
    for pid in (unknown, student, of_b, stopped):
        reply = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_a, pid), holder(school_a))
        assert reply["error"]["code"] == "conflict", pid
        assert reply["error"]["reason"] == "docent_plus_no_active_membership"
    assert await mails(db) == []
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(users))).scalar() == 2


async def test_an_address_of_another_account_is_refused(db: Database) -> None:
    school_id = await school(db)
    first, second = await active_teacher(db, school_id), await active_teacher(db, school_id)
    own_holder = await call(
        db, Ops.DOCENT_PLUS_GRANT, grant(school_id, first, "Budget@A.example"), holder(school_id)
    )
    assert own_holder["error"]["code"] == "conflict"
    assert own_holder["error"]["reason"] == "docent_plus_email_taken"
    assert own_holder["error"]["field_errors"]["email"]["reason"] == "docent_plus_email_taken"
    ok = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, first), holder(school_id))
    assert ok["ok"]
    twice = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, second), holder(school_id))
    assert twice["error"]["code"] == "conflict"
    bad = await call(
        db, Ops.DOCENT_PLUS_GRANT, grant(school_id, second, "geen-adres"), holder(school_id)
    )
    assert bad["error"]["code"] == "invalid" and "email" in bad["error"]["field_errors"]


async def test_revoke_ends_every_session_and_the_log_in_at_once(db: Database) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    (mail,) = await mails(db)
    first = await log_in_with_mailed_link(db, mail)
    second = (await call(db, Ops.LOGIN, {"email": mail["to"], "password": PASSWORD}))["result"]
    assert await session_code(db, second["token"]) == "ok"

    reply = await call(db, Ops.DOCENT_PLUS_REVOKE, ref(school_id, pid), holder(school_id))
    assert reply["ok"], reply
    assert await session_code(db, first) == "unauthenticated"
    assert await session_code(db, second["token"]) == "unauthenticated"
    login = await call(db, Ops.LOGIN, {"email": mail["to"], "password": PASSWORD})
    assert login["error"]["code"] == "unauthenticated"
    async with db.read() as session:  # the account and its personal data are gone (R-AVG-2)
        assert (await session.execute(select(users).where(users.c.person_id == pid))).first() is (
            None
        )
        assert (await session.execute(select(sessions))).first() is None
    listed = await call(db, Ops.DOCENT_PLUS_LIST, {"school_id": str(school_id)}, holder(school_id))
    assert listed["result"]["items"] == []
    again = await call(db, Ops.DOCENT_PLUS_REVOKE, ref(school_id, pid), holder(school_id))
    assert again["error"]["code"] == "not_found"
    assert again["error"]["reason"] == "docent_plus_no_access"

    # Granted again: a new account and a new mail; the old link stays unusable.
    regrant = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    assert regrant["ok"]
    assert len(await mails(db)) == 2


async def test_an_unused_link_dies_with_the_access(db: Database) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    (mail,) = await mails(db)
    await call(db, Ops.DOCENT_PLUS_REVOKE, ref(school_id, pid), holder(school_id))
    token = mail["context"]["link"].split("token=")[1]
    used = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": PASSWORD})
    assert used["error"]["code"] == "conflict"
    async with db.read() as session:
        links = (await session.execute(select(password_links.c.user_id))).scalars().all()
        holders = (await session.execute(select(users.c.id))).scalars().all()
    assert len(links) == 1 and links[0] in holders  # only the budget holder's welcome link


@pytest.mark.parametrize("how", ["membership_ended", "removed_from_roster"])
async def test_access_ends_with_the_membership_or_the_roster_entry(db: Database, how: str) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    token = await log_in_with_mailed_link(db, (await mails(db))[0])
    consumer = teachers_consumer()
    # Students' events on the same queue leave the teacher alone.
    await consumer.handle(removed(school_id, uuid.uuid4(), RosterKind.STUDENTS), db)
    assert await session_code(db, token) == "ok"

    event = ended(school_id, pid) if how == "membership_ended" else removed(school_id, pid)
    assert await consumer.handle(event, db)
    assert await session_code(db, token) == "unauthenticated"
    assert (await call(db, Ops.LOGIN, {"email": TEACHER_EMAIL, "password": PASSWORD}))["error"][
        "code"
    ] == "unauthenticated"
    refused = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    assert refused["error"]["code"] == "conflict"


async def test_projection_keeps_the_newest_fact_and_removal_is_final(db: Database) -> None:
    school_id = await school(db)
    consumer = teachers_consumer()
    pid = uuid.uuid4()

    async def state() -> tuple[bool, bool] | None:
        async with db.read() as session:
            row = (
                await session.execute(
                    select(teacher_memberships).where(teacher_memberships.c.person_id == pid)
                )
            ).first()
        return None if row is None else (row.active, row.removed)

    await consumer.handle(ended(school_id, pid, when=-10), db)  # ended long ago
    assert await state() == (False, False)
    await consumer.handle(activated(school_id, pid, when=0), db)  # then activated again
    assert await state() == (True, False)
    await consumer.handle(ended(school_id, pid, when=-5), db)  # a late, older end: ignored
    assert await state() == (True, False)
    duplicate = ended(school_id, pid, when=5)
    assert await consumer.handle(duplicate, db)
    assert not await consumer.handle(duplicate, db)  # the inbox drops a redelivery
    assert await state() == (False, False)
    await consumer.handle(removed(school_id, pid), db)
    await consumer.handle(activated(school_id, pid, when=60), db)  # after removal: ignored
    assert await state() == (False, True)


async def test_only_the_schools_budget_holder_manages_docent_plus(db: Database) -> None:
    school_a, school_b = await school(db, "a"), await school(db, "b")
    pid = await active_teacher(db, school_a)
    for who in (
        actor("docent_plus", school_a),
        actor("cjp_admin", None),
        actor("provider", None),
        holder(school_b),
    ):
        for op, payload in (
            (Ops.DOCENT_PLUS_LIST, {"school_id": str(school_a)}),
            (Ops.DOCENT_PLUS_GRANT, grant(school_a, pid)),
            (Ops.DOCENT_PLUS_REVOKE, ref(school_a, pid)),
        ):
            reply = await call(db, op, payload, who)
            assert reply["error"]["code"] == "forbidden", (who["role"], op)
    # Budget holder of school B naming its own school with school A's teacher: no membership.
    reply = await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_b, pid), holder(school_b))
    assert reply["error"]["code"] == "conflict"
    assert await mails(db) == []
    assert (await call(db, Ops.DOCENT_PLUS_LIST, {"school_id": str(school_a)}))["error"][
        "code"
    ] == "unauthenticated"


async def test_revoking_another_schools_teacher_matches_nothing(db: Database) -> None:
    """School B's budget holder, for its own school, names school A's teacher: not_found (the
    gateway shows no success), and A's Docent+ account is untouched."""
    school_a, school_b = await school(db, "a"), await school(db, "b")
    pid = await active_teacher(db, school_a)
    assert (await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_a, pid), holder(school_a)))["ok"]
    reply = await call(db, Ops.DOCENT_PLUS_REVOKE, ref(school_b, pid), holder(school_b))
    assert reply["error"]["code"] == "not_found"
    listed = await call(db, Ops.DOCENT_PLUS_LIST, {"school_id": str(school_a)}, holder(school_a))
    assert [i["person_id"] for i in listed["result"]["items"]] == [str(pid)]


async def test_a_docent_plus_user_may_not_change_settings_in_the_service(db: Database) -> None:
    school_id = await school(db)
    pid = await active_teacher(db, school_id)
    await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, pid), holder(school_id))
    token = await log_in_with_mailed_link(db, (await mails(db))[0])
    me = (await call(db, Ops.SESSION, {"token": token}))["result"]["actor"]
    assert (await call(db, Ops.SCHOOL_GET, {"school_id": str(school_id)}, me))["ok"]
    settings = {"name": "X", "brin_codes": ["25LG"], "duo_student_count": 1}
    update = {"school_id": str(school_id), "settings": settings}
    assert (await call(db, Ops.SCHOOL_UPDATE, update, me))["error"]["code"] == "forbidden"
    assert (await call(db, Ops.DOCENT_PLUS_GRANT, grant(school_id, uuid.uuid4()), me))["error"][
        "code"
    ] == "forbidden"


async def test_docent_plus_through_the_broker(private_amqp_url: str, sqlite_url: str) -> None:
    """The real service: events on accounts.events.teachers, operations over RPC."""
    runtime = ServiceRuntime(
        build(get_settings(amqp_url=private_amqp_url, database_url=sqlite_url, portal_url=PORTAL))
    )
    await runtime.start()
    client = RpcClient(private_amqp_url, timeout=20)
    await client.start()
    try:
        school_id = await school(runtime.db)
        pid = uuid.uuid4()
        budget = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school_id)
        await publish_event(
            private_amqp_url,
            MembershipActivated(
                school_id=school_id, person_id=pid, kind=RosterKind.TEACHERS, card_number="C9"
            ),
        )

        async def granted() -> bool:
            reply = await client.call(
                "accounts", Ops.DOCENT_PLUS_GRANT.name, grant(school_id, pid), actor=budget
            )
            return reply.ok

        assert await eventually(granted)
        # The mail goes out through the broker; the outbox keeps no copy of it once published.
        sent = [
            json.loads(m.body)
            for m in await drain(private_amqp_url, "notifier.events.email", expect=2)
        ]  # the budget holder's welcome, then the teacher's
        (mail,) = [m for m in sent if m["template"] == "docent_plus_access"]
        token = mail["context"]["link"].split("token=")[1]

        async def no_copy_kept() -> bool:
            async with runtime.db.read() as session:
                bodies = (await session.execute(select(outbox.c.body))).scalars().all()
            return bool(bodies) and all(body == {} for body in bodies)

        assert await eventually(no_copy_kept)
        used = await client.call(
            "accounts", Ops.PASSWORD_LINK_USE.name, {"token": token, "password": PASSWORD}
        )
        assert used.ok
        login = await client.call(
            "accounts", Ops.LOGIN.name, {"email": TEACHER_EMAIL, "password": PASSWORD}
        )
        assert login.ok and login.result["actor"]["role"] == "docent_plus"
        session_token = login.result["token"]

        await publish_event(
            private_amqp_url,
            PersonRemoved(school_id=school_id, person_id=pid, kind=RosterKind.TEACHERS),
        )

        async def logged_out() -> bool:
            reply = await client.call("accounts", Ops.SESSION.name, {"token": session_token})
            return (
                not reply.ok and reply.error is not None and reply.error.code == ("unauthenticated")
            )

        assert await eventually(logged_out)
        listed = await client.call(
            "accounts", Ops.DOCENT_PLUS_LIST.name, {"school_id": str(school_id)}, actor=budget
        )
        assert listed.ok and listed.result["items"] == []
    finally:
        await client.stop()
        await runtime.stop()
