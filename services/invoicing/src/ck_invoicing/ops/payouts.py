"""Reimbursement statements (issue 13, capability 4): a CJP admin lists every provider's
statements, reads one, downloads its PDF and marks it paid; a provider reads its own.

A provider's actor names its provider (the gateway authenticated the API key with the
weborders service); a statement of another provider answers "not found", as if it did not
exist.
"""

from __future__ import annotations

import asyncio
import base64
import uuid

from ck_contracts.audit import AuditAction
from ck_contracts.invoicing import SERVICE, Ops
from ck_contracts.payouts import (
    MarkStatementPaid,
    PayoutReason,
    ProviderStatementQuery,
    Statement,
    StatementPage,
    StatementPaid,
    StatementPdf,
    StatementPdfRequest,
    StatementQuery,
    StatementRef,
    StatementStatus,
)
from ck_contracts.roles import Permission
from ck_contracts.rpc import FieldError
from ck_runtime import audit
from ck_runtime.errors import Forbidden, Invalid, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import domain, payout_store, statement_pdf
from ck_invoicing.ops.common import settings_of

log = get_logger(__name__)
router = RpcRouter(SERVICE)


async def _statement(
    session: AsyncSession, statement_id: uuid.UUID, provider_id: uuid.UUID | None
) -> Statement:
    """The statement with its lines; provider_id set: only that provider's."""
    row = await payout_store.get_statement(session, statement_id)
    if row is None or (provider_id is not None and row.provider_id != provider_id):
        raise NotFound(PayoutReason.STATEMENT_NOT_FOUND)
    summary = payout_store.to_summary(row)
    lines = await payout_store.statement_lines(session, statement_id)
    return Statement(**summary.model_dump(), lines=lines)


def _own_provider(call: Call) -> uuid.UUID:
    actor = call.require_actor()
    if not actor.has(Permission.VIEW_PAYOUTS) or actor.provider_id is None:
        raise Forbidden()
    return actor.provider_id


async def _pdf(
    call: Call, request: StatementPdfRequest, provider_id: uuid.UUID | None
) -> StatementPdf:
    async with call.db.read() as session:
        statement = await _statement(session, request.statement_id, provider_id)
    content = await asyncio.to_thread(
        statement_pdf.render_pdf,
        statement,
        settings_of(call),
        request.provider_name,
        request.provider_kvk,
    )
    log.info("statement.pdf", statement_id=str(statement.statement_id), size=len(content))
    return StatementPdf(
        filename=statement_pdf.filename(statement.number),
        content_b64=base64.b64encode(content).decode(),
    )


# --- a CJP admin ---------------------------------------------------------------------------------
@router.handles(Ops.STATEMENT_LIST)
async def list_statements(call: Call, query: StatementQuery) -> StatementPage:
    async with call.db.read() as session:
        total, items = await payout_store.list_statements(session, query)
    return StatementPage(total=total, items=items)


@router.handles(Ops.STATEMENT_GET)
async def get_statement(call: Call, ref: StatementRef) -> Statement:
    async with call.db.read() as session:
        return await _statement(session, ref.statement_id, None)


@router.handles(Ops.STATEMENT_PDF)
async def admin_statement_pdf(call: Call, request: StatementPdfRequest) -> StatementPdf:
    return await _pdf(call, request, None)


@router.handles(Ops.STATEMENT_MARK_PAID)
async def mark_paid(call: Call, command: MarkStatementPaid) -> Statement:
    """Open -> betaald and StatementPaid in the outbox, once. Marking it again changes nothing
    and answers the statement as it is."""
    actor = call.require(Permission.RECORD_PAYMENT, None)
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await payout_store.get_statement(session, command.statement_id)
        if row is None:
            raise NotFound(PayoutReason.STATEMENT_NOT_FOUND)
        if row.status == StatementStatus.OPEN.value:
            if command.paid_on > domain.local_date(now):
                reason = PayoutReason.STATEMENT_PAID_DATE_IN_FUTURE
                paid_on = command.paid_on.isoformat()
                field = FieldError(reason=reason, params={"paid_on": paid_on})
                raise Invalid(reason, fields={"paid_on": field}, paid_on=paid_on)
            if await payout_store.mark_paid(
                session,
                command.statement_id,
                paid_on=command.paid_on,
                payment_reference=command.payment_reference,
                paid_by=actor.user_id,
                now=now,
            ):
                await add_to_outbox(
                    session,
                    StatementPaid(
                        statement_id=row.id,
                        provider_id=row.provider_id,
                        number=row.number,
                        total_cents=int(row.total_cents),
                        paid_on=command.paid_on,
                        paid_by=actor.user_id,
                    ),
                )
                # The audit trail (issue 13), in the same transaction as the payment.
                await audit.record(
                    session,
                    actor,
                    AuditAction.PROVIDER_STATEMENT_PAID,
                    "provider_statement",
                    row.id,
                    provider_id=row.provider_id,
                    details={
                        "number": row.number,
                        "total_cents": int(row.total_cents),
                        "paid_on": command.paid_on.isoformat(),
                    },
                    at=now,
                )
                log.info("statement.paid", statement_id=str(row.id), number=row.number)
        return await _statement(session, command.statement_id, None)


# --- the provider --------------------------------------------------------------------------------
@router.handles(Ops.PROVIDER_STATEMENT_LIST)
async def provider_statements(call: Call, query: ProviderStatementQuery) -> StatementPage:
    provider_id = _own_provider(call)
    async with call.db.read() as session:
        total, items = await payout_store.list_statements(
            session,
            StatementQuery(paid=query.paid, page=query.page, page_size=query.page_size),
            provider_id=provider_id,
        )
    return StatementPage(total=total, items=items)


@router.handles(Ops.PROVIDER_STATEMENT_GET)
async def provider_statement(call: Call, ref: StatementRef) -> Statement:
    provider_id = _own_provider(call)
    async with call.db.read() as session:
        return await _statement(session, ref.statement_id, provider_id)


@router.handles(Ops.PROVIDER_STATEMENT_PDF)
async def provider_statement_pdf(call: Call, request: StatementPdfRequest) -> StatementPdf:
    return await _pdf(call, request, _own_provider(call))
