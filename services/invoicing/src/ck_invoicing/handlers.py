"""Operations of the invoicing service: the school's invoices, one invoice, its PDF, and a CJP
admin recording a payment.

Every operation checks the actor's permission for the invoice's own school (`Call.require`,
R-ROLE-6): a school asking for another school's invoice id gets "not found", one asking in
another school's name gets "forbidden". Only CJP admins cross schools.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from ck_contracts.invoicing import (
    Invoice,
    InvoiceList,
    InvoicePaid,
    InvoicePdf,
    InvoiceRef,
    InvoiceStatus,
    Ops,
    RecordPayment,
    SchoolInvoices,
)
from ck_contracts.messaging import utcnow
from ck_contracts.roles import Permission
from ck_runtime.errors import Invalid, NotFound
from ck_runtime.known_schools import school_name
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import domain, pdf, store
from ck_invoicing.settings import InvoicingSettings, get_settings

log = get_logger(__name__)
router = RpcRouter()

UNKNOWN_INVOICE = "Deze factuur bestaat niet."
FUTURE_PAYMENT = "De betaaldatum kan niet in de toekomst liggen."


def _settings(call: Call) -> InvoicingSettings:
    return call.deps if isinstance(call.deps, InvoicingSettings) else get_settings()


async def _with_deviations(session: AsyncSession, rows: list[Row[Any]]) -> list[Invoice]:
    counts = await store.uploaded_counts(session, (row.school_id for row in rows))
    return [store.to_invoice(row, counts[row.school_id]) for row in rows]


async def _own_invoice(call: Call, ref: InvoiceRef) -> tuple[Row[Any], Invoice]:
    """The invoice, when the actor may see the school and the invoice is that school's."""
    call.require(Permission.VIEW_SCHOOL, ref.school_id)
    async with call.db.read() as session:
        row = await store.get_row(session, ref.invoice_id)
        if row is None or row.school_id != ref.school_id:
            raise NotFound(UNKNOWN_INVOICE)
        (invoice,) = await _with_deviations(session, [row])
    return row, invoice


@router.op(Ops.LIST, SchoolInvoices, permission=Permission.VIEW_SCHOOL)
async def list_invoices(call: Call, query: SchoolInvoices) -> InvoiceList:
    """Newest first, each with the deviation of ordered versus uploaded (R-INVOICE-3)."""
    call.require(Permission.VIEW_SCHOOL, query.school_id)
    async with call.db.read() as session:
        rows = await store.school_rows(session, query.school_id)
        return InvoiceList(items=await _with_deviations(session, rows))


@router.op(Ops.GET, InvoiceRef, permission=Permission.VIEW_SCHOOL)
async def get_invoice(call: Call, ref: InvoiceRef) -> Invoice:
    return (await _own_invoice(call, ref))[1]


@router.op(Ops.PDF, InvoiceRef, permission=Permission.VIEW_SCHOOL)
async def invoice_pdf(call: Call, ref: InvoiceRef) -> InvoicePdf:
    row, invoice = await _own_invoice(call, ref)
    async with call.db.read() as session:
        name = await school_name(session, invoice.school_id)
    content = await asyncio.to_thread(
        pdf.render_pdf, invoice, int(row.school_number), _settings(call), name
    )
    log.info("invoice.pdf", invoice_id=str(invoice.invoice_id), size=len(content))
    return InvoicePdf(
        filename=pdf.filename(invoice.number), content_b64=base64.b64encode(content).decode()
    )


@router.op(Ops.RECORD_PAYMENT, RecordPayment, permission=Permission.RECORD_PAYMENT)
async def record_payment(call: Call, command: RecordPayment) -> Invoice:
    """Open -> betaald and InvoicePaid in the outbox, once (R-INVOICE-4). Recording it again
    changes nothing and answers with the invoice as it is."""
    now = utcnow()
    async with call.db.transaction() as session:
        row = await store.get_row(session, command.invoice_id)
        if row is None:
            raise NotFound(UNKNOWN_INVOICE)
        actor = call.require(Permission.RECORD_PAYMENT, row.school_id)
        if row.status == InvoiceStatus.OPEN.value:
            if command.amount_cents != row.total_cents:
                message = (
                    f"Het betaalde bedrag ({domain.format_euro(command.amount_cents)}) is niet "
                    f"gelijk aan het factuurbedrag ({domain.format_euro(row.total_cents)})."
                )
                raise Invalid(message, fields={"amount_cents": message})
            if command.paid_on > domain.local_date(now):
                raise Invalid(FUTURE_PAYMENT, fields={"paid_on": FUTURE_PAYMENT})
            changed = await store.mark_paid(
                session,
                command.invoice_id,
                amount_cents=command.amount_cents,
                paid_on=command.paid_on,
                payment_reference=command.payment_reference,
                recorded_by=actor.user_id,
                now=now,
            )
            if changed:
                await add_to_outbox(
                    session,
                    InvoicePaid(
                        school_id=row.school_id,
                        invoice_id=row.id,
                        order_id=row.order_id,
                        number=row.number,
                        collective_budget_cents=row.collective_budget_cents,
                        individual_budget_cents=row.individual_budget_cents,
                        paid_on=command.paid_on,
                    ),
                )
                log.info("invoice.paid", invoice_id=str(row.id), number=row.number)
            # Paid now, by this call or a concurrent one: answer with the row as it is.
            row = await store.get_row(session, command.invoice_id)
            assert row is not None
        (invoice,) = await _with_deviations(session, [row])
    return invoice
