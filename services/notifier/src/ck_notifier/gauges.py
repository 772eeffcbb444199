"""The notifier's gauges (ck_runtime.metrics): mails waiting and mails failed for good, read
by the runtime's sampling task every few seconds (ck_runtime.sampling)."""

from __future__ import annotations

from ck_runtime import metrics
from ck_runtime.db import Database
from sqlalchemy import func, select

from ck_notifier.tables import MailStatus, outgoing_mails

T = outgoing_mails.c


async def sample_mails(db: Database) -> None:
    query = (
        select(T.status, func.count())
        .where(T.status.in_([MailStatus.PENDING, MailStatus.FAILED]))
        .group_by(T.status)
    )
    async with db.read() as session:
        counts = {str(status): int(n) for status, n in await session.execute(query)}
    metrics.MAILS_PENDING.set(counts.get(MailStatus.PENDING, 0))
    metrics.MAILS_FAILED.set(counts.get(MailStatus.FAILED, 0))
