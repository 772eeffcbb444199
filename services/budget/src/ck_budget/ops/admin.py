"""What a CJP admin does with a school's budget orders: approve one before its objection
period ends (R-BUDGET-3, R-ROLE-4). Cancelling is the school's operation, which admins may use
too (ops.school)."""

from __future__ import annotations

from ck_contracts.budget import BudgetReason, Ops, Order, OrderRef
from ck_runtime.errors import NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter

from ck_budget import domain, store

log = get_logger(__name__)
router = RpcRouter("budget")


@router.handles(Ops.ORDER_APPROVE)
async def approve_order(call: Call, request: OrderRef) -> Order:
    """The same conditional update as the scheduler's, so an order is approved (and
    invoiced) once."""
    actor = call.require_actor()
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await store.load_order(session, request.school_id, request.order_id)
        if row is None:
            raise NotFound(BudgetReason.UNKNOWN_ORDER)
        if not await store.approve(session, row.id, now, actor=actor, only_when_due=False):
            raise domain.approval_refused(row.status)
        row = await store.order_row(session, row.id)
    log.info("order.approved", order_id=str(row.id), by_admin=True)
    return store.order_from_row(row)
