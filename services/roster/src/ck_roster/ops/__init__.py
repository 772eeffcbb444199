"""The roster's request/reply operations (ck_contracts.roster.Ops). Every one is for the
school's own people (Audience.SCHOOL): school.py; the router checks the actor's permission
for the request's school before a handler runs (R-ROLE-6)."""

from __future__ import annotations

from ck_runtime.rpc_server import RpcRouter

from ck_roster.ops import jobs, school

router = RpcRouter("roster")
router.include(school.router)
router.include(jobs.router)  # issue 14: validation and upload as jobs

__all__ = ["router"]
