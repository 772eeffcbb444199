"""What a CJP admin does with memberships: end one (R-MEMBER-1, Inactief lidmaatschap)."""

from __future__ import annotations

from ck_contracts.membership import EndMembership, EndReason, MembershipReason, Ops
from ck_runtime.errors import NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter

from ck_membership import store

log = get_logger(__name__)
router = RpcRouter("membership")


@router.handles(Ops.END)
async def end_membership(call: Call, cmd: EndMembership) -> None:
    """A CJP admin ends an active membership (e.g. the member asked to stop). The member's
    details stay: the person is still on the school's roster. (The router checked the actor
    against cmd.school_id.)"""
    async with call.db.transaction() as session:
        ended = await store.end_active_membership(
            session, cmd.person_id, EndReason.ENDED_BY_CJP, call.clock.now(), cmd.school_id
        )
    if not ended:
        raise NotFound(MembershipReason.NO_ACTIVE_MEMBERSHIP)
    log.info("membership.ended", school_id=str(cmd.school_id), person_id=str(cmd.person_id))
