"""Messages of the membership service (R-MEMBER-1..5, R-ROLE-5, R-ROSTER-7).

The membership service owns invitations, activation codes, memberships and CJP card numbers.
The flow of an invitation (R-MEMBER-2):

  gateway --roster.invite--> roster: resolves the selection (all / ids / filter)
  roster --InvitationsRequested (chunks of at most 500 people)--> membership
  membership: one open invitation with an activation code per person (active members skipped)
  membership --EmailsRequested (template invitation, those with an e-mail)--> notifier
  membership --InvitationsSent (ids + codes)--> roster: status column and activatiecode column

InvitationsRequested carries the e-mail address and first name because the invitation mail
needs them (R-AVG-2 allows personal data in an event whose consumer needs it); every other
event here carries ids only.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.bounds import CODE_MAX, RequiredEmail, Text
from ck_contracts.messaging import Event, register_event
from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission
from ck_contracts.roster import RosterKind
from ck_contracts.rpc import FieldProblems, Reasons

SERVICE = "membership"

# A chunk of InvitationsRequested / InvitationsSent never holds more people than this, so one
# message stays small (about 100 kB) and one transaction short.
MAX_PEOPLE_PER_EVENT = 500

# A member's own name as the membership keeps it (100 characters, its column's size).
MemberName = Annotated[str, Text(100, min_length=1)]


# --- events -----------------------------------------------------------------------------------
class Invitee(BaseModel):
    """One person to invite. email "" = no mail, only a code (R-MEMBER-3, alternative process)."""

    model_config = ConfigDict(frozen=True)

    person_id: UUID
    email: str = ""
    voornaam: str = ""


@register_event
class InvitationsRequested(Event):
    """The school pressed "verstuur uitnodiging" for these people (one chunk of the selection).

    Published by the roster; school_id is set. request_id groups the chunks of one click.
    """

    routing_key = "roster.invitations.requested"
    request_id: UUID
    kind: RosterKind
    school_name: str
    school_number: int
    people: list[Invitee] = Field(max_length=MAX_PEOPLE_PER_EVENT)


class SentInvitation(BaseModel):
    model_config = ConfigDict(frozen=True)

    person_id: UUID
    activation_code: str  # shown to the school in its list (R-MEMBER-3); not personal data
    mailed: bool  # False: the person has no e-mail address, the school hands out the code


@register_event
class InvitationsSent(Event):
    """Invitations were created (or sent again) for these people. school_id is set."""

    routing_key = "membership.invitations.sent"
    kind: RosterKind
    invitations: list[SentInvitation] = Field(max_length=MAX_PEOPLE_PER_EVENT)
    # issue 14 (invitation runs): the InvitationsRequested chunk's request_id (the run). Set:
    # published for every chunk handled, even when it invited no one, so the run knows when
    # all its chunks are handled; its `mailed` invitations are the run's mails queued.
    request_id: UUID | None = None


@register_event
class MembershipActivated(Event):
    """A member activated their CJP (R-MEMBER-4). school_id is set.

    card_number is the member's CJP card number: card payments (R-WEB-6) are made with it.
    """

    routing_key = "membership.membership.activated"
    person_id: UUID
    kind: RosterKind
    card_number: str


class EndReason(StrEnum):
    REMOVED_FROM_ROSTER = "removed_from_roster"  # R-ROSTER-7
    ENDED_BY_CJP = "ended_by_cjp"  # a CJP admin ended it (e.g. the member asked to stop)


@register_event
class MembershipEnded(Event):
    """An active membership stopped: status Inactief lidmaatschap. school_id is set."""

    routing_key = "membership.membership.ended"
    person_id: UUID
    kind: RosterKind
    reason: EndReason


# --- operations -------------------------------------------------------------------------------
class CheckActivationCode(BaseModel):
    """Issue 14 (one round of errors): the code as typed, for its format only. The page checks
    the member's details itself; this tells it, in the same round, whether the code can be a
    code at all. Nothing is looked up or counted: it reveals nothing about codes."""

    code: Annotated[str, Field(max_length=CODE_MAX)] = ""


class Activate(BaseModel):
    """The public activation page (/activeren): the code plus the member's own details."""

    model_config = ConfigDict(str_strip_whitespace=True)

    code: Annotated[str, Text(CODE_MAX, min_length=1)]
    voornaam: MemberName
    achternaam: MemberName
    email: RequiredEmail
    geboortedatum: date
    # Who is trying, for throttling guesses: the gateway sends a keyed hash of the client's
    # address, never the address itself.
    client: Annotated[str, Text(128, min_length=1)]
    # The second value of the invitation mail's personal link (`sleutel`), when the member came
    # by it: the right pair of code and key is never throttled. Empty: a typed code.
    link_key: Annotated[str, Text(64)] = ""


class Activated(BaseModel):
    card_number: str
    school_name: str
    kind: RosterKind


class EndMembership(BaseModel):
    school_id: UUID
    person_id: UUID


class MembershipReason(Reasons):
    """Why the membership service says no (the gateway has their Dutch)."""

    CODE_MALFORMED = "activation_code_malformed"  # not 12 characters of the code alphabet
    CODE_UNKNOWN = "activation_code_unknown"
    CODE_USED = "activation_code_used"
    CODE_REVOKED = "activation_code_revoked"
    ALREADY_ACTIVE = "membership_already_active"
    NO_ACTIVE_MEMBERSHIP = "no_active_membership"
    THROTTLED = "activation_throttled"  # {minutes}: how long the attempts are refused
    # Per field of the member's details (Activate), also checked by the activation form.
    EMAIL_INVALID = "member.email_invalid"
    BIRTH_DATE_FUTURE = "member.birth_date_future"
    BIRTH_DATE_IMPLAUSIBLE = "member.birth_date_implausible"  # younger than 12, older than 100
    INVALID_CHARACTERS = "member.invalid_characters"


_R = MembershipReason


class Ops:
    """The membership service's operations."""

    # Public (no log-in), throttled per client (R-MEMBER-4).
    ACTIVATE = Operation[Activate, Activated](
        SERVICE,
        "membership.activate",
        Activate,
        Activated,
        Audience.PUBLIC,
        reasons=(
            _R.CODE_MALFORMED,
            _R.CODE_UNKNOWN,
            _R.CODE_USED,
            _R.CODE_REVOKED,
            _R.ALREADY_ACTIVE,
            _R.THROTTLED,
            _R.EMAIL_INVALID,
            _R.BIRTH_DATE_FUTURE,
            _R.BIRTH_DATE_IMPLAUSIBLE,
            _R.INVALID_CHARACTERS,
        ),
    )
    # A CJP admin ends an active membership (R-MEMBER-1).
    END = Operation[EndMembership, None](
        SERVICE,
        "membership.end",
        EndMembership,
        None,
        Audience.ADMIN,
        permission=Permission.END_MEMBERSHIP,
        school_scoped=True,
        reasons=(_R.NO_ACTIVE_MEMBERSHIP,),
    )
    # --- issue 14: one round of errors -------------------------------------------------------
    CHECK_ACTIVATION_CODE = Operation[CheckActivationCode, FieldProblems](
        SERVICE,
        "membership.activation.check_code",
        CheckActivationCode,
        FieldProblems,
        Audience.PUBLIC,
        reasons=(_R.CODE_MALFORMED,),
    )
