"""Messages of the membership service (R-MEMBER-1..5). Issue 4 builds the service; these are
the facts other services (the roster's status column) already agree on. Ids only."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.messaging import Event, register_event

SERVICE = "membership"


@register_event
class InvitationSent(Event):
    """A person got (or got again) an invitation with an activation code."""

    routing_key = "membership.invitation.sent"
    person_id: UUID
    activation_code: str  # shown to the school in its list (R-MEMBER-3); not personal data


@register_event
class MembershipActivated(Event):
    routing_key = "membership.membership.activated"
    person_id: UUID


@register_event
class MembershipEnded(Event):
    routing_key = "membership.membership.ended"
    person_id: UUID
