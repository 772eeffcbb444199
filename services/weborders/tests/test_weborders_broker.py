"""The weborders service as it runs (ServiceRuntime) through the real broker: a provider's key
is issued over RPC, a weborder created twice with one Idempotency-Key, approved by the budget
holder; the approval event is published for the budget, the budget's answer (delivered twice)
settles it and WeborderSettled goes out; a card payment and a removed student reach the dossier.
The student is the school's because the roster's upload announced them (RosterPeopleAdded)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.budget import BudgetDebited, CardPaymentMade
from ck_contracts.messaging import EVENTS_EXCHANGE
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind, RosterPeopleAdded
from ck_contracts.weborders import Ops
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, next_event, publish_event
from ck_weborders.app import build
from ck_weborders.settings import get_settings
from ck_weborders.tables import known_schools
from sqlalchemy import select

SCHOOL = uuid.uuid4()


async def test_weborder_saga_through_the_broker(private_amqp_url: str, sqlite_url: str) -> None:
    settings = get_settings(
        amqp_url=private_amqp_url, database_url=sqlite_url, api_key_pepper="broker-test"
    )
    runtime = ServiceRuntime(build(settings))
    await runtime.start()
    client = RpcClient(private_amqp_url, timeout=20)
    await client.start()
    connection = await aio_pika.connect(private_amqp_url)
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    holder = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)

    async def call(
        op: Operation[Any, Any], payload: dict[str, Any], actor: Actor | None = None
    ) -> Any:
        reply = await client.call("weborders", op.name, payload, actor=actor)
        assert reply.ok, reply
        return reply.result

    try:
        channel = await connection.channel()
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(EVENTS_EXCHANGE, routing_key="weborders.#")
        await publish_event(
            private_amqp_url, SchoolRegistered(school_id=SCHOOL, school_number=10289)
        )

        async def known() -> bool:
            async with runtime.db.read() as session:
                return (await session.execute(select(known_schools))).first() is not None

        assert await eventually(known)
        provider = await call(
            Ops.PROVIDER_REGISTER,
            {
                "provider": {
                    "name": "Theater Utrecht",
                    "kvk_number": "12345678",
                    "contact_name": "Contact",
                    "contact_email": "info@theater.example",
                }
            },
            admin,
        )
        key = (await call(Ops.KEY_ISSUE, {"provider_id": provider["provider_id"]}, admin))["secret"]
        student = uuid.uuid4()
        ref = {"school_id": str(SCHOOL), "person_id": str(student)}

        async def dossier_answer() -> str:
            reply = await client.call("weborders", Ops.DOSSIER_GET.name, ref, actor=holder)
            return "ok" if reply.ok else str(reply.error.code if reply.error else "")

        assert await dossier_answer() == "not_found"  # not (yet) on the school's roster
        await publish_event(
            private_amqp_url,
            RosterPeopleAdded(
                school_id=SCHOOL,
                upload_id=uuid.uuid4(),
                kind=RosterKind.STUDENTS,
                person_ids=[uuid.uuid4(), student],
            ),
        )

        async def on_roster() -> bool:
            return await dossier_answer() == "ok"

        assert await eventually(on_roster)
        body = {
            "api_key": key,
            "idempotency_key": "run-1",
            "weborder": {
                "school_number": 10289,
                "activity": "Hamlet",
                "activity_date": "2026-12-15",
                "participants": 1,
                "amount_cents": 1250,
                "participant_ids": [str(student)],
            },
        }
        first, second = await asyncio.gather(
            call(Ops.WEBORDER_CREATE, body), call(Ops.WEBORDER_CREATE, body)
        )
        assert first["weborder_id"] == second["weborder_id"]
        approving = await call(
            Ops.WEBORDER_DECIDE,
            {"school_id": str(SCHOOL), "weborder_id": first["weborder_id"], "approve": True},
            holder,
        )
        assert approving["status"] == "in_behandeling"
        approved = await next_event(watch)
        assert approved["type"] == "weborders.weborder.approved"
        assert approved["weborder_id"] == first["weborder_id"]
        assert approved["school_id"] == str(SCHOOL) and approved["amount_cents"] == 1250

        debited = BudgetDebited(
            school_id=SCHOOL,
            reference_id=uuid.UUID(first["weborder_id"]),
            kind="weborder",
            amount_cents=1250,
            balance_cents=0,
        )
        await publish_event(private_amqp_url, debited)
        await publish_event(private_amqp_url, debited)  # delivered twice: settled once
        settled = await next_event(watch)
        assert settled["type"] == "weborders.weborder.settled"
        assert settled["participant_ids"] == [str(student)]
        got = await call(
            Ops.WEBORDER_GET_OWN, {"api_key": key, "weborder_id": first["weborder_id"]}
        )
        assert got["status"] == "goedgekeurd"
        await publish_event(
            private_amqp_url,
            CardPaymentMade(
                school_id=SCHOOL,
                payment_id=uuid.uuid4(),
                person_id=student,
                provider_id=uuid.UUID(provider["provider_id"]),
                amount_cents=500,
                description="Filmhuis",
                paid_at=datetime(2026, 12, 20, tzinfo=UTC),
            ),
        )

        async def entries(count: int) -> bool:
            return len((await call(Ops.DOSSIER_GET, ref, holder))["entries"]) == count

        assert await eventually(lambda: entries(2))
        await publish_event(
            private_amqp_url,
            PersonRemoved(school_id=SCHOOL, person_id=student, kind=RosterKind.STUDENTS),
        )

        async def gone() -> bool:
            return await dossier_answer() == "not_found"

        assert await eventually(gone)  # off the roster, and the dossier with them
        assert await watch.get(no_ack=True, fail=False) is None  # nothing more was published
    finally:
        await connection.close()
        await client.stop()
        await runtime.stop()
