"""Invoices (R-INVOICE-1/2): numbering under concurrency and the PDF render time.

1. 1,000 approved budget orders from 1,000 schools arrive at once: the consumer handles them
   concurrently (asyncio.gather, one transaction per event, as the queue's prefetch would), on
   SQLite and on PostgreSQL. Asserts 1,000 distinct, gapless numbers; reports the wall time.
2. The PDF: `render_pdf` alone and the whole `invoicing.pdf` operation (permission check,
   database read, render, base64), median and p95 after warm-up. Target: median under 150 ms.

    uv run python bench/bench_invoices.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import drop_postgres, median, metric, percentile, postgres_database

ORDERS = 1_000
WARM_UP = 5
RENDERS = 60


def approved(school_id: uuid.UUID, school_number: int):  # type: ignore[no-untyped-def]
    from ck_contracts.budget import BudgetOrderApproved, OrderLine

    individual, collective = 10 + school_number % 7, 10 + school_number % 11
    lines = [
        OrderLine(
            product="Studenten zonder bijdrage school",
            count=individual,
            unit_cents=250,
            ocw_cents=individual * 1050,
            total_cents=individual * 250,
        ),
        OrderLine(
            product="Studenten met bijdrage school",
            count=collective,
            unit_cents=1050,
            ocw_cents=collective * 1050,
            total_cents=collective * 1050,
        ),
    ]
    return BudgetOrderApproved(
        school_id=school_id,
        order_id=uuid.uuid4(),
        school_number=school_number,
        reference=f"PO-{school_number}",
        collective_students=collective,
        individual_students=individual,
        lines=lines,
        total_cents=sum(line.total_cents for line in lines),
        collective_budget_cents=collective * 2100,
        individual_budget_cents=individual * 1050,
        approved_at=datetime.now(UTC),
    )


async def numbering(url: str, label: str) -> None:
    from ck_contracts.invoicing import Ops
    from ck_contracts.rpc import RpcRequest
    from ck_invoicing import domain, pdf, store
    from ck_invoicing.consumers import budget_consumer
    from ck_invoicing.ops import router
    from ck_invoicing.settings import get_settings
    from ck_invoicing.tables import invoices
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from sqlalchemy import select

    await upgrade_async("invoicing", url)
    db = Database(url)
    consumer = budget_consumer()
    bodies = [approved(uuid.uuid4(), 10_000 + i).envelope() for i in range(ORDERS)]
    start = time.perf_counter()
    await asyncio.gather(*(consumer.handle(body, db) for body in bodies))
    elapsed = time.perf_counter() - start
    async with db.read() as session:
        rows = (await session.execute(select(invoices.c.number, invoices.c.school_id))).all()
    year = domain.invoice_year(datetime.now(UTC))
    numbers = sorted(r.number for r in rows)
    assert numbers == [domain.format_number(year, n) for n in range(1, ORDERS + 1)], "gap"
    assert len({r.school_id for r in rows}) == ORDERS
    metric(f"invoices_{label}_concurrent_approvals", ORDERS, "orders")
    metric(f"invoices_{label}_concurrent_approvals_time", elapsed, "s")
    metric(f"invoices_{label}_concurrent_approvals_rate", ORDERS / elapsed, "orders/s")

    if label != "sqlite":
        await db.dispose()
        return
    # The PDF of one of them: the render alone, and the whole operation.
    settings = get_settings(
        cjp_name="Stichting CJP",
        cjp_address="Voorbeeldstraat 1|1000 AA Amsterdam",
        cjp_kvk="12345678",
        cjp_iban="NL00BANK0123456789",
    )
    async with db.read() as session:
        row = (await session.execute(select(invoices).limit(1))).one()
        (invoice,) = [store.to_invoice(row, {})]
    renders = []
    for i in range(WARM_UP + RENDERS):
        start = time.perf_counter()
        pdf.render_pdf(invoice, row.school_number, settings)
        if i >= WARM_UP:
            renders.append((time.perf_counter() - start) * 1000)
    actor = {"user_id": str(uuid.uuid4()), "role": "budgethouder", "school_id": str(row.school_id)}
    payload = {"school_id": str(row.school_id), "invoice_id": str(row.id)}
    operations = []
    for i in range(WARM_UP + RENDERS):
        request = RpcRequest(op=Ops.PDF, actor=actor, payload=payload)
        start = time.perf_counter()
        reply = await router.dispatch(request, db, settings)
        if i >= WARM_UP:
            operations.append((time.perf_counter() - start) * 1000)
        assert reply["ok"], reply
    await db.dispose()
    metric("invoice_pdf_render_median", median(renders), "ms")
    metric("invoice_pdf_render_p95", percentile(renders, 95), "ms")
    metric("invoice_pdf_operation_median", median(operations), "ms")
    metric("invoice_pdf_operation_p95", percentile(operations, 95), "ms")


def main() -> None:
    from ck_runtime.logs import configure_logging

    configure_logging("bench", level="WARNING")  # not a log line per invoice
    with tempfile.TemporaryDirectory() as data:
        asyncio.run(numbering(f"sqlite+aiosqlite:///{data}/invoicing.sqlite3", "sqlite"))
    name = postgres_database()
    if name is None:
        print("no PostgreSQL: skipped", file=sys.stderr)
        return
    try:
        asyncio.run(numbering(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", "postgresql"))
    finally:
        drop_postgres(name)


if __name__ == "__main__":
    main()
