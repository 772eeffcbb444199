"""Whom "verstuur uitnodiging" is for (R-MEMBER-2), and the "export excel" of the list
(R-MEMBER-3, alternative process 3.4).

The roster owns the people, so it resolves a selection (everyone; the ticked people; everyone
matching a filter, however many pages) and hands the people to the membership service as
InvitationsRequested chunks in its outbox, all in one transaction. People with an active
membership are left alone and counted. Both reads use the list's own filter (listing.conditions)
and select plain columns: 50,000 people are a few tuples, never ORM objects or Person models.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ck_contracts.membership import MAX_PEOPLE_PER_EVENT, InvitationsRequested, Invitee
from ck_contracts.roster import (
    ListFilter,
    MembershipStatus,
    RosterKind,
    Selection,
)
from ck_runtime.errors import Invalid
from ck_runtime.spreadsheets import cell_text
from openpyxl import Workbook
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster.listing import conditions
from ck_roster.tables import people

ID_CHUNK = 2000  # ids per IN (...): well under SQLite's and asyncpg's parameter limits
NO_SELECTION = (
    "Kies eerst wie een uitnodiging krijgt: iedereen, aangevinkte personen of een filter."
)
AMBIGUOUS_SELECTION = (
    "Kies één manier van selecteren: iedereen, aangevinkte personen of een filter."
)
DUTCH_TIME = ZoneInfo("Europe/Amsterdam")

STATUS_LABELS: dict[str, str] = {
    MembershipStatus.NEW.value: "Nieuw",
    MembershipStatus.INVITED.value: "Uitnodiging verzonden",
    MembershipStatus.ACTIVE.value: "Actief lidmaatschap",
    MembershipStatus.INACTIVE.value: "Inactief lidmaatschap",
}

# The export's columns: the list's columns (as the portal shows them), status and activatiecode.
EXPORT_COLUMNS: dict[RosterKind, tuple[tuple[str, str], ...]] = {
    RosterKind.STUDENTS: (
        ("voornaam", "Voornaam"),
        ("achternaam", "Achternaam"),
        ("email", "E-mail"),
        ("mobiel", "Mobiel"),
        ("brin", "BRIN"),
        ("studiejaar", "Leerjaar"),
        ("klas", "Klas"),
        ("opleiding", "Opleiding"),
        ("locatienaam", "Locatie"),
        ("status", "Status"),
        ("activation_code", "Activatiecode"),
    ),
    RosterKind.TEACHERS: (
        ("voornaam", "Voornaam"),
        ("achternaam", "Achternaam"),
        ("email", "E-mail"),
        ("mobiel", "Mobiel"),
        ("locatienaam", "Locatie"),
        ("afdeling", "Afdeling"),
        ("status", "Status"),
        ("activation_code", "Activatiecode"),
    ),
}
FILE_PREFIX = {RosterKind.STUDENTS: "studenten", RosterKind.TEACHERS: "docenten"}


# --- the selection ------------------------------------------------------------------------------
def selection_conditions(
    school_id: UUID, kind: RosterKind, selection: Selection
) -> list[list[ColumnElement[bool]]]:
    """The WHERE clauses that find the selected people: one list per statement (ticked ids go
    in chunks). Exactly one way of selecting, else Invalid."""
    ways = int(selection.all) + int(bool(selection.person_ids)) + int(selection.filter is not None)
    if ways == 0:
        raise Invalid(NO_SELECTION, fields={"selection": NO_SELECTION})
    if ways > 1:
        raise Invalid(AMBIGUOUS_SELECTION, fields={"selection": AMBIGUOUS_SELECTION})
    if selection.all:
        return [conditions(school_id, kind, ListFilter())]
    if selection.filter is not None:
        return [conditions(school_id, kind, selection.filter)]
    base = conditions(school_id, kind, ListFilter())
    ids = list(dict.fromkeys(selection.person_ids))
    return [[*base, people.c.id.in_(ids[i : i + ID_CHUNK])] for i in range(0, len(ids), ID_CHUNK)]


_INVITE_COLUMNS = (people.c.id, people.c.email, people.c.voornaam, people.c.status)


async def selected_people(
    session: AsyncSession, school_id: UUID, kind: RosterKind, selection: Selection
) -> list[Any]:
    """(id, email, voornaam, status) rows of the selected people, in id order."""
    rows: list[Any] = []
    for where in selection_conditions(school_id, kind, selection):
        query = select(*_INVITE_COLUMNS).where(*where).order_by(people.c.id)
        rows.extend((await session.execute(query)).all())
    return rows


def invitation_events(
    school_id: UUID,
    kind: RosterKind,
    school_name: str,
    school_number: int,
    rows: Iterable[Sequence[Any]],
    request_id: UUID,
) -> tuple[list[InvitationsRequested], int]:
    """The InvitationsRequested chunks for the rows, and how many were skipped as active."""
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


def new_request_id() -> UUID:
    return uuid.uuid4()


# --- export excel -------------------------------------------------------------------------------
def export_filename(kind: RosterKind, school_number: int, now: datetime) -> str:
    return f"{FILE_PREFIX[kind]}_{school_number}_{now.astimezone(DUTCH_TIME):%Y-%m-%d}.xlsx"


def export_query(school_id: UUID, kind: RosterKind, filt: ListFilter) -> Any:
    names = [name for name, _ in EXPORT_COLUMNS[kind]]
    return (
        select(*(people.c[name] for name in names))
        .where(*conditions(school_id, kind, filt))
        .order_by(people.c.achternaam_lower, people.c.voornaam_lower, people.c.id)
    )


def export_xlsx(kind: RosterKind, rows: Iterable[Sequence[Any]]) -> bytes:
    """The rows as an .xlsx in openpyxl's write-only mode (streams, no cell objects kept)."""
    columns = EXPORT_COLUMNS[kind]
    status_at = [name for name, _ in columns].index("status")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    sheet.freeze_panes = "A2"
    for letter, (name, _) in zip("ABCDEFGHIJKLMNOP", columns, strict=False):
        sheet.column_dimensions[letter].width = 14 if name in ("studiejaar", "klas", "brin") else 22
    sheet.append([label for _, label in columns])
    labels = STATUS_LABELS
    for row in rows:
        values = list(row)
        values[status_at] = labels.get(values[status_at], values[status_at])
        sheet.append([cell_text(v) if isinstance(v, str) else v for v in values])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
