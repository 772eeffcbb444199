"""A CJP admin records an invoice's payment (R-INVOICE-4)."""

from __future__ import annotations

from ck_contracts.audit import AuditAction
from ck_contracts.invoicing import (
    SERVICE,
    Invoice,
    InvoicePaid,
    InvoiceStatus,
    InvoicingReason,
    Ops,
    RecordPayment,
)
from ck_contracts.roles import Permission
from ck_contracts.rpc import FieldError
from ck_runtime import audit
from ck_runtime.errors import Invalid, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter

from ck_invoicing import domain, store
from ck_invoicing.ops.common import with_deviations

log = get_logger(__name__)
router = RpcRouter(SERVICE)


@router.handles(Ops.RECORD_PAYMENT)
async def record_payment(call: Call, command: RecordPayment) -> Invoice:
    """Open -> betaald and InvoicePaid in the outbox, once (R-INVOICE-4). Recording it again
    changes nothing and answers with the invoice as it is."""
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await store.get_row(session, command.invoice_id)
        if row is None:
            raise NotFound(InvoicingReason.INVOICE_NOT_FOUND)
        actor = call.require(Permission.RECORD_PAYMENT, row.school_id)
        if row.status == InvoiceStatus.OPEN.value:
            problem = domain.payment_problem(
                command.amount_cents, row.total_cents, command.paid_on, domain.local_date(now)
            )
            if problem is not None:
                field, reason = problem
                params = {"amount_cents": command.amount_cents, "total_cents": row.total_cents}
                raise Invalid(
                    reason, fields={field: FieldError(reason=reason, params=params)}, **params
                )
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
                await audit.record(
                    session,
                    actor,
                    AuditAction.INVOICE_PAID,
                    "invoice",
                    row.id,
                    school_id=row.school_id,
                    details={
                        "number": row.number,
                        "amount_cents": command.amount_cents,
                        "paid_on": command.paid_on.isoformat(),
                    },
                    at=now,
                )
                log.info("invoice.paid", invoice_id=str(row.id), number=row.number)
            # Paid now, by this call or a concurrent one: answer with the row as it is.
            row = await store.get_row(session, command.invoice_id)
            assert row is not None
        (invoice,) = await with_deviations(session, [row])
    return invoice
