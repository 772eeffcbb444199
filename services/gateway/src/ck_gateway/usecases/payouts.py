"""Reimbursement statements (issue 13, capability 4): what the admin pages and the provider
API share. The PDF carries the provider's name and KvK number, which the weborders service
keeps; the gateway reads them there and hands them to invoicing with the request."""

from __future__ import annotations

import base64
from uuid import UUID

from ck_contracts.invoicing import Ops
from ck_contracts.payouts import StatementPdfRequest
from ck_contracts.roles import Actor
from ck_contracts.weborders import Provider
from fastapi import Request
from fastapi.responses import Response

from ck_gateway import backend


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
