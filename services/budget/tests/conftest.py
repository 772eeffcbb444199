"""Fixtures of the budget tests: a migrated database, settings, a clock that tests move, and
helpers that call operations and feed events the way the runtime does.

Test modules cannot import this file (--import-mode=importlib): they get everything through
the `world` fixture (`World = Any` there)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from ck_budget.consumers import members_consumer, payments_consumer, spending_consumer
from ck_budget.ops import router
from ck_budget.settings import BudgetSettings, get_settings
from ck_budget.tables import outbox
from ck_contracts.accounts import SchoolRegistered, SchoolSettingsChanged
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated
from ck_contracts.messaging import Event
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import RosterKind
from ck_contracts.rpc import RpcRequest
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.migrations import upgrade_async
from ck_testkit.clocks import installed
from sqlalchemy import select

# Monday 30 November 2026, 10:00 in Amsterdam: the period of an order placed now ends on
# Tuesday 8 December 00:00 Amsterdam (23:00 UTC on the 7th).
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PERIOD_ENDS = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
_SCHOOL_NUMBERS = itertools.count(30_000)


@dataclass
class World:
    db: Database
    clock: ManualClock
    settings: BudgetSettings
    school: uuid.UUID
    other_school: uuid.UUID
    start: datetime = START
    period_ends: datetime = PERIOD_ENDS

    def holder(self, school: uuid.UUID | None = None) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school or self.school)

    def docent(self) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.DOCENT_PLUS, school_id=self.school)

    def admin(self) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)

    def provider(self, provider_id: uuid.UUID | None = None) -> Actor:
        """A cultural provider charging cards (the gateway sets provider_id from the API key)."""
        return Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=provider_id)

    @staticmethod
    def card(person_id: uuid.UUID) -> str:
        """The CJP card number `activate` gives a student."""
        return f"CJP{person_id.int % 10**13:013d}"

    async def fresh_school(self) -> uuid.UUID:
        """A new school the service knows (property tests use one per example); numbers from
        a counter, so two never collide on known_schools' unique number."""
        school = uuid.uuid4()
        number = next(_SCHOOL_NUMBERS)
        registered = SchoolRegistered(school_id=school, school_number=number)
        await known_schools_consumer("budget").handle(registered.envelope(), self.db)
        return school

    async def spend(self, event: Event, db: Database | None = None) -> bool:
        """Feed a weborder / Schooltoer event to budget.events.spending, as the runtime does."""
        return await spending_consumer(self.settings, self.clock).handle(
            event.envelope(), db or self.db
        )

    async def published(self, routing_key: str) -> list[dict[str, Any]]:
        """The bodies of the events in the outbox with this routing key, oldest first."""
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(outbox.c.body)
                    .where(outbox.c.routing_key == routing_key)
                    .order_by(outbox.c.seq)
                )
            ).all()
        return [dict(row.body) for row in rows]

    async def call(
        self, op: Operation[Any, Any], payload: dict[str, Any], actor: Actor | None
    ) -> dict[str, Any]:
        request = RpcRequest(op=op.name, actor=actor, payload=_jsonable(payload))
        return await router.dispatch(request, self.db, self.settings, self.clock)

    async def ok(
        self, op: Operation[Any, Any], payload: dict[str, Any], actor: Actor | None = None
    ) -> Any:
        reply = await self.call(op, payload, actor or self.holder())
        assert reply["ok"], reply
        return reply["result"]

    async def error(
        self, op: Operation[Any, Any], payload: dict[str, Any], actor: Actor | None = None
    ) -> dict[str, Any]:
        reply = await self.call(op, payload, actor or self.holder())
        assert not reply["ok"], reply
        return dict(reply["error"])

    async def paid(
        self,
        collective: int,
        individual: int,
        number: str = "22700986",
        invoice_id: uuid.UUID | None = None,
        school: uuid.UUID | None = None,
    ) -> bool:
        event = InvoicePaid(
            school_id=school or self.school,
            invoice_id=invoice_id or uuid.uuid4(),
            order_id=uuid.uuid4(),
            number=number,
            collective_budget_cents=collective,
            individual_budget_cents=individual,
            paid_on=date(2026, 12, 10),
        )
        return await payments_consumer(self.clock).handle(event.envelope(), self.db)

    async def activate(
        self, *people: uuid.UUID, school: uuid.UUID | None = None, card: str | None = None
    ) -> None:
        consumer = members_consumer(self.clock)
        for pid in people:
            event = MembershipActivated(
                school_id=school or self.school,
                person_id=pid,
                kind=RosterKind.STUDENTS,
                card_number=card or self.card(pid),
            )
            await consumer.handle(event.envelope(), self.db)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@pytest.fixture
async def world(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("budget", database_url)
    db = Database(database_url)
    clock = ManualClock(START)
    settings = get_settings(spending_ends_on=date(2027, 7, 31), approval_poll_seconds=0.05)
    school, other = uuid.uuid4(), uuid.uuid4()
    schools = known_schools_consumer("budget")
    for sid, number in ((school, 10289), (other, 10290)):
        await schools.handle(SchoolRegistered(school_id=sid, school_number=number).envelope(), db)
        await schools.handle(
            SchoolSettingsChanged(
                school_id=sid, school_number=number, duo_student_count=1001
            ).envelope(),
            db,
        )
    with installed(clock):
        yield World(db, clock, settings, school, other)
    await db.dispose()
