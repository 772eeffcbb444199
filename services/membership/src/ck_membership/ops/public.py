"""Activation, the public operation (R-MEMBER-4): no log-in, throttled per client.

Logs carry ids and outcomes only, never the code, the client key, names or addresses (R-AVG-2).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ck_contracts.membership import (
    Activate,
    Activated,
    CheckActivationCode,
    MembershipActivated,
    MembershipReason,
    Ops,
)
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roster import RosterKind
from ck_contracts.rpc import FieldError, FieldProblems
from ck_runtime.errors import Conflict, Invalid, Throttled
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ck_membership import domain, store
from ck_membership.settings import MembershipSettings
from ck_membership.tables import InvitationStatus, MembershipState

log = get_logger(__name__)
router = RpcRouter("membership")

# The code's refusals, as the log names them.
_REFUSED = {
    MembershipReason.CODE_UNKNOWN: "unknown",
    MembershipReason.CODE_USED: "used",
    MembershipReason.CODE_REVOKED: "revoked",
}


@router.handles(Ops.CHECK_ACTIVATION_CODE)
async def check_activation_code(call: Call, query: CheckActivationCode) -> FieldProblems:
    """Issue 14: whether the typed text can be a code at all (the same rule as ACTIVATE's
    first check); a blank code is the page's own "fill it in"."""
    if query.code.strip() and domain.normalise_code(query.code) is None:
        return FieldProblems(fields={"code": FieldError(reason=MembershipReason.CODE_MALFORMED)})
    return FieldProblems()


@router.handles(Ops.ACTIVATE)
async def activate(call: Call, cmd: Activate) -> Activated:
    """Throttle, then the member's input, then the code.

    Every well-formed code that is unknown, used or revoked counts as a failure for the client
    address, for the code's prefix and for everyone (domain.buckets); a malformed code or wrong
    details do not, as they cannot be a guess. A bucket at its limit refuses the attempt before
    the code is looked at. The personal link of the invitation mail (code + link_key, the
    invitation's id) skips the buckets: its pair is checked first, and a wrong pair is an
    ordinary attempt (throttled when a bucket is full; counted when the code fails), so the key
    tells an attacker nothing.

    Two activations of one code at once: the conditional update on status 'open' lets exactly
    one win; the other gets CODE_USED. The throttle check reads before the attempt, so requests
    covered by one bucket that are in flight together may each make one more guess: at most
    the service's prefetch per replica, which 60-bit codes can afford.
    """
    now = call.clock.now()
    code = domain.normalise_code(cmd.code)
    checked = domain.buckets(cmd.client, code, _limits(call))
    async with call.db.read() as session:
        personal = (
            code is not None
            and bool(cmd.link_key)
            and await store.personal_link_matches(session, code, cmd.link_key)
        )
        states = {} if personal else await store.failures_in(session, [b.key for b in checked])
    if (wait := domain.wait_for(states, checked, now)) is not None:
        log.info("activation.throttled")
        raise Throttled(
            MembershipReason.THROTTLED,
            retry_after_seconds=math.ceil(wait.total_seconds()),
            minutes=domain.wait_minutes(wait),
        )
    today = now.astimezone(UTC).date()
    errors = domain.details_errors(
        cmd.voornaam, cmd.achternaam, cmd.email, cmd.geboortedatum, today
    )
    if code is None:
        errors = {"code": FieldError(reason=MembershipReason.CODE_MALFORMED), **errors}
    if errors:
        raise _invalid(errors)
    assert code is not None
    async with call.db.transaction() as session:
        outcome = await _claim(session, code, cmd, now)
        if isinstance(outcome, MembershipReason) and not personal:
            await store.record_failure(session, [b.key for b in checked], now)
    if isinstance(outcome, MembershipReason):
        log.info("activation.refused", reason=_REFUSED[outcome], personal_link=personal)
        raise Invalid(outcome, fields={"code": FieldError(reason=outcome)})
    return outcome


def _limits(call: Call) -> domain.Limits:
    settings = call.deps
    if isinstance(settings, MembershipSettings):
        return settings.activation_limits()
    return domain.DEFAULT_LIMITS


def _invalid(errors: dict[str, FieldError]) -> Invalid:
    """One problem: its reason is the answer's; several: "check your input" and each field's."""
    if len(errors) == 1:
        (only,) = errors.values()
        invalid = Invalid(only.reason, fields=errors)
        invalid.params = dict(only.params)
        return invalid
    return Invalid(fields=errors)


async def _claim(
    session: AsyncSession, code: str, cmd: Activate, now: datetime
) -> Activated | MembershipReason:
    """Activated, or the reason the code does not work."""
    invitation = await store.invitation_by_code(session, code)
    if invitation is None:
        return MembershipReason.CODE_UNKNOWN
    if invitation.status == InvitationStatus.USED:
        return MembershipReason.CODE_USED
    if invitation.status == InvitationStatus.REVOKED:
        return MembershipReason.CODE_REVOKED
    if not await store.claim_invitation(session, invitation.id, now):
        return MembershipReason.CODE_USED  # a simultaneous activation of the same code won
    card_number = await store.new_card_number(session)
    email = domain.normalise_email(cmd.email)
    saved = await store.save_membership(
        session,
        {
            "person_id": invitation.person_id,
            "school_id": invitation.school_id,
            "kind": invitation.kind,
            "card_number": card_number,
            "status": MembershipState.ACTIVE,
            "invitation_id": invitation.id,
            "voornaam": cmd.voornaam,
            "achternaam": cmd.achternaam,
            "email": email,
            "geboortedatum": cmd.geboortedatum,
            "activated_at": now,
            "ended_at": None,
            "end_reason": None,
        },
    )
    if not saved:
        already = MembershipReason.ALREADY_ACTIVE
        raise Conflict(already, fields={"code": FieldError(reason=already)})  # rolls back
    kind = RosterKind(invitation.kind)
    await add_to_outbox(
        session,
        MembershipActivated(
            school_id=invitation.school_id,
            person_id=invitation.person_id,
            kind=kind,
            card_number=card_number,
        ),
        EmailRequested(
            school_id=invitation.school_id,
            template=MailTemplate.MEMBERSHIP_CONFIRMED,
            to=email,
            context={
                "voornaam": cmd.voornaam,
                "school_name": invitation.school_name,
                "card_number": card_number,
            },
        ),
    )
    log.info(
        "membership.activated",
        school_id=str(invitation.school_id),
        person_id=str(invitation.person_id),
    )
    return Activated(card_number=card_number, school_name=invitation.school_name, kind=kind)
