"""Fixtures of the weborders tests: a migrated database on SQLite and PostgreSQL, two known
schools, two providers with a key each, and helpers that call operations and feed events the
way the runtime does.

Test modules cannot import this file (--import-mode=importlib): they get everything through
the `world` fixture (`World = Any` there)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.budget import BudgetCredited, BudgetDebited, BudgetDebitRefused, CardPaymentMade
from ck_contracts.membership import MembershipActivated
from ck_contracts.messaging import Event
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import (
    PersonAdded,
    PersonRemoved,
    RosterKind,
    RosterPeopleAdded,
    TeacherRemoved,
)
from ck_contracts.rpc import RpcRequest
from ck_contracts.weborders import Ops
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.migrations import upgrade_async
from ck_weborders.consumers import budget_consumer, members_consumer, roster_consumer
from ck_weborders.ops import router
from ck_weborders.settings import WebordersDeps, get_settings

PEPPER = "test-pepper-not-for-production"
# The tests' "now": Schooltoer trips in 2027 are in the future whatever the calendar says.
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class TickingClock(ManualClock):
    """Moves a millisecond each time it is read, so rows written one after the other get
    times in that order (lists sort newest first), as on a real clock."""

    def now(self) -> datetime:
        moment = super().now()
        self.advance(timedelta(milliseconds=1))
        return moment


@dataclass
class World:
    db: Database
    deps: WebordersDeps
    school: uuid.UUID
    other_school: uuid.UUID
    number: int = 10289
    other_number: int = 10290
    keys: dict[str, str] = field(default_factory=dict)  # provider name -> API key
    providers: dict[str, uuid.UUID] = field(default_factory=dict)
    clock: ManualClock = field(default_factory=lambda: TickingClock(START))

    def holder(self, school: uuid.UUID | None = None) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school or self.school)

    def docent(self, school: uuid.UUID | None = None) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.DOCENT_PLUS, school_id=school or self.school)

    def admin(self) -> Actor:
        return Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)

    async def call(
        self, op: Operation[Any, Any] | str, payload: dict[str, Any], actor: Actor | None
    ) -> dict[str, Any]:
        name = op.name if isinstance(op, Operation) else op
        request = RpcRequest(op=name, actor=actor, payload=jsonable(payload))
        return await router.dispatch(request, self.db, self.deps, self.clock)

    async def ok(
        self, op: Operation[Any, Any] | str, payload: dict[str, Any], actor: Actor | None = None
    ) -> Any:
        reply = await self.call(op, payload, actor)
        assert reply["ok"], reply
        return reply["result"]

    async def error(
        self, op: Operation[Any, Any] | str, payload: dict[str, Any], actor: Actor | None = None
    ) -> dict[str, Any]:
        reply = await self.call(op, payload, actor)
        assert not reply["ok"], reply
        return dict(reply["error"])

    def weborder(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "school_number": self.number,
            "activity": "Voorstelling Hamlet",
            "activity_date": "2026-12-15",
            "participants": 25,
            "amount_cents": 25 * 1250,
            "provider_reference": "HAM-001",
        }
        body.update(changes)
        return body

    async def create(self, provider: str = "A", key: str = "", **changes: Any) -> dict[str, Any]:
        payload = {"api_key": self.keys[provider], "weborder": self.weborder(**changes)}
        if key:
            payload["idempotency_key"] = key
        return dict(await self.ok(Ops.WEBORDER_CREATE, payload))

    async def approve(self, weborder_id: str, school: uuid.UUID | None = None) -> dict[str, Any]:
        school = school or self.school
        return dict(
            await self.ok(
                Ops.WEBORDER_DECIDE,
                {"school_id": school, "weborder_id": weborder_id, "approve": True},
                self.holder(school),
            )
        )

    async def feed(self, event: Event) -> bool:
        roster_events = (PersonRemoved, PersonAdded, RosterPeopleAdded, TeacherRemoved)
        if isinstance(event, MembershipActivated):  # issue 13: card number -> student
            members = members_consumer(self.clock, lambda: self.deps.card_key)
            return await members.handle(event.envelope(), self.db)
        consumer = (
            roster_consumer(self.clock)
            if isinstance(event, roster_events)
            else budget_consumer(self.clock)
        )
        return await consumer.handle(event.envelope(), self.db)

    async def enrol(
        self,
        *people: uuid.UUID,
        school: uuid.UUID | None = None,
        kind: RosterKind = RosterKind.STUDENTS,
    ) -> None:
        """The roster's upload announces its new people (RosterPeopleAdded)."""
        await self.feed(
            RosterPeopleAdded(
                school_id=school or self.school,
                upload_id=uuid.uuid4(),
                kind=kind,
                person_ids=list(people),
            )
        )

    async def student(self, school: uuid.UUID | None = None) -> uuid.UUID:
        """A new student on the school's roster."""
        person = uuid.uuid4()
        await self.enrol(person, school=school)
        return person

    async def debited(self, reference: str, kind: str = "weborder", amount: int = 1) -> Event:
        event = BudgetDebited(
            school_id=self.school,
            reference_id=uuid.UUID(reference),
            kind=kind,
            amount_cents=amount,
            balance_cents=100_000,
        )
        await self.feed(event)
        return event

    async def refused(self, reference: str, kind: str = "weborder") -> None:
        await self.feed(
            BudgetDebitRefused(
                school_id=self.school,
                reference_id=uuid.UUID(reference),
                kind=kind,
                reason="Het saldo is te laag: er staat nog € 10,00 op de rekening.",
            )
        )

    async def credited(self, reference: str, amount: int) -> None:
        await self.feed(
            BudgetCredited(
                school_id=self.school,
                reference_id=uuid.UUID(reference),
                kind="weborder",
                amount_cents=amount,
                balance_cents=amount,
            )
        )

    async def card_payment(self, person: uuid.UUID, provider: str = "A", **kw: Any) -> None:
        values: dict[str, Any] = {
            "school_id": self.school,
            "payment_id": uuid.uuid4(),
            "person_id": person,
            "provider_id": self.providers[provider],
            "amount_cents": 750,
            "description": "Bioscoopkaartje",
            "paid_at": "2026-12-01T10:00:00+00:00",
        }
        values.update(kw)
        await self.feed(CardPaymentMade(**values))

    async def remove(self, person: uuid.UUID) -> None:
        await self.feed(
            PersonRemoved(school_id=self.school, person_id=person, kind=RosterKind.STUDENTS)
        )


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


