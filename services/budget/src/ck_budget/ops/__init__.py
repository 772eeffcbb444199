"""The budget service's request/reply operations, by audience: a school's orders, ledger and
allocations (ops.school), a CJP admin's early approval (ops.admin), a provider's card
payment (ops.provider)."""

from __future__ import annotations

from ck_contracts.budget import Ops
from ck_runtime.audit import audit_router
from ck_runtime.rpc_server import RpcRouter

from ck_budget.ops import admin, provider, school

router = RpcRouter("budget")
router.include(school.router)
router.include(admin.router)
router.include(provider.router)
router.include(audit_router(Ops.AUDIT_LIST))  # <service>.audit.list (ck_runtime.audit)

__all__ = ["router"]
