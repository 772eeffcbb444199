"""The approval scheduler: a background job that approves orders whose objection period has
ended (R-BUDGET-3), safe with several replicas.

Each pass takes a batch of due orders in one transaction. On PostgreSQL the batch is selected
FOR UPDATE SKIP LOCKED, so the schedulers of other replicas take other orders (or none) and
never wait on these. Each order is then approved with a conditional UPDATE (status still
in_bezwaartermijn, period ended) and only when that UPDATE changed the row is the
BudgetOrderApproved event written to the outbox, in the same transaction: one approval and one
event per order, whoever else (another scheduler, an admin, a cancellation) acts at the same
moment. On SQLite the transaction holds the database's one write lock from its start.
"""

from __future__ import annotations

import asyncio
import contextlib

from ck_runtime.db import Database
from ck_runtime.logs import get_logger
from ck_runtime.service import Background, ServiceRuntime

from ck_budget import store
from ck_budget.deps import BudgetDeps

log = get_logger(__name__)


async def approve_due(db: Database, deps: BudgetDeps) -> int:
    """One pass: approve up to a batch of due orders. Returns how many this pass approved."""
    now = deps.clock.now()
    approved = 0
    async with db.transaction() as session:
        for order_id in await store.due_orders(session, now, deps.settings.approval_batch):
            if await store.approve(session, order_id, now):
                approved += 1
    if approved:
        log.info("orders.approved", count=approved)
    return approved


async def run_scheduler(db: Database, deps: BudgetDeps, stop: asyncio.Event | None = None) -> None:
    """Until cancelled (or `stop` is set): a pass, then wait the poll interval."""
    pause = deps.settings.approval_poll_seconds
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            approved = await approve_due(db, deps)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database unreachable or busy: try again later
            log.warning("orders.approval_failed", error=type(exc).__name__, retry_in=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 300.0)
            continue
        pause = deps.settings.approval_poll_seconds
        if approved >= deps.settings.approval_batch:
            continue  # more may be due
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


def approval_scheduler(deps: BudgetDeps) -> Background:
    async def approval_scheduler(runtime: ServiceRuntime) -> None:
        await run_scheduler(runtime.db, deps)

    return approval_scheduler
