"""The invoicing service's request/reply operations, by audience: the school's invoices
(school.py) and a CJP admin recording a payment (admin.py)."""

from __future__ import annotations

from ck_contracts.invoicing import SERVICE, Ops
from ck_runtime.audit import audit_router
from ck_runtime.rpc_server import RpcRouter

from ck_invoicing.ops import admin, payouts, school

router = RpcRouter(SERVICE)
router.include(school.router)
router.include(admin.router)
router.include(payouts.router)  # issue 13: reimbursement statements
router.include(audit_router(Ops.AUDIT_LIST))  # <service>.audit.list (ck_runtime.audit)
