"""What the school's and the admin's operations share: settings and invoices with their
deviations."""

from __future__ import annotations

from typing import Any

from ck_contracts.invoicing import Invoice
from ck_runtime.rpc_server import Call
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import store
from ck_invoicing.settings import InvoicingSettings, get_settings


def settings_of(call: Call) -> InvoicingSettings:
    return call.deps if isinstance(call.deps, InvoicingSettings) else get_settings()


async def with_deviations(session: AsyncSession, rows: list[Row[Any]]) -> list[Invoice]:
    counts = await store.uploaded_counts(session, (row.school_id for row in rows))
    return [store.to_invoice(row, counts[row.school_id]) for row in rows]
