"""The membership service's request/reply operations, by audience: activation is public
(ops.public), ending a membership is a CJP admin's (ops.admin)."""

from __future__ import annotations

from ck_runtime.rpc_server import RpcRouter

from ck_membership.ops import admin, public

router = RpcRouter("membership")
router.include(public.router)
router.include(admin.router)

__all__ = ["router"]
