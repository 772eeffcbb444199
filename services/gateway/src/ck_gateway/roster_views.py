"""The roster pages' words and query strings, without I/O (R-ROSTER-1, R-ROSTER-6, R-MEMBER-1).

A list page's filter, sort and page travel as GET parameters, so a filtered page is a link.
This module turns those parameters into a ListRequest and back into links, and reads the
"student/docent toevoegen" form into PersonFields with Dutch messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.bounds import MAX_PAGE, clean_text, whole_number
from ck_contracts.roles import Actor, Permission, Role
from ck_contracts.roster import (
    ListFilter,
    ListRequest,
    MembershipStatus,
    PersonFields,
    RosterKind,
    Selection,
    SortField,
)
from ck_runtime.validation import field_errors
from pydantic import ValidationError

from ck_gateway.errors import render_fields

PAGE_SIZE = 50
GENERAL = "__all__"
SORT_FIELDS: tuple[str, ...] = get_args(SortField)
DESCENDING = "aflopend"

STATUS_LABELS: dict[MembershipStatus, str] = {
    MembershipStatus.NEW: "Nieuw",
    MembershipStatus.INVITED: "Uitnodiging verzonden",
    MembershipStatus.ACTIVE: "Actief lidmaatschap",
    MembershipStatus.INACTIVE: "Inactief lidmaatschap",
}


@dataclass(frozen=True)
class Column:
    name: str  # the SortField and the filter's query parameter
    label: str


@dataclass(frozen=True)
class RosterPage:
    """One of the two roster parts: "beheer studenten" or "beheer docenten"."""

    kind: RosterKind
    path: str
    title: str
    singular: str  # "student"
    plural: str  # "studenten"
    file_people: str  # as the manual's confirmation names them: "leerlingen"
    template_filename: str
    columns: tuple[Column, ...]
    form_fields: tuple[Column, ...]
    required: frozenset[str]

    @property
    def confirmation(self) -> str:
        return (
            f"Het bestand bevat alle {self.file_people} die recht hebben op een CJP-lidmaatschap."
        )

    @property
    def filter_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name != "status")


_NAME_COLUMNS = (
    Column("voornaam", "Voornaam"),
    Column("achternaam", "Achternaam"),
    Column("email", "E-mail"),
    Column("mobiel", "Mobiel"),
)
STUDENTS = RosterPage(
    kind=RosterKind.STUDENTS,
    path="/beheer-studenten",
    title="Beheer studenten",
    singular="student",
    plural="studenten",
    file_people="leerlingen",
    template_filename="template_leerlingen.xlsx",
    columns=(
        *_NAME_COLUMNS,
        Column("brin", "BRIN"),
        Column("studiejaar", "Leerjaar"),
        Column("klas", "Klas"),
        Column("opleiding", "Opleiding"),
        Column("status", "Status"),
    ),
    form_fields=(
        *_NAME_COLUMNS[:2],
        Column("email", "E-mailadres"),
        Column("mobiel", "Mobiel nummer"),
        Column("locatienaam", "Locatienaam"),
        Column("studiejaar", "Studiejaar"),
        Column("opleiding", "Opleiding"),
        Column("klas", "Klas"),
        Column("brin", "BRIN"),
    ),
    required=frozenset({"voornaam", "achternaam", "locatienaam", "studiejaar", "opleiding"}),
)
TEACHERS = RosterPage(
    kind=RosterKind.TEACHERS,
    path="/beheer-docenten",
    title="Beheer docenten",
    singular="docent",
    plural="docenten",
    file_people="docenten",
    template_filename="template_docenten.xlsx",
    columns=(
        *_NAME_COLUMNS,
        Column("locatienaam", "Locatie"),
        Column("afdeling", "Afdeling"),
        Column("status", "Status"),
    ),
    form_fields=(
        *_NAME_COLUMNS[:2],
        Column("email", "E-mailadres"),
        Column("mobiel", "Mobiel nummer"),
        Column("locatienaam", "Locatienaam"),
        Column("afdeling", "Afdeling"),
    ),
    required=frozenset({"voornaam", "achternaam", "locatienaam"}),
)
PAGES: dict[RosterKind, RosterPage] = {STUDENTS.kind: STUDENTS, TEACHERS.kind: TEACHERS}


def count_text(page: RosterPage, total: int) -> str:
    return f"{total} {page.singular if total == 1 else page.plural}"


# --- the list's query string ------------------------------------------------------------------
@dataclass
class ListQuery:
    """What the list page was asked for, as the contract's request and as the form's values."""

    request: ListRequest
    values: dict[str, str]
    statuses: list[str]
    errors: dict[str, str] = field(default_factory=dict)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query parameters of this list, with some changed (sort, pagina)."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        pairs += [("status", s) for s in self.statuses]
        base: dict[str, str] = {
            "sort": self.request.sort,
            "richting": DESCENDING if self.request.descending else "oplopend",
            "pagina": str(self.request.page),
        }
        base.update({k: str(v) for k, v in changes.items()})
        return pairs + list(base.items())

    def link(self, path: str, **changes: Any) -> str:
        return f"{path}?{urlencode(self.params(**changes))}"

    def sort_link(self, path: str, column: str) -> str:
        """Sorting on a column: ascending first; the current column toggles its direction."""
        descending = column == self.request.sort and not self.request.descending
        return self.link(
            path, sort=column, richting=DESCENDING if descending else "oplopend", pagina=1
        )

    def sort_label(self, column: Column) -> str:
        if column.name == self.request.sort and not self.request.descending:
            return f"Sorteer {column.label.lower()} aflopend"
        return f"Sorteer {column.label.lower()} oplopend"

    def sort_mark(self, column: str) -> str:
        if column != self.request.sort:
            return ""
        return "▼" if self.request.descending else "▲"

    @property
    def filtered(self) -> bool:
        return any(self.values.values()) or bool(self.statuses)


def _first(params: Mapping[str, Any], name: str) -> str:
    """A query parameter as a filter term: cleaned of control characters, one line (the
    list narrows, it never fails on what a link carries)."""
    value = params.get(name, "")
    return clean_text(value) if isinstance(value, str) else ""


def parse_list_query(
    page: RosterPage, school_id: UUID, params: Any, page_size: int = PAGE_SIZE
) -> ListQuery:
    """Query parameters -> ListRequest; nonsense (an unknown sort, page "x") falls back quietly,
    a studiejaar that is no number gets a message and is not filtered on."""
    values = {name: _first(params, name)[:100] for name in page.filter_names}
    known = {s.value for s in MembershipStatus}
    statuses = [s for s in dict.fromkeys(params.getlist("status")) if s in known]
    errors: dict[str, str] = {}
    studiejaar: int | None = None
    if raw := values.get("studiejaar", ""):
        studiejaar = whole_number(raw, low=1, high=99)
        if studiejaar is None:
            errors["studiejaar"] = "Vul bij leerjaar een heel getal in."
    text_filters = {k: v for k, v in values.items() if k != "studiejaar"}
    list_filter = ListFilter(
        **text_filters,
        studiejaar=studiejaar,
        statuses=[MembershipStatus(s) for s in statuses],
    )
    sort = _first(params, "sort")
    if sort not in SORT_FIELDS or sort not in {c.name for c in page.columns}:
        sort = "achternaam"
    number = whole_number(_first(params, "pagina"), low=1, high=MAX_PAGE) or 1
    request = ListRequest(
        school_id=school_id,
        kind=page.kind,
        filter=list_filter,
        sort=sort,  # checked against SORT_FIELDS above
        descending=_first(params, "richting") == DESCENDING,
        page=max(1, number),
        page_size=page_size,
    )
    return ListQuery(request, values, statuses, errors)


def page_count(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


# --- the add form -----------------------------------------------------------------------------
@dataclass
class ParsedPerson:
    values: dict[str, str]
    fields: PersonFields | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _field_name(path: str) -> str:
    """A service's field path ("fields.email", "email") -> the form's field name."""
    return path.rsplit(".", 1)[-1] if path else GENERAL


def person_errors(fields: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for path, message in fields.items():
        errors.setdefault(_field_name(path), message)
    return errors


def parse_person_form(page: RosterPage, form: Mapping[str, Any]) -> ParsedPerson:
    """The add form -> PersonFields; blanks in required fields, a studiejaar that is no whole
    number and the contract's own limits (lengths, control characters) get a Dutch message
    here, all at once. The other rules (e-mail, mobiel) are the service's: the page asks it
    (Ops.CHECK_PERSON) when this check refuses, so one round shows everything (issue 14)."""
    values = {}
    for column in page.form_fields:
        raw = form.get(column.name, "")
        values[column.name] = raw.strip() if isinstance(raw, str) else ""
    errors = {
        c.name: f"Vul {c.label.lower()} in."
        for c in page.form_fields
        if c.name in page.required and not values[c.name]
    }
    data: dict[str, Any] = {k: v for k, v in values.items() if k != "studiejaar"}
    if "studiejaar" in values and values["studiejaar"] and "studiejaar" not in errors:
        year = whole_number(values["studiejaar"], low=1, high=99)
        if year is not None:
            data["studiejaar"] = year
        else:
            errors["studiejaar"] = "Vul een heel getal van 1 tot en met 6 in."
    try:
        checked = PersonFields.model_validate(data)
    except ValidationError as exc:
        for name, message in person_errors(render_fields(field_errors(exc))).items():
            errors.setdefault(name, message)
    else:
        if not errors:
            return ParsedPerson(values, checked)
    return ParsedPerson(values, errors=errors)


# --- "studenten uitnodigen" (R-MEMBER-2) ------------------------------------------------------
TICKED = "aangevinkt"
FILTERED = "filter"
NOBODY_TICKED = "Vink eerst aan wie een uitnodiging krijgt, of kies alle personen van het filter."
TOO_MANY_TICKED = "U kunt zo veel personen niet één voor één aanvinken. Kies het filter."
MAX_TICKED = 10_000  # Selection.person_ids


def may_invite(actor: Actor, school_id: UUID, kind: RosterKind) -> bool:
    """R-ROLE-2: the budget holder invites both parts; a Docent+ invites students only."""
    if not actor.may(Permission.INVITE_MEMBERS, school_id):
        return False
    return actor.role != Role.DOCENT_PLUS or kind == RosterKind.STUDENTS


def may_export(actor: Actor, school_id: UUID, kind: RosterKind) -> bool:
    """ "export excel" is the list with its codes: whoever sees the list, except that a Docent+
    sees "beheer studenten" only (R-ROLE-2)."""
    if not actor.may(Permission.VIEW_ROSTER, school_id):
        return False
    return actor.role != Role.DOCENT_PLUS or kind == RosterKind.STUDENTS


@dataclass
class InviteForm:
    selection: Selection | None
    error: str = ""


def _uuids(values: list[Any]) -> list[UUID]:
    ids: list[UUID] = []
    for value in values:
        if isinstance(value, str):
            try:
                ids.append(UUID(value))
            except ValueError:
                continue
    return ids


def parse_invite_form(query: ListQuery, form: Any) -> InviteForm:
    """The invite form -> a Selection. "alle N personen die aan het filter voldoen" is the list's
    filter (everyone when nothing is filtered); otherwise the ticked people, and when the header
    box is ticked every person of the page (the page's ids travel as hidden fields, so this
    works without scripts too)."""
    if form.get("keuze") == FILTERED:
        if query.filtered:
            return InviteForm(Selection(filter=query.request.filter))
        return InviteForm(Selection(all=True))
    ticked = form.getlist("persoon")
    if form.get("hele_pagina") == "ja":
        ticked = [*ticked, *form.getlist("pagina_id")]
    ids = list(dict.fromkeys(_uuids(ticked)))
    if not ids:
        return InviteForm(None, NOBODY_TICKED)
    if len(ids) > MAX_TICKED:
        return InviteForm(None, TOO_MANY_TICKED)
    return InviteForm(Selection(person_ids=ids))


def invite_notice_seal(secret: str, school_id: UUID, requested: int, skipped_active: int) -> str:
    """The `teken` of an invite's notice link (?gedaan=uitgenodigd&aantal=N&al_actief=M): an
    HMAC of the counts and the school under the gateway's secret key, so only the gateway's own
    redirect after "verstuur uitnodiging" shows them; counts in a link made by anyone else (a
    false "5000 uitnodigingen worden verstuurd") are not shown."""
    message = f"uitgenodigd:{school_id}:{requested}:{skipped_active}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def invite_notice(requested: int, skipped_active: int) -> str:
    """ "N uitnodigingen worden verstuurd; M hebben al een actief lidmaatschap"."""
    if requested == 1:
        text = "1 uitnodiging wordt verstuurd"
    else:
        text = f"{requested} uitnodigingen worden verstuurd"
    if skipped_active == 1:
        text += "; 1 persoon heeft al een actief lidmaatschap"
    elif skipped_active > 1:
        text += f"; {skipped_active} hebben al een actief lidmaatschap"
    return text + "."
