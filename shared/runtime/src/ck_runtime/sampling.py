"""Gauges that cost a query, sampled by one background task every few seconds rather than
on each scrape: the outbox's backlog and lag, the dead-letter queues' depth, and whatever a
service adds (the notifier's mails). A scrape only reads the last sample."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from ck_contracts.messaging import dead_letter_queue
from sqlalchemy import func, select

from ck_runtime import dead_letters, metrics
from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import get_logger
from ck_runtime.outbox import OUTBOX

log = get_logger(__name__)

# One gauge set of a service's own (ck_notifier: mails pending and failed).
Sampler = Callable[[Database], Awaitable[None]]
# A sample that takes longer is given up (and logged): the next one tries again.
STEP_TIMEOUT = 10.0


async def sample_outbox(db: Database, service: str, clock: Clock) -> None:
    query = select(func.count(), func.min(OUTBOX.c.created_at)).where(
        OUTBOX.c.published_at.is_(None)
    )
    async with db.read() as session:
        pending, oldest = (await session.execute(query)).one()
    age = 0.0
    if isinstance(oldest, datetime):
        age = max((clock.now() - oldest).total_seconds(), 0.0)
    metrics.OUTBOX_PENDING.labels(service).set(int(pending or 0))
    metrics.OUTBOX_OLDEST.labels(service).set(age)


class DeadLetterSampler:
    """Depth of `<queue>.dead-letter` for each of the service's event queues, counted the one
    way ck_runtime.dead_letters counts them (a passive declare on a fresh channel, which a
    least-privilege broker user may do and no robust channel's cache can answer)."""

    def __init__(self, connection: AbstractRobustConnection, queues: Sequence[str]) -> None:
        self._connection = connection
        self._queues = list(queues)

    async def sample(self) -> None:
        for queue in self._queues:
            count = await dead_letters.count(self._connection, dead_letter_queue(queue))
            if count is not None:  # not declared (yet): nothing to count
                metrics.DEAD_LETTERS.labels(queue).set(count)

    async def close(self) -> None:
        """Nothing held between samples."""


async def sample_forever(
    *,
    db: Database,
    service: str,
    clock: Clock,
    dead_letters: DeadLetterSampler | None,
    samplers: Sequence[Sampler],
    interval: float,
) -> None:
    """Until cancelled. A failed sample (database or broker down) keeps the last values and
    is logged at debug level: readiness reports outages, this task must not flood the log."""
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("outbox", lambda: sample_outbox(db, service, clock))
    ]
    if dead_letters is not None:
        steps.append(("dead_letters", dead_letters.sample))
    steps += [(f"sampler{i}", functools.partial(s, db)) for i, s in enumerate(samplers)]
    try:
        while True:
            for name, step in steps:
                try:
                    await asyncio.wait_for(step(), STEP_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except (Exception, aio_pika.exceptions.AMQPError) as exc:
                    log.debug("metrics.sample_failed", gauge=name, error=type(exc).__name__)
            await asyncio.sleep(interval)
    finally:
        if dead_letters is not None:
            await dead_letters.close()
