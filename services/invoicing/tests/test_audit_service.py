"""The invoicing service's audit trail (issue 13): an invoice issued (by the platform, when its
order is approved) and its payment recorded (by a CJP admin) each write one entry in the
action's own transaction; a school lists only its own entries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.budget import BudgetOrderApproved, OrderLine
from ck_contracts.invoicing import Ops
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import RpcRequest
from ck_invoicing.consumers import budget_consumer
from ck_invoicing.ops import router
from ck_invoicing.settings import get_settings
from ck_invoicing.tables import invoices
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from ck_testkit.audit import assert_no_personal_data, break_audit_log, entries
from sqlalchemy import func, select

SCHOOL_A = uuid.UUID(int=0xA)
SCHOOL_B = uuid.UUID(int=0xB)
ISSUED_AT = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))  # before the session's clock
REFERENCE = "PO van Bea de Vries"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("invoicing", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def approved(school_id: uuid.UUID) -> BudgetOrderApproved:
    line = OrderLine(
        product="Studenten met bijdrage school",
        count=10,
        unit_cents=1050,
        ocw_cents=10 * 1050,
        total_cents=10 * 1050,
    )
    return BudgetOrderApproved(
        school_id=school_id,
        order_id=uuid.uuid4(),
        school_number=10289,
        reference=REFERENCE,
        collective_students=10,
        individual_students=0,
        lines=[line],
        total_cents=line.total_cents,
        collective_budget_cents=10 * 2100,
        individual_budget_cents=0,
        approved_at=clocks.now(),
    )


async def issue(db: Database, school_id: uuid.UUID = SCHOOL_A) -> Any:
    event = approved(school_id)
    assert await budget_consumer(clock=ISSUED_AT).handle(event.envelope(), db)
    async with db.read() as session:
        query = select(invoices).where(invoices.c.order_id == event.order_id)
        return (await session.execute(query)).one()


async def call(db: Database, op: Operation[Any, Any], payload: dict[str, Any], actor: Actor) -> Any:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings())


def pay(invoice: Any) -> dict[str, Any]:
    return {
        "invoice_id": str(invoice.id),
        "amount_cents": invoice.total_cents,
        "paid_on": clocks.today().isoformat(),
        "payment_reference": "BANK-1",
    }


async def test_issue_and_payment_are_recorded(db: Database) -> None:
    invoice = await issue(db)
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    assert (await call(db, Ops.RECORD_PAYMENT, pay(invoice), admin))["ok"]
    assert (await call(db, Ops.RECORD_PAYMENT, pay(invoice), admin))["ok"]  # again: no entry

    issued, paid = await entries(db)
    assert (issued.action, issued.actor_role, issued.actor_id) == (
        AuditAction.INVOICE_ISSUED,
        AuditRole.SYSTEM,
        None,
    )
    assert issued.at == ISSUED_AT.now() and issued.subject_id == str(invoice.id)
    assert issued.details == {"number": invoice.number, "total_cents": invoice.total_cents}
    assert (paid.action, paid.actor_role, paid.actor_id) == (
        AuditAction.INVOICE_PAID,
        AuditRole.CJP_ADMIN,
        admin.user_id,
    )
    assert paid.details["amount_cents"] == invoice.total_cents
    assert {issued.school_id, paid.school_id} == {SCHOOL_A}
    assert_no_personal_data([issued, paid], REFERENCE, "BANK-1")


async def test_the_invoice_and_its_entry_commit_together(db: Database) -> None:
    await break_audit_log(db)
    with pytest.raises(Exception):  # noqa: B017 - whatever the database says about the table
        await issue(db)
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(invoices))).scalar() == 0


async def test_the_payment_and_its_entry_commit_together(db: Database) -> None:
    invoice = await issue(db)
    await break_audit_log(db)
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    reply = await call(db, Ops.RECORD_PAYMENT, pay(invoice), admin)
    assert reply["error"]["code"] == "internal"
    async with db.read() as session:
        status = (
            await session.execute(select(invoices.c.status).where(invoices.c.id == invoice.id))
        ).scalar()
    assert status == "open"


async def test_a_school_lists_only_its_own_entries(db: Database) -> None:
    mine = await issue(db, SCHOOL_A)
    await issue(db, SCHOOL_B)
    holder = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL_A)
    reply = await call(db, Ops.AUDIT_LIST, {"school_id": str(SCHOOL_A)}, holder)
    assert [e["subject_id"] for e in reply["result"]["items"]] == [str(mine.id)]
    refused = await call(db, Ops.AUDIT_LIST, {"school_id": str(SCHOOL_B)}, holder)
    assert refused["error"]["code"] == "forbidden"
