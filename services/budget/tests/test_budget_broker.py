"""The budget service as it runs (ServiceRuntime) through the real broker: an order is placed
over RPC, approved by the scheduler when the clock passes its period, the approval event is
published; a paid invoice fills the ledger; a student gets budget and returns it on removal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aio_pika
from ck_budget.app import build
from ck_budget.settings import get_settings
from ck_budget.tables import known_schools
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.budget import Allocate, Ops
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated
from ck_contracts.messaging import EVENTS_EXCHANGE
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_runtime.clock import ManualClock
from ck_runtime.rpc_client import RpcClient, RpcFailed
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, next_event, publish_event
from sqlalchemy import select

SCHOOL = uuid.uuid4()


async def test_order_approval_payment_and_allocation_through_the_broker(
    private_amqp_url: str, sqlite_url: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    settings = get_settings(
        amqp_url=private_amqp_url,
        database_url=sqlite_url,
        spending_ends_on=date(2027, 7, 31),
        approval_poll_seconds=0.05,
    )
    runtime = ServiceRuntime(build(settings, clock=clock))
    await runtime.start()
    client = RpcClient(private_amqp_url, timeout=20)
    await client.start()
    connection = await aio_pika.connect(private_amqp_url)
    holder = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)

    async def call(op: Operation[Any, Any], payload: dict[str, Any]) -> Any:
        full = {"school_id": str(SCHOOL), **payload}
        reply = await client.call(op.service, op.name, full, actor=holder)
        assert reply.ok, reply
        return reply.result

    async def ledger() -> dict[str, Any]:
        return dict(await call(Ops.LEDGER, {}))

    try:
        channel = await connection.channel()
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(EVENTS_EXCHANGE, routing_key="budget.#")
        await publish_event(
            private_amqp_url, SchoolRegistered(school_id=SCHOOL, school_number=10289)
        )

        async def known() -> bool:
            async with runtime.db.read() as session:
                return (await session.execute(select(known_schools))).first() is not None

        assert await eventually(known)
        order = await call(Ops.ORDER_PLACE, {"collective_students": 10, "individual_students": 10})
        await asyncio.sleep(0.3)  # the scheduler runs, but the period has not ended
        assert await watch.get(no_ack=True, fail=False) is None

        clock.advance(timedelta(days=8))
        approved = await next_event(watch)
        assert approved["type"] == "budget.order.approved"
        assert approved["order_id"] == order["order_id"]
        assert approved["total_cents"] == 13000 and approved["school_number"] == 10289
        listed = await call(Ops.ORDER_LIST, {})
        assert listed["items"][0]["status"] == "goedgekeurd"

        paid = InvoicePaid(
            school_id=SCHOOL,
            invoice_id=uuid.uuid4(),
            order_id=uuid.UUID(order["order_id"]),
            number="26000001",
            collective_budget_cents=21000,
            individual_budget_cents=10500,
            paid_on=date(2026, 12, 10),
        )
        await publish_event(private_amqp_url, paid)
        await publish_event(private_amqp_url, paid)  # delivered twice: released once

        async def credited() -> bool:
            return (await ledger())["balance_cents"] == 21000

        assert await eventually(credited)
        student = uuid.uuid4()
        await publish_event(
            private_amqp_url,
            MembershipActivated(
                school_id=SCHOOL, person_id=student, kind=RosterKind.STUDENTS, card_number="9"
            ),
        )

        async def allocated() -> bool:
            command = Allocate(school_id=SCHOOL, person_ids=[student], amount_cents_each=1050)
            try:
                await client.send(Ops.ALLOCATE, command, actor=holder)
            except RpcFailed:
                return False
            return True

        assert await eventually(allocated)
        assert (await ledger())["assignable_individual_cents"] == 10500 - 1050
        await publish_event(
            private_amqp_url,
            PersonRemoved(school_id=SCHOOL, person_id=student, kind=RosterKind.STUDENTS),
        )

        async def returned() -> bool:
            return (await ledger())["assignable_individual_cents"] == 10500

        assert await eventually(returned)
        result = await ledger()
        assert result["balance_cents"] == 21000 and len(result["entries"]) == 1
    finally:
        await connection.close()
        await client.stop()
        await runtime.stop()
