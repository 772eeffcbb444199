"""Payouts to providers (issue 13, capability 4) on SQLite and PostgreSQL: spending lines from
the budget's events, periods closed into statements with gapless numbers, corrections for
cancelled approvals, the operations with their tenant checks, marking paid, the PDF, and the
scheduler with two replicas on a moved clock."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.budget import BudgetCredited, BudgetDebited, CardPaymentMade
from ck_contracts.invoicing import Ops
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import RpcRequest
from ck_invoicing import payout_store, payouts
from ck_invoicing.consumers import close_due_periods, spending_consumer
from ck_invoicing.domain import TIMEZONE
from ck_invoicing.ops import router
from ck_invoicing.settings import InvoicingSettings, get_settings
from ck_invoicing.tables import outbox, spending_lines, statements
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.migrations import upgrade_async
from ck_testkit.audit import assert_no_personal_data, entries
from sqlalchemy import func, select

SCHOOL_A = uuid.UUID(int=0xA)
SCHOOL_B = uuid.UUID(int=0xB)
THEATRE = uuid.UUID(int=0x1001)
MUSEUM = uuid.UUID(int=0x1002)
TRANSPORT = uuid.UUID(int=0x1003)
MON, THU = 0, 3


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    """A moment in March 2026, Amsterdam time (2 March 2026 is a Monday)."""
    return datetime(2026, month, day, hour, tzinfo=TIMEZONE).astimezone(UTC)


def settings(**overrides: Any) -> InvoicingSettings:
    return get_settings(cjp_name="Stichting CJP", payout_close_delay_minutes=60, **overrides)


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("invoicing", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def debited(
    provider: uuid.UUID | None,
    cents: int,
    when: datetime,
    *,
    school: uuid.UUID = SCHOOL_A,
    kind: str = "weborder",
    ref: uuid.UUID | None = None,
) -> BudgetDebited:
    return BudgetDebited(
        school_id=school,
        occurred_at=when,
        reference_id=ref or uuid.uuid4(),
        kind=kind,
        amount_cents=cents,
        balance_cents=1_000_000,
        provider_id=provider,
        description="Weborder Stadsschouwburg: De Storm (14-03-2026)",
    )


def credited(debit: BudgetDebited, when: datetime) -> BudgetCredited:
    return BudgetCredited(
        school_id=debit.school_id,
        occurred_at=when,
        reference_id=debit.reference_id,
        kind=debit.kind,
        amount_cents=debit.amount_cents,
        balance_cents=1_000_000,
    )


def card(provider: uuid.UUID, cents: int, when: datetime) -> CardPaymentMade:
    return CardPaymentMade(
        school_id=SCHOOL_B,
        payment_id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        provider_id=provider,
        amount_cents=cents,
        description="Bioscoopkaartje",
        paid_at=when,
    )


async def feed(db: Database, *events: Any, config: InvoicingSettings | None = None) -> None:
    consumer = spending_consumer(config or settings())
    for event in events:
        assert await consumer.handle(event.envelope(), db)


async def close(db: Database, now: datetime, config: InvoicingSettings | None = None) -> int:
    return await close_due_periods(db, config or settings(), ManualClock(now))


async def all_statements(db: Database) -> list[Any]:
    async with db.read() as session:
        rows = await session.execute(select(statements).order_by(statements.c.number))
        return list(rows.all())


async def lines_of(db: Database, statement_id: uuid.UUID) -> list[Any]:
    async with db.read() as session:
        rows = await session.execute(
            select(spending_lines).where(spending_lines.c.statement_id == statement_id)
        )
        return list(rows.all())


def admin() -> Actor:
    return Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)


def provider(provider_id: uuid.UUID) -> Actor:
    return Actor(user_id=provider_id, role=Role.PROVIDER, provider_id=provider_id)


async def call(db: Database, op: str, payload: dict[str, Any], actor: Actor, now: datetime):  # type: ignore[no-untyped-def]
    request = RpcRequest(
        op=op,
        actor=actor,
        payload={k: str(v) if isinstance(v, uuid.UUID | date) else v for k, v in payload.items()},
    )
    return await router.dispatch(request, db, settings(), ManualClock(now))


# --- periods (pure) ------------------------------------------------------------------------------
def test_periods_end_on_monday_and_thursday_at_midnight_in_amsterdam() -> None:
    days = (MON, THU)
    assert payouts.last_period_end(at(4), days) == datetime(2026, 3, 2, tzinfo=TIMEZONE)
    assert payouts.last_period_end(at(5), days) == datetime(2026, 3, 5, tzinfo=TIMEZONE)
    assert payouts.last_period_end(at(5, 0), days) == datetime(2026, 3, 5, tzinfo=TIMEZONE)
    # Summer time begins on Sunday 29 March: the boundary is still local midnight.
    end = payouts.last_period_end(at(31), days)
    assert end == datetime(2026, 3, 30, tzinfo=TIMEZONE)
    assert end.utcoffset() == timedelta(hours=2)
    assert payouts.previous_period_end(end, days) == datetime(2026, 3, 26, tzinfo=TIMEZONE)
    assert payouts.statement_number(2026, 1) == "U26000001"
    # A period ending 1 January at 00:00 belongs to the old year.
    assert payouts.statement_year(datetime(2026, 1, 1, tzinfo=TIMEZONE)) == 2025


def test_a_service_that_was_down_catches_up_period_by_period() -> None:
    days = (MON, THU)
    last = datetime(2026, 3, 2, tzinfo=TIMEZONE)
    due = payouts.periods_to_close(at(13), last, days, timedelta(hours=1))
    assert due == [
        datetime(2026, 3, 5, tzinfo=TIMEZONE),
        datetime(2026, 3, 9, tzinfo=TIMEZONE),
        datetime(2026, 3, 12, tzinfo=TIMEZONE),
    ]
    # Within the delay after midnight the period is not due yet.
    assert payouts.periods_to_close(at(12, 0), last, days, timedelta(hours=1))[-1] == datetime(
        2026, 3, 9, tzinfo=TIMEZONE
    )
    assert payouts.periods_to_close(at(13), None, days, timedelta(hours=1)) == [
        datetime(2026, 3, 12, tzinfo=TIMEZONE)
    ]


# --- statements ----------------------------------------------------------------------------------
async def test_a_period_becomes_one_statement_per_provider(db: Database) -> None:
    named = SchoolRegistered(school_id=SCHOOL_A, school_number=10289, name="Nova College")
    assert await known_schools_consumer("invoicing").handle(named.envelope(), db)
    await feed(
        db,
        debited(THEATRE, 42_000, at(2, 10)),
        debited(THEATRE, 1_000, at(4, 23)),
        debited(MUSEUM, 5_000, at(3)),
        card(MUSEUM, 1_250, at(4)),
        debited(THEATRE, 9_999, at(5, 9)),  # after Thursday 00:00: the next period
    )
    assert await close(db, at(5, 2)) == 2
    made = await all_statements(db)
    assert [s.number for s in made] == ["U26000001", "U26000002"]
    by_provider = {s.provider_id: s for s in made}
    assert by_provider[THEATRE].total_cents == 43_000 and by_provider[THEATRE].line_count == 2
    assert by_provider[MUSEUM].total_cents == 6_250 and by_provider[MUSEUM].line_count == 2
    for s in made:
        assert s.period_end == datetime(2026, 3, 5, tzinfo=TIMEZONE)
        assert s.period_start == datetime(2026, 3, 2, tzinfo=TIMEZONE)
        assert sum(line.amount_cents for line in await lines_of(db, s.id)) == s.total_cents
    # Closing the same period again makes nothing; the next period gets the next number.
    assert await close(db, at(5, 3)) == 0
    assert await close(db, at(9, 2)) == 1
    assert [s.number for s in await all_statements(db)][-1] == "U26000003"
    async with db.read() as session:
        issued = (
            await session.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.routing_key == "invoicing.statement.issued")
            )
        ).scalar_one()
    assert issued == 3
    # The lines as the operations show them: the school's name, the kind, the description.
    statement = by_provider[THEATRE]
    reply = await call(db, Ops.STATEMENT_GET, {"statement_id": statement.id}, admin(), at(6))
    assert reply["ok"], reply
    first = reply["result"]["lines"][0]
    assert first["school_name"] == "Nova College" and first["kind"] == "weborder"
    assert first["amount_cents"] == 42_000 and first["correction"] is False


async def test_a_repeated_event_adds_no_line(db: Database) -> None:
    debit = debited(THEATRE, 42_000, at(3))
    payment = card(THEATRE, 500, at(3))
    await feed(db, debit, payment)
    await feed(db, debit.model_copy(update={"id": uuid.uuid4()}))  # republished: another id
    await feed(db, payment.model_copy(update={"id": uuid.uuid4()}))
    consumer = spending_consumer(settings())
    assert not await consumer.handle(debit.envelope(), db)  # same id: the inbox drops it
    await close(db, at(5, 2))
    (statement,) = await all_statements(db)
    assert statement.total_cents == 42_500 and statement.line_count == 2


async def test_a_cancellation_after_the_statement_is_a_correction_on_the_next(
    db: Database,
) -> None:
    debit = debited(THEATRE, 42_000, at(3))
    await feed(db, debit)
    await close(db, at(5, 2))
    (first,) = await all_statements(db)
    await feed(db, credited(debit, at(6)), debited(THEATRE, 50_000, at(7)))
    await close(db, at(9, 2))
    second = (await all_statements(db))[-1]
    assert second.number == "U26000002" and second.total_cents == 8_000
    reply = await call(db, Ops.STATEMENT_GET, {"statement_id": second.id}, admin(), at(9, 3))
    correction = next(line for line in reply["result"]["lines"] if line["correction"])
    assert correction["amount_cents"] == -42_000
    assert correction["corrects_number"] == first.number
    assert correction["reference_id"] == str(debit.reference_id)


async def test_a_cancellation_within_the_period_nets_out_on_one_statement(db: Database) -> None:
    debit = debited(THEATRE, 42_000, at(3))
    await feed(db, debit, credited(debit, at(4)), debited(THEATRE, 1_000, at(4)))
    await close(db, at(5, 2))
    (statement,) = await all_statements(db)
    assert statement.total_cents == 1_000 and statement.line_count == 3


async def test_only_corrections_wait_for_spending_that_covers_them(db: Database) -> None:
    debit = debited(THEATRE, 42_000, at(3))
    await feed(db, debit)
    await close(db, at(5, 2))
    await feed(db, credited(debit, at(6)))
    await close(db, at(9, 2))  # -420: no statement
    assert len(await all_statements(db)) == 1
    await feed(db, debited(THEATRE, 60_000, at(10)))
    await close(db, at(12, 2))
    last = (await all_statements(db))[-1]
    assert last.number == "U26000002" and last.total_cents == 18_000 and last.line_count == 2


async def test_a_credit_that_arrives_before_its_debit_is_attributed(db: Database) -> None:
    debit = debited(THEATRE, 42_000, at(3))
    await feed(db, credited(debit, at(4)))
    await feed(db, debit)
    await close(db, at(5, 2))
    (statement,) = await all_statements(db)
    assert statement.total_cents == 0 and statement.line_count == 2


async def test_schooltoer_goes_to_the_configured_payee_or_to_nobody(db: Database) -> None:
    without = debited(None, 3_000, at(3), kind="schooltoer")
    await feed(db, without)
    config = settings(schooltoer_payee_id=TRANSPORT)
    with_payee = debited(None, 4_000, at(3), kind="schooltoer")
    await feed(db, with_payee, config=config)
    legacy = debited(None, 5_000, at(3))  # a weborder debit published before provider_id
    await feed(db, legacy)
    await close(db, at(5, 2), config)
    (statement,) = await all_statements(db)
    assert statement.provider_id == TRANSPORT and statement.total_cents == 4_000
    async with db.read() as session:
        pending = dict(await payout_store.pending_total(session))  # type: ignore[arg-type]
    assert pending == {None: 8_000}  # kept, on no statement


async def test_two_replicas_close_each_period_once(db: Database) -> None:
    await feed(db, *(debited(uuid.UUID(int=p), 100 + p, at(3)) for p in range(1, 41)))
    results = await asyncio.gather(*(close(db, at(5, 2)) for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 40]
    made = await all_statements(db)
    assert [s.number for s in made] == [f"U26{n:06d}" for n in range(1, 41)]


# --- operations ----------------------------------------------------------------------------------
async def test_admin_lists_filters_and_marks_paid_once(db: Database) -> None:
    await feed(db, debited(THEATRE, 42_000, at(3)), debited(MUSEUM, 5_000, at(3)))
    await close(db, at(5, 2))
    await feed(db, debited(THEATRE, 1_000, at(6)))
    await close(db, at(9, 2))
    listed = await call(db, Ops.STATEMENT_LIST, {}, admin(), at(10))
    assert listed["ok"] and listed["result"]["total"] == 3
    assert [i["number"] for i in listed["result"]["items"]] == [
        "U26000003",
        "U26000001",
        "U26000002",
    ]
    theatre = await call(db, Ops.STATEMENT_LIST, {"provider_id": THEATRE}, admin(), at(10))
    assert theatre["result"]["total"] == 2
    period = {"period_from": "2026-03-08", "period_to": "2026-03-08"}  # the last day
    assert (await call(db, Ops.STATEMENT_LIST, period, admin(), at(10)))["result"]["total"] == 1
    first = listed["result"]["items"][1]["statement_id"]
    future = {"statement_id": first, "paid_on": "2026-03-11"}
    refused = await call(db, Ops.STATEMENT_MARK_PAID, future, admin(), at(10))
    assert refused["error"]["reason"] == "statement_paid_date_in_future", refused
    command = {"statement_id": first, "paid_on": "2026-03-10", "payment_reference": "BATCH-7"}
    marker = admin()
    paid = await call(db, Ops.STATEMENT_MARK_PAID, command, marker, at(10))
    assert paid["ok"] and paid["result"]["status"] == "betaald", paid
    again = {**command, "paid_on": "2026-03-09"}
    assert (await call(db, Ops.STATEMENT_MARK_PAID, again, admin(), at(10)))["result"][
        "paid_on"
    ] == "2026-03-10"
    async with db.read() as session:
        events = (
            await session.execute(
                select(outbox.c.body).where(outbox.c.routing_key == "invoicing.statement.paid")
            )
        ).all()
    assert len(events) == 1
    # The audit trail (issue 13): one entry for the payment (none for the repeat), by the admin.
    (entry,) = [e for e in await entries(db) if e.action == AuditAction.PROVIDER_STATEMENT_PAID]
    assert (entry.subject_type, entry.subject_id) == ("provider_statement", first)
    assert (entry.actor_id, entry.actor_role) == (marker.user_id, AuditRole.CJP_ADMIN)
    item = listed["result"]["items"][1]
    assert entry.provider_id == uuid.UUID(item["provider_id"]) and entry.school_id is None
    assert entry.details == {
        "number": "U26000001",
        "total_cents": item["total_cents"],
        "paid_on": "2026-03-10",
    }
    assert entry.at == at(10)
    assert_no_personal_data([entry], "BATCH-7")
    unpaid = await call(db, Ops.STATEMENT_LIST, {"paid": False}, admin(), at(10))
    assert unpaid["result"]["total"] == 2
    # A provider or a school may not mark anything paid.
    denied = await call(db, Ops.STATEMENT_MARK_PAID, command, provider(THEATRE), at(10))
    assert denied["error"]["code"] == "forbidden"


async def test_a_provider_sees_only_its_own_statements(db: Database) -> None:
    await feed(db, debited(THEATRE, 42_000, at(3)), debited(MUSEUM, 5_000, at(3)))
    await close(db, at(5, 2))
    own = await call(db, Ops.PROVIDER_STATEMENT_LIST, {}, provider(THEATRE), at(6))
    assert own["ok"] and own["result"]["total"] == 1
    (item,) = own["result"]["items"]
    assert item["provider_id"] == str(THEATRE)
    museum = await call(db, Ops.PROVIDER_STATEMENT_LIST, {}, provider(MUSEUM), at(6))
    theirs = museum["result"]["items"][0]["statement_id"]
    ref = {"statement_id": theirs}
    refused = await call(db, Ops.PROVIDER_STATEMENT_GET, ref, provider(THEATRE), at(6))
    assert refused["error"]["code"] == "not_found", refused
    refused = await call(db, Ops.PROVIDER_STATEMENT_PDF, ref, provider(THEATRE), at(6))
    assert refused["error"]["code"] == "not_found", refused
    assert (await call(db, Ops.PROVIDER_STATEMENT_GET, ref, provider(MUSEUM), at(6)))["ok"]
    # A school's actor has no payouts; a provider has no admin list.
    school = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL_A)
    for op, actor in (
        (Ops.PROVIDER_STATEMENT_LIST, school),
        (Ops.STATEMENT_LIST, provider(MUSEUM)),
    ):
        assert (await call(db, op, {}, actor, at(6)))["error"]["code"] == "forbidden"


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "overzicht.pdf"
    path.write_bytes(content)
    done = subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


async def test_pdf_reads_back(db: Database, tmp_path: Path) -> None:
    named = SchoolRegistered(school_id=SCHOOL_A, school_number=10289, name="Nova College")
    assert await known_schools_consumer("invoicing").handle(named.envelope(), db)
    debit = debited(THEATRE, 42_000, at(3))
    await feed(db, debit)
    await close(db, at(5, 2))
    await feed(db, credited(debit, at(6)), debited(THEATRE, 123_456, at(6)))
    await close(db, at(9, 2))
    second = (await all_statements(db))[-1]
    request = {
        "statement_id": second.id,
        "provider_name": "Stadsschouwburg <Voorbeeld>",
        "provider_kvk": "12345678",
    }
    reply = await call(db, Ops.PROVIDER_STATEMENT_PDF, request, provider(THEATRE), at(9, 3))
    assert reply["ok"], reply
    assert reply["result"]["filename"] == "uitbetalingsoverzicht_U26000002.pdf"
    text = pdf_text(base64.b64decode(reply["result"]["content_b64"]), tmp_path)
    assert "Uitbetalingsoverzicht" in text or "Uitbetalings" in text
    assert "U26000002" in text and "Stadsschouwburg <Voorbeeld>" in text
    assert "05-03-2026" in text and "08-03-2026" in text
    assert "Nova College" in text
    assert "€ 1.234,56" in text and "€ -420,00" in text and "€ 814,56" in text
    assert "Correctie" in text and "U26000001" in text


def test_a_debit_published_before_provider_id_existed_still_decodes() -> None:
    """The contract change is backwards compatible for messages in flight."""
    from ck_contracts.messaging import decode_event

    old = {
        "type": "budget.debit.succeeded",
        "version": 1,
        "id": str(uuid.uuid4()),
        "occurred_at": "2026-03-03T10:00:00Z",
        "school_id": str(SCHOOL_A),
        "reference_id": str(uuid.uuid4()),
        "kind": "weborder",
        "amount_cents": 100,
        "balance_cents": 0,
    }
    event = decode_event(old)
    assert isinstance(event, BudgetDebited)
    assert event.provider_id is None and event.description == ""
