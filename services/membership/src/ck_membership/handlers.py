"""Operations of the membership service: activation (public) and ending a membership (CJP).

Logs carry ids and outcomes only, never the code, the client key, names or addresses (R-AVG-2).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ck_contracts.membership import (
    Activate,
    Activated,
    EndMembership,
    EndReason,
    MembershipActivated,
    Ops,
)
from ck_contracts.messaging import utcnow
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roles import Permission
from ck_contracts.roster import RosterKind
from ck_runtime.errors import Conflict, Invalid, NotFound, Throttled
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_membership import domain, store
from ck_membership.settings import MembershipSettings
from ck_membership.tables import InvitationStatus, MembershipState, invitations, memberships

log = get_logger(__name__)
router = RpcRouter()

CODE_MALFORMED = "Een activatiecode bestaat uit 12 letters en cijfers, bijvoorbeeld ABCD-EFGH-JKMN."
CODE_UNKNOWN = "Deze activatiecode is onbekend. Controleer de code."
CODE_USED = "Deze activatiecode is al gebruikt."
CODE_REVOKED = "Deze activatiecode is niet meer geldig. Vraag je school om een nieuwe uitnodiging."
ALREADY_ACTIVE = "Je hebt al een actief CJP-lidmaatschap."
NO_ACTIVE_MEMBERSHIP = "Deze persoon heeft geen actief lidmaatschap."


# --- activation (R-MEMBER-4) ---------------------------------------------------------------------
@router.op(Ops.ACTIVATE, Activate, public=True)
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
            domain.throttled_message(wait), retry_after_seconds=math.ceil(wait.total_seconds())
        )
    today = now.astimezone(UTC).date()
    errors = domain.details_errors(
        cmd.voornaam, cmd.achternaam, cmd.email, cmd.geboortedatum, today
    )
    if code is None:
        errors = {"code": CODE_MALFORMED, **errors}
    if errors:
        raise Invalid(_summary(errors), fields=errors)
    assert code is not None
    async with call.db.transaction() as session:
        outcome = await _claim(session, code, cmd, now)
        if isinstance(outcome, str) and not personal:
            await store.record_failure(session, [b.key for b in checked], now)
    if isinstance(outcome, str):
        log.info("activation.refused", reason=_REASONS[outcome], personal_link=personal)
        raise Invalid(outcome, fields={"code": outcome})
    return outcome


def _limits(call: Call) -> domain.Limits:
    settings = call.deps
    if isinstance(settings, MembershipSettings):
        return settings.activation_limits()
    return domain.DEFAULT_LIMITS


_REASONS = {CODE_UNKNOWN: "unknown", CODE_USED: "used", CODE_REVOKED: "revoked"}


def _summary(errors: dict[str, str]) -> str:
    return next(iter(errors.values())) if len(errors) == 1 else "Controleer de invoer."


async def _claim(session: AsyncSession, code: str, cmd: Activate, now: datetime) -> Any:
    """Activated, or the Dutch reason the code does not work."""
    invitation = (
        await session.execute(select(invitations).where(invitations.c.code == code))
    ).first()
    if invitation is None:
        return CODE_UNKNOWN
    if invitation.status == InvitationStatus.USED:
        return CODE_USED
    if invitation.status == InvitationStatus.REVOKED:
        return CODE_REVOKED
    claimed = await session.execute(
        update(invitations)
        .where(invitations.c.id == invitation.id, invitations.c.status == InvitationStatus.OPEN)
        .values(status=InvitationStatus.USED, closed_at=now)
    )
    if claimed.rowcount != 1:
        return CODE_USED  # a simultaneous activation of the same code won
    card_number = await store.new_card_number(session)
    email = domain.normalise_email(cmd.email)
    values = {
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
    }
    statement = store.dialect_insert(session)(memberships).values(**values)
    # A person whose membership ended may activate again (after a new invitation): the row is
    # theirs, with a new card number. An active membership is never overwritten.
    upsert = statement.on_conflict_do_update(
        index_elements=["person_id"],
        set_={k: statement.excluded[k] for k in values if k != "person_id"},
        where=memberships.c.status == MembershipState.ENDED,
    )
    if (await session.execute(upsert)).rowcount != 1:
        raise Conflict(ALREADY_ACTIVE, fields={"code": ALREADY_ACTIVE})  # rolls the claim back
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


# --- ending (CJP) --------------------------------------------------------------------------------
@router.op(Ops.END, EndMembership)
async def end_membership(call: Call, cmd: EndMembership) -> None:
    """A CJP admin ends an active membership (e.g. the member asked to stop). The member's
    details stay: the person is still on the school's roster."""
    call.require(Permission.END_MEMBERSHIP, cmd.school_id)
    async with call.db.transaction() as session:
        ended = await store.end_active_membership(
            session, cmd.person_id, EndReason.ENDED_BY_CJP, utcnow(), cmd.school_id
        )
    if not ended:
        raise NotFound(NO_ACTIVE_MEMBERSHIP)
    log.info("membership.ended", school_id=str(cmd.school_id), person_id=str(cmd.person_id))
