"""Retention (R-AVG-2): every service keeps personal data only as long as it needs it.

One mechanism for all services: `Retention`, a background job of the service runtime that
applies a list of rules on a timer (`<SERVICE>_RETENTION_INTERVAL_SECONDS`, hourly by default)
and once at start-up. A rule deletes rows whose time is up, or blanks their personal columns,
in batches of short transactions (on SQLite the write lock is never held long). After each
pass the SQLite WAL is scrubbed (Database.scrub), so nothing deleted lingers in the files.

The rules come from three places, all in one list (`Retention.rules`):

- the runtime's own (`runtime_rules`): published outbox rows after `outbox_retention_days`,
  inbox rows after `inbox_retention_days`. Runtime tables added later (the `rpc_requests` of
  exactly-once commands, for one) add their rule to `runtime_rules`;
- the service's (`Service.retention`, built in its app.py from its settings): expired
  sessions, used password links, stale throttle rows, failed mails' addresses, ...;
- anything registered while running (`ServiceRuntime.retention.add(rule)`).

What is erased the moment it is no longer needed does not wait for this job: a person leaving
the roster is erased by the handlers of PersonRemoved, an outbox row loses its body when it is
published, a mail its address when it is sent. The job is for what expires with time.

Time is the service's clock (`ServiceRuntime.clock`): tests move a ManualClock and call
`run_once()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Table, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.clock import Clock
from ck_runtime.commands import RPC_REQUESTS
from ck_runtime.db import Database, rowcount
from ck_runtime.logs import get_logger
from ck_runtime.settings import ServiceSettings
from ck_runtime.tables import add_runtime_tables

log = get_logger(__name__)

OUTBOX, INBOX = add_runtime_tables(MetaData())

# (session, now, batch) -> how many rows the statement deleted or blanked. A rule handles at
# most about `batch` rows per call; the job calls it again while it returns a full batch.
RuleAction = Callable[[AsyncSession, datetime, int], Awaitable[int]]


@dataclass(frozen=True)
class RetentionRule:
    name: str  # for the log line: "inbox", "sessions.expired", ...
    apply: RuleAction


# An extra condition of a rule: a fixed one, or one made from the pass's `now`.
Condition = ColumnElement[bool] | Callable[[datetime], ColumnElement[bool]]


def _window(window: timedelta | Callable[[], timedelta]) -> Callable[[], timedelta]:
    return window if callable(window) else (lambda: window)


def _where(
    moment: Any, cutoff: datetime, conditions: Sequence[Condition], now: datetime
) -> list[ColumnElement[bool]]:
    return [moment <= cutoff, *(c if isinstance(c, ColumnElement) else c(now) for c in conditions)]


def batch_of(table: Table, conditions: Sequence[ColumnElement[bool]], limit: int) -> Any:
    """`primary key IN (SELECT primary key ... WHERE conditions LIMIT n)`: one batch of the
    rows the conditions select (a row-value IN for a composite key, on both databases)."""
    keys = list(table.primary_key.columns)
    chosen = select(*keys).where(*conditions).limit(limit)
    if len(keys) == 1:
        return keys[0].in_(chosen)
    return tuple_(*keys).in_(chosen)


def delete_expired(
    name: str,
    table: Table,
    moment: Any,
    window: timedelta | Callable[[], timedelta] = timedelta(0),
    *conditions: Condition,
) -> RetentionRule:
    """Delete the rows whose `moment` (a column) lies `window` or more in the past and that
    meet the extra conditions."""
    length = _window(window)

    async def apply(session: AsyncSession, now: datetime, limit: int) -> int:
        where = _where(moment, now - length(), conditions, now)
        result = await session.execute(delete(table).where(batch_of(table, where, limit)))
        return rowcount(result)

    return RetentionRule(name, apply)


def erase_expired(
    name: str,
    table: Table,
    moment: Any,
    window: timedelta | Callable[[], timedelta],
    values: Mapping[str, Any],
    *conditions: Condition,
) -> RetentionRule:
    """Blank columns (`values`, usually None) of the rows whose `moment` lies `window` or more
    in the past. The conditions must leave out rows already blanked (e.g. `recipient IS NOT
    NULL`), or the job would blank the same batch for ever."""
    length = _window(window)
    if not conditions:
        raise ValueError(f"{name}: say which rows still hold the data (see erase_expired)")

    async def apply(session: AsyncSession, now: datetime, limit: int) -> int:
        where = _where(moment, now - length(), conditions, now)
        result = await session.execute(
            update(table).where(batch_of(table, where, limit)).values(**values)
        )
        return rowcount(result)

    return RetentionRule(name, apply)


def runtime_rules(settings: ServiceSettings) -> list[RetentionRule]:
    """The rules of the runtime's own tables, for every service.

    - Published outbox rows: their body is gone at publication (OutboxRelay._mark); the row
      itself (id, routing key, correlation id, times: for tracing a flow) goes after
      `outbox_retention_days` (7).
    - Inbox rows: after `inbox_retention_days` (30). An inbox row only has to outlive every
      redelivery of its message: the broker redelivers a message whose ack was lost within
      seconds (5 deliveries, pauses of at most 5 s), or once a consumer is back when every
      replica was down; a relay that crashed between the broker's confirm and its mark
      publishes again when its service is back. Both are bounded by the longest outage of a
      service, which 30 days covers many times over (and a message waiting in its queue longer
      than that has no inbox row yet anyway).
    - Answers of commands (`rpc_requests`, ck_runtime.commands): at their expiry, 15 minutes
      (a day for Idempotency-Keys) after the command; encrypted meanwhile.

    Runtime tables added later register their rule here.
    """
    return [
        delete_expired(
            "outbox.published",
            OUTBOX,
            OUTBOX.c.published_at,
            lambda: timedelta(days=settings.outbox_retention_days),
            OUTBOX.c.published_at.is_not(None),
        ),
        delete_expired(
            "inbox",
            INBOX,
            INBOX.c.processed_at,
            lambda: timedelta(days=settings.inbox_retention_days),
        ),
        delete_expired("rpc_requests.expired", RPC_REQUESTS, RPC_REQUESTS.c.expires_at),
    ]


class Retention:
    """The retention job of one service process (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: Sequence[RetentionRule] = (),
        *,
        interval_seconds: float = 3600.0,
        batch: int = 1000,
    ) -> None:
        self._db = db
        self._clock = clock
        self.rules: list[RetentionRule] = list(rules)
        self._interval = interval_seconds
        self._batch = batch
        self._lock = asyncio.Lock()  # one pass at a time (the timer and a test's run_once)
        self.passes = 0

    def add(self, rule: RetentionRule) -> None:
        """Register a rule (a table added by a later feature keeps its expiry here)."""
        if any(r.name == rule.name for r in self.rules):
            raise ValueError(f"retention rule {rule.name} registered twice")
        self.rules.append(rule)

    async def run_once(self) -> dict[str, int]:
        """One pass of every rule: rows handled per rule. A failing rule is logged and the
        others still run; the next pass tries it again."""
        async with self._lock:
            now = self._clock.now()
            handled: dict[str, int] = {}
            for rule in list(self.rules):
                try:
                    handled[rule.name] = await self._apply(rule, now)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("retention.rule_failed", rule=rule.name, error=type(exc).__name__)
            scrubbed = await self._db.scrub()
            self.passes += 1
            log.info(
                "retention.pass",
                rows={name: n for name, n in handled.items() if n},
                scrubbed=scrubbed,
            )
            return handled

    async def _apply(self, rule: RetentionRule, now: datetime) -> int:
        total = 0
        while True:
            async with self._db.transaction() as session:
                count = await rule.apply(session, now, self._batch)
            total += count
            if count < self._batch:
                return total

    async def run(self) -> None:
        """A pass at start, then one every interval, until cancelled."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is unreachable: next time
                log.warning("retention.pass_failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)