async def make_world(database_url: str) -> World:
    await upgrade_async("weborders", database_url)
    db = Database(database_url)
    deps = WebordersDeps(get_settings(api_key_pepper=PEPPER, offer_page_size=3))
    world = World(db, deps, uuid.uuid4(), uuid.uuid4())
    schools = known_schools_consumer("weborders")
    for sid, number in ((world.school, world.number), (world.other_school, world.other_number)):
        event = SchoolRegistered(school_id=sid, school_number=number, name=f"School {number}")
        await schools.handle(event.envelope(), db)
    admin = world.admin()
    for name, kvk in (("A", "12345678"), ("B", "87654321")):
        provider = await world.ok(
            Ops.PROVIDER_REGISTER,
            {
                "provider": {
                    "name": f"Theater {name}",
                    "kvk_number": kvk,
                    "contact_name": "Contact",
                    "contact_email": f"info@{name.lower()}.example",
                }
            },
            admin,
        )
        world.providers[name] = uuid.UUID(provider["provider_id"])
        issued = await world.ok(Ops.KEY_ISSUE, {"provider_id": provider["provider_id"]}, admin)
        world.keys[name] = issued["secret"]
    return world


@pytest.fixture
async def world(database_url: str):  # type: ignore[no-untyped-def]
    made = await make_world(database_url)
    yield made
    await made.db.dispose()
