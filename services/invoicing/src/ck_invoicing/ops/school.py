"""The school's invoices: the list, one invoice, its PDF (R-INVOICE-1..3).

Every operation is school-scoped: the router checks the actor against the request's school
before a handler runs (R-ROLE-6). An invoice id of another school answers "not found".
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from ck_contracts.invoicing import (
    SERVICE,
    Invoice,
    InvoiceList,
    InvoicePdf,
    InvoiceRef,
    InvoicingReason,
    Ops,
    SchoolInvoices,
)
from ck_runtime.errors import NotFound
from ck_runtime.known_schools import school_address
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.engine import Row

from ck_invoicing import pdf, store
from ck_invoicing.ops.common import settings_of, with_deviations

log = get_logger(__name__)
router = RpcRouter(SERVICE)


async def _own_invoice(call: Call, ref: InvoiceRef) -> tuple[Row[Any], Invoice]:
    async with call.db.read() as session:
        row = await store.get_row(session, ref.invoice_id)
        if row is None or row.school_id != ref.school_id:
            raise NotFound(InvoicingReason.INVOICE_NOT_FOUND)
        (invoice,) = await with_deviations(session, [row])
    return row, invoice


@router.handles(Ops.LIST)
async def list_invoices(call: Call, query: SchoolInvoices) -> InvoiceList:
    """Newest first, each with the deviation of ordered versus uploaded (R-INVOICE-3)."""
    async with call.db.read() as session:
        rows = await store.school_rows(session, query.school_id)
        return InvoiceList(items=await with_deviations(session, rows))


@router.handles(Ops.GET)
async def get_invoice(call: Call, ref: InvoiceRef) -> Invoice:
    return (await _own_invoice(call, ref))[1]


@router.handles(Ops.PDF)
async def invoice_pdf(call: Call, ref: InvoiceRef) -> InvoicePdf:
    row, invoice = await _own_invoice(call, ref)
    async with call.db.read() as session:
        school = await school_address(session, invoice.school_id)
    content = await asyncio.to_thread(
        pdf.render_pdf,
        invoice,
        int(row.school_number),
        settings_of(call),
        school.name,
        school.lines(),
    )
    log.info("invoice.pdf", invoice_id=str(invoice.invoice_id), size=len(content))
    return InvoicePdf(
        filename=pdf.filename(invoice.number), content_b64=base64.b64encode(content).decode()
    )
