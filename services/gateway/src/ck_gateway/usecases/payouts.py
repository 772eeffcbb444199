"""Reimbursement statements (issue 13, capability 4): what the admin pages, the provider API
and the provider portal (/aanbieder/uitbetalingen) share. The PDF carries the provider's name
and KvK number, which the weborders service keeps; the gateway reads them there and hands them
to invoicing with the request."""

from __future__ import annotations

import base64
from uuid import UUID

from ck_contracts.invoicing import Ops
from ck_contracts.payouts import (
    ProviderStatementQuery,
    Statement,
    StatementPage,
    StatementPdfRequest,
    StatementRef,
)
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops as WeborderOps
from ck_contracts.weborders import Provider, ProviderAuth
from fastapi import Request
from fastapi.responses import Response

from ck_gateway import backend
from ck_gateway.usecases.providers import ProviderCaller


def _pdf_response(filename: str, content_b64: str) -> Response:
    return Response(
        base64.b64decode(content_b64),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def admin_pdf(
    request: Request, actor: Actor, statement_id: UUID, provider: Provider | None
) -> Response:
    pdf = await backend.send(
        request,
        Ops.STATEMENT_PDF,
        StatementPdfRequest(
            statement_id=statement_id,
            provider_name=provider.name if provider else "",
            provider_kvk=provider.kvk_number if provider else "",
        ),
        actor=actor,
        timeout=backend.file_timeout(request),
    )
    return _pdf_response(pdf.filename, pdf.content_b64)


async def provider_pdf(
    request: Request, actor: Actor, statement_id: UUID, provider: Provider
) -> Response:
    pdf = await backend.send(
        request,
        Ops.PROVIDER_STATEMENT_PDF,
        StatementPdfRequest(
            statement_id=statement_id,
            provider_name=provider.name,
            provider_kvk=provider.kvk_number,
        ),
        actor=actor,
        timeout=backend.file_timeout(request),
    )
    return _pdf_response(pdf.filename, pdf.content_b64)


# --- a provider's own statements: an API key or a provider portal session ------------------------
async def provider_and_actor(request: Request, caller: ProviderCaller) -> tuple[Provider, Actor]:
    """The provider (name and KvK number for the PDF) as the weborders service knows it from
    the key or the session's actor, and the actor invoicing checks again (role provider, its
    provider_id): the session's own, or for a key the provider itself."""
    auth = ProviderAuth(api_key=caller.api_key)
    provider = await backend.send(
        request, WeborderOps.PROVIDER_AUTHENTICATE, auth, actor=caller.actor
    )
    if caller.actor is not None:
        return provider, caller.actor
    actor = Actor(
        user_id=provider.provider_id, role=Role.PROVIDER, provider_id=provider.provider_id
    )
    return provider, actor


async def own_statements(
    request: Request, caller: ProviderCaller, query: ProviderStatementQuery
) -> StatementPage:
    _, actor = await provider_and_actor(request, caller)
    return await backend.send(request, Ops.PROVIDER_STATEMENT_LIST, query, actor=actor)


async def own_statement(request: Request, caller: ProviderCaller, statement_id: UUID) -> Statement:
    _, actor = await provider_and_actor(request, caller)
    ref = StatementRef(statement_id=statement_id)
    return await backend.send(request, Ops.PROVIDER_STATEMENT_GET, ref, actor=actor)


async def own_statement_pdf(
    request: Request, caller: ProviderCaller, statement_id: UUID
) -> Response:
    """Another provider's statement does not exist for this one (404 from invoicing)."""
    provider, actor = await provider_and_actor(request, caller)
    return await provider_pdf(request, actor, statement_id, provider)
