"""Whom "verstuur uitnodiging" is for (R-MEMBER-2), without I/O: a selection is exactly one of
everyone, the ticked people or a filter; the selected people become InvitationsRequested
chunks for the membership service, and people with an active membership are left alone and
counted. The people are found by store.selected_people."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from ck_contracts.membership import MAX_PEOPLE_PER_EVENT, InvitationsRequested, Invitee
from ck_contracts.roster import MembershipStatus, RosterKind, RosterReason, Selection

from ck_roster.domain import Problem


def selection_problem(selection: Selection) -> Problem | None:
    """None when the selection names exactly one way of selecting."""
    ways = int(selection.all) + int(bool(selection.person_ids)) + int(selection.filter is not None)
    if ways == 0:
        return Problem(RosterReason.SELECTION_NONE)
    if ways > 1:
        return Problem(RosterReason.SELECTION_AMBIGUOUS)
    return None


def invitation_events(
    school_id: UUID,
    kind: RosterKind,
    school_name: str,
    school_number: int,
    rows: Iterable[Sequence[Any]],
    request_id: UUID,
) -> tuple[list[InvitationsRequested], int]:
    """The InvitationsRequested chunks for the (id, email, voornaam, status) rows, and how many
    were skipped as active."""
    active = MembershipStatus.ACTIVE.value
    invitees: list[Invitee] = []
    skipped = 0
    for person_id, email, voornaam, status in rows:
        if status == active:
            skipped += 1
            continue
        # model_construct: the values come from our own table, already checked at upload.
        invitees.append(
            Invitee.model_construct(person_id=person_id, email=email, voornaam=voornaam)
        )
    events = [
        InvitationsRequested(
            school_id=school_id,
            request_id=request_id,
            kind=kind,
            school_name=school_name,
            school_number=school_number,
            people=invitees[i : i + MAX_PEOPLE_PER_EVENT],
        )
        for i in range(0, len(invitees), MAX_PEOPLE_PER_EVENT)
    ]
    return events, skipped
