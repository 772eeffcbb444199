"""Issue 13: accounts addresses the mails other services write for "the budget holders of
school X" (BudgetHolderMailRequested): one EmailRequested per active budget holder of that
school, with the name added, never to another school's people or to a Docent+; the same
request delivered again (or published twice) never becomes a second mail."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ck_accounts.consumers import budget_holder_mail_id, mails_consumer
from ck_accounts.ops.admin import register_school
from ck_accounts.store import add_user
from ck_accounts.tables import outbox
from ck_contracts.accounts import Person, RegisterSchool, SchoolSettings
from ck_contracts.notifier import BudgetHolderMailRequested, EmailRequested, MailTemplate
from ck_contracts.roles import Role
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import select

PORTAL = "https://scholen.example"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def _school(db: Database, key: str) -> uuid.UUID:
    registered = await register_school(
        db,
        RegisterSchool(
            settings=SchoolSettings(
                name=f"College {key}", brin_codes=["25LG"], duo_student_count=1
            ),
            budget_holder=Person(name=f"Budget {key}", email=f"budget@{key}.example"),
        ),
        PORTAL,
    )
    return registered.school_id


async def _mails(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.execute(
            select(outbox.c.body)
            .where(outbox.c.routing_key == EmailRequested.routing_key)
            .order_by(outbox.c.seq)
        )
        return [dict(r.body) for r in rows if r.body["template"] != "welcome_budget_holder"]


async def test_each_budget_holder_of_the_school_gets_the_mail_once(db: Database) -> None:
    school, other = await _school(db, "a"), await _school(db, "b")
    second = uuid.uuid4()
    async with db.transaction() as session:
        await add_user(
            session,
            user_id=second,
            email="tweede@a.example",
            name="Tweede Budgethouder",
            role=Role.BUDGET_HOLDER,
            school_id=school,
            now=clocks.now(),
        )
        await add_user(
            session,
            user_id=uuid.uuid4(),
            email="docent@a.example",
            name="Docent Plus",
            role=Role.DOCENT_PLUS,
            school_id=school,
            now=clocks.now(),
        )
    request = BudgetHolderMailRequested(
        school_id=school,
        template=MailTemplate.INVOICE_ISSUED,
        context={"school_name": "College a", "invoice_number": "26000001"},
    )
    consumer = mails_consumer()
    assert await consumer.handle(request.envelope(), db)
    assert not await consumer.handle(request.envelope(), db)  # redelivered: nothing new
    mails = await _mails(db)
    assert sorted(m["to"] for m in mails) == ["budget@a.example", "tweede@a.example"]
    assert {m["context"]["recipient_name"] for m in mails} == {"Budget a", "Tweede Budgethouder"}
    assert all(m["template"] == "invoice_issued" for m in mails)
    assert all(m["context"]["invoice_number"] == "26000001" for m in mails)
    assert all(m["school_id"] == str(school) for m in mails)
    assert str(budget_holder_mail_id(request.id, second)) in {m["id"] for m in mails}
    assert other  # the other school's budget holder got nothing
    assert "budget@b.example" not in {m["to"] for m in mails}


async def test_the_digest_rows_travel_with_the_mail(db: Database) -> None:
    school = await _school(db, "a")
    items = [{"activity": "Hamlet", "kind": "nieuw"}]
    request = BudgetHolderMailRequested(
        school_id=school,
        template=MailTemplate.WEBORDERS_AWAITING,
        context={"school_name": "College a"},
        items=items,
    )
    assert await mails_consumer().handle(request.envelope(), db)
    (mail,) = await _mails(db)
    assert mail["items"] == items and mail["template"] == "weborders_awaiting"
