"""The audit trail's one page (issue 13): every service that records actions keeps its own
entries (ck_runtime.audit); this use case asks all of them at once (`<service>.audit.list`,
concurrently) and merges their answers by time.

Paging is by keyset, not by page number: every service orders its entries by (at, id)
descending and answers the `limit` newest entries older than a cursor (the last entry shown).
The gateway merges the services' pages, shows the `limit` newest and makes the last of those
the next cursor. That is exact: an entry among the newest `limit` overall is among the newest
`limit` of its own service, so nothing is skipped or shown twice, and each page costs every
service one indexed query of `limit` rows, however deep the reader pages. (Offsets would
make page N ask every service for N x limit rows.)

A budget holder sees its own school's entries, a CJP admin everything (and filters by school,
service, action, role and dates); the gateway checks, and every service checks again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from ck_contracts import accounts, budget, invoicing, weborders
from ck_contracts.audit import (
    ACTIONS_BY_SERVICE,
    AUDITED_SERVICES,
    AuditAction,
    AuditEntry,
    AuditPage,
    AuditQuery,
    AuditRole,
)
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Permission
from ck_runtime.clock import AMSTERDAM
from ck_runtime.rpc_client import ServiceUnavailable
from fastapi import Request

from ck_gateway import backend
from ck_gateway.errors import forbidden

AUDIT_OPS: dict[str, Operation[AuditQuery, AuditPage]] = {
    "accounts": accounts.Ops.AUDIT_LIST,
    "budget": budget.Ops.AUDIT_LIST,
    "invoicing": invoicing.Ops.AUDIT_LIST,
    "weborders": weborders.Ops.AUDIT_LIST,
}
assert set(AUDIT_OPS) == set(AUDITED_SERVICES), "every audited service answers audit.list"
PAGE_SIZE = 50


@dataclass(frozen=True)
class Cursor:
    """The last entry of a page: the next page starts just after it. In an address it is
    `<microseconds since the epoch>.<id as hex>` (no characters that need escaping)."""

    at: datetime
    id: UUID

    def text(self) -> str:
        micros = (self.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return f"{micros}.{self.id.hex}"

    @staticmethod
    def parse(raw: str | None) -> Cursor | None:
        """None for anything that is not a cursor (the first page, never an error)."""
        if not raw or len(raw) > 60:
            return None
        micros, _, hex_id = raw.partition(".")
        if not micros.isascii() or not micros.isdigit() or len(micros) > 18:
            return None
        try:
            at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
            return Cursor(at, UUID(hex=hex_id))
        except (ValueError, OverflowError):
            return None


@dataclass(frozen=True)
class HistoryFilter:
    school_id: UUID | None = None
    service: str | None = None
    action: AuditAction | None = None
    actor_role: AuditRole | None = None
    since: date | None = None  # from this day on (Amsterdam)
    until: date | None = None  # up to and including this day (Amsterdam)
    after: Cursor | None = None


@dataclass
class History:
    items: list[AuditEntry]
    next_cursor: Cursor | None  # None: this was the last page
    unavailable: list[str] = field(default_factory=list)  # services that did not answer


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=AMSTERDAM).astimezone(UTC)


def services_for(filters: HistoryFilter) -> list[str]:
    """The services that can hold entries matching the filter."""
    services = [filters.service] if filters.service else list(AUDITED_SERVICES)
    if filters.action is not None:
        services = [s for s in services if filters.action in ACTIONS_BY_SERVICE.get(s, ())]
    return [s for s in services if s in AUDIT_OPS]


def query_for(filters: HistoryFilter, limit: int) -> AuditQuery:
    return AuditQuery(
        school_id=filters.school_id,
        action=filters.action,
        actor_role=filters.actor_role,
        since=_start_of(filters.since) if filters.since else None,
        until=_start_of(filters.until + timedelta(days=1)) if filters.until else None,
        before_at=filters.after.at if filters.after else None,
        before_id=filters.after.id if filters.after else None,
        limit=limit,
    )


def merge(pages: list[AuditPage], limit: int) -> tuple[list[AuditEntry], bool]:
    """The `limit` newest entries of the services' pages, and whether more exist."""
    everything = sorted(
        (entry for page in pages for entry in page.items),
        key=lambda e: (e.at, e.id),
        reverse=True,
    )
    more = len(everything) > limit or any(page.has_more for page in pages)
    return everything[:limit], more


async def history(
    request: Request, actor: Actor, filters: HistoryFilter, limit: int = PAGE_SIZE
) -> History:
    """One page of the merged history. A school's actor must name its own school; only a CJP
    admin may leave the school out (every school)."""
    if not actor.may(Permission.VIEW_AUDIT, filters.school_id):
        raise forbidden()
    query = query_for(filters, limit)
    services = services_for(filters)
    answers = await asyncio.gather(
        *(backend.send(request, AUDIT_OPS[s], query, actor=actor) for s in services),
        return_exceptions=True,
    )
    pages: list[AuditPage] = []
    unavailable: list[str] = []
    for service, answer in zip(services, answers, strict=True):
        if isinstance(answer, ServiceUnavailable):
            unavailable.append(service)  # the page says the list is incomplete
        elif isinstance(answer, BaseException):
            raise answer
        else:
            pages.append(answer)
    items, more = merge(pages, limit)
    cursor = Cursor(items[-1].at, items[-1].id) if more and items else None
    return History(items, cursor, unavailable)
