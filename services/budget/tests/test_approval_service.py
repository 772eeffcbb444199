"""The approval scheduler with several replicas: exactly one approval and one event per order
(R-BUDGET-3), whoever else approves or cancels at the same moment."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from ck_budget.consumers import approve_due, run_scheduler
from ck_budget.ops import router
from ck_budget.settings import BudgetSettings
from ck_budget.tables import orders, outbox
from ck_contracts.budget import Ops
from ck_contracts.rpc import RpcRequest
from ck_runtime.clock import Clock, ManualClock
from ck_runtime.db import Database
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py


async def place_many(world: World, count: int) -> list[str]:
    ids = []
    for i in range(count):
        order = await world.ok(
            Ops.ORDER_PLACE,
            {"school_id": world.school, "collective_students": i + 1, "individual_students": 0},
        )
        ids.append(order["order_id"])
    return ids


async def approval_events(db: Database) -> Counter[str]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(outbox.c.body).where(outbox.c.routing_key == "budget.order.approved")
            )
        ).all()
    return Counter(r.body["order_id"] for r in rows)


async def drain(db: Database, settings: BudgetSettings, clock: Clock) -> int:
    total = 0
    while approved := await approve_due(db, settings, clock):
        total += approved
    return total


async def test_two_schedulers_approve_each_order_once(world: World) -> None:
    """Two replicas (two engines, two connection pools) on PostgreSQL; on SQLite the same
    passes queue on the write lock."""
    ids = await place_many(world, 60)
    world.clock.set(world.period_ends)
    settings = world.settings.model_copy(update={"approval_batch": 7})
    other = Database(world.db.url)
    try:
        counts = await asyncio.gather(
            drain(world.db, settings, world.clock), drain(other, settings, world.clock)
        )
    finally:
        await other.dispose()
    assert sum(counts) == 60, counts
    events = await approval_events(world.db)
    assert set(events) == set(ids) and set(events.values()) == {1}


async def test_schedulers_and_an_admin_race_for_one_order(world: World) -> None:
    """Per order: two schedulers and an admin approval at the same moment -> one winner."""
    admin, rounds = world.admin(), 15
    for _ in range(rounds):
        (order_id,) = await place_many(world, 1)
        world.clock.set(world.period_ends)  # due now; an admin may still approve too
        other = Database(world.db.url)
        try:
            request = RpcRequest(
                op=Ops.ORDER_APPROVE.name,
                actor=admin,
                payload={"school_id": str(world.school), "order_id": order_id},
            )
            results = await asyncio.gather(
                approve_due(world.db, world.settings, world.clock),
                approve_due(other, world.settings, world.clock),
                router.dispatch(request, world.db, world.settings, world.clock),
            )
        finally:
            await other.dispose()
        admin_won = results[2]["ok"]
        assert results[0] + results[1] + int(admin_won) == 1, results
        if not admin_won:
            assert results[2]["error"]["reason"] == "budget_order_already_approved"
        world.clock.set(world.start)
    events = await approval_events(world.db)
    assert len(events) == rounds and set(events.values()) == {1}


async def test_the_background_job_approves_and_stops(world: World) -> None:
    (order_id,) = await place_many(world, 1)
    clock: ManualClock = world.clock
    stop = asyncio.Event()
    job = asyncio.create_task(run_scheduler(world.db, world.settings, world.clock, stop))
    try:
        await asyncio.sleep(0.2)
        assert await approval_events(world.db) == Counter()
        clock.advance(timedelta(days=30))
        for _ in range(100):
            if await approval_events(world.db):
                break
            await asyncio.sleep(0.05)
        assert await approval_events(world.db) == Counter({order_id: 1})
    finally:
        stop.set()
        await asyncio.wait_for(job, 5)
    async with world.db.read() as session:
        open_orders = (
            await session.execute(
                select(func.count()).where(orders.c.status == "in_bezwaartermijn")
            )
        ).scalar_one()
    assert open_orders == 0
    assert isinstance(uuid.UUID(order_id), uuid.UUID)
