"""The request/reply operations of the weborders service, one module per audience: CJP admin
(admin.py), the provider API (provider.py) and the school's operations (school.py). Their
declarations (name, request, response, permission, school scope, reasons) are in
ck_contracts.weborders.Ops."""

from __future__ import annotations

from ck_contracts.weborders import SERVICE, Ops
from ck_runtime.audit import audit_router
from ck_runtime.rpc_server import RpcRouter

from ck_weborders.ops import admin, provider, school

router = RpcRouter(SERVICE)
for _audience in (admin, provider, school):
    router.include(_audience.router)
router.include(audit_router(Ops.AUDIT_LIST))  # <service>.audit.list (ck_runtime.audit)

__all__ = ["router"]
