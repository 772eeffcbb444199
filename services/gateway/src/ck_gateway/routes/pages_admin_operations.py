"""CJP admin: Onbestelbare berichten. How many messages each event queue's dead-letter queue
holds, read from the broker (passive declarations over the gateway's own connection: no
permission needed, no message touched). Listing and replaying them is the platform team's
work with `ck-ops dead-letters` (docs/operations.md, "Dead letters"): the page shows no
message, since bodies may hold personal data."""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from ck_contracts.roles import Permission
from ck_runtime import dead_letters
from ck_runtime.rpc_client import RpcClient, ServiceUnavailable
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ck_gateway.auth import PageSession
from ck_gateway.errors import forbidden
from ck_gateway.rendering import render

router = APIRouter(prefix="/beheer/onbestelbare-berichten", include_in_schema=False)


@dataclass(frozen=True)
class QueueCount:
    queue: str  # the event queue whose dead letters these are
    service: str
    count: int | None  # None: the broker has no such queue


async def dead_letter_counts(rpc: RpcClient) -> list[QueueCount]:
    connection = rpc.connection
    if connection is None or connection.is_closed:
        raise ServiceUnavailable("broker", "broker unreachable")
    try:
        counts = await dead_letters.counts(connection, dead_letters.dead_letter_queues())
    except aio_pika.exceptions.AMQPError as exc:
        raise ServiceUnavailable("broker", "broker unreachable") from exc
    rows = []
    for name, count in counts.items():
        queue = dead_letters.source_of(name)
        rows.append(QueueCount(queue, queue.split(".", 1)[0], count))
    return rows


@router.get("", response_class=HTMLResponse)
async def dead_letters_page(request: Request, session: PageSession) -> Response:
    if not session.actor.has(Permission.VIEW_OPERATIONS):
        raise forbidden()
    rows = await dead_letter_counts(request.app.state.rpc)
    return render(
        request,
        "admin_dead_letters.html",
        {
            "title": "Onbestelbare berichten",
            "rows": rows,
            "total": sum(r.count or 0 for r in rows),
        },
    )
