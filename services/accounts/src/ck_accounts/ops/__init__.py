"""The accounts service's request/reply operations, one module per audience: `public` (log-in,
sessions, password links), `school` (a school's settings and Docent+ access) and `admin` (CJP
admins: registering and listing schools). `router` holds them all."""

from __future__ import annotations

from ck_contracts.accounts import Ops
from ck_runtime.audit import audit_router
from ck_runtime.rpc_server import RpcRouter

from ck_accounts.ops import admin, provider_users, public, school

router = RpcRouter("accounts")
router.include(public.router)
router.include(school.router)
router.include(admin.router)
router.include(audit_router(Ops.AUDIT_LIST))  # <service>.audit.list (ck_runtime.audit)
router.include(provider_users.router)  # issue 13: the provider portal's users

__all__ = ["router"]
