"""Messages of the roster service: people of a school (R-ROSTER-1..7, R-ROLE-1/2, R-AVG-1/2).

Events carry ids and counts, never names or addresses (R-AVG-2), except TeacherRemoved, whose
consumer needs them to erase its copies. Files travel to the roster service base64-encoded
inside the RPC payload; the gateway limits their size first.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.bounds import (
    Code,
    Email,
    FileName,
    Name,
    Page,
    PageSize,
    Phone,
    RequiredName,
    SearchText,
    ShortText,
)
from ck_contracts.messaging import Event, register_event

SERVICE = "roster"

# A studiejaar is 1 to 6 (R-ROSTER-2, the roster's own rule and message); the contract only
# keeps numbers in a range no column can overflow on.
StudyYear = Annotated[int, Field(ge=1, le=99)]
# Roster files travel base64-encoded (4/3 of their size); the gateway's upload limit
# (GATEWAY_MAX_UPLOAD_BYTES, default 12 MiB) may be set to at most MAX_FILE_BYTES.
MAX_FILE_BYTES = 48 * 1024 * 1024
MAX_FILE_B64 = MAX_FILE_BYTES // 3 * 4 + 4


class RosterKind(StrEnum):
    STUDENTS = "students"  # template_leerlingen.xlsx, "beheer studenten"
    TEACHERS = "teachers"  # template_docenten.xlsx, "beheer docenten"


class MembershipStatus(StrEnum):
    """R-MEMBER-1, as shown in the list (the roster keeps a projection of membership events)."""

    NEW = "nieuw"
    INVITED = "uitnodiging_verzonden"
    ACTIVE = "actief"
    INACTIVE = "inactief"


# --- events -----------------------------------------------------------------------------------
@register_event
class RosterUploaded(Event):
    """A whole roster was replaced (R-ROSTER-4). Counts only."""

    routing_key = "roster.roster.uploaded"
    upload_id: UUID
    kind: RosterKind
    added: int
    kept: int
    removed: int
    total: int


@register_event
class PersonAdded(Event):
    """A person joined the roster (by upload or by hand). Ids only."""

    routing_key = "roster.person.added"
    person_id: UUID
    kind: RosterKind
    has_email: bool


# An upload's new people travel in chunks: 1,000 ids are about 40 kB of JSON.
PEOPLE_PER_EVENT = 1000


@register_event
class RosterPeopleAdded(Event):
    """People an upload added to a roster (R-ROSTER-4), at most PEOPLE_PER_EVENT ids per event
    (50,000 new people: 50 events, in the upload's transaction), so a service that accepts
    person ids knows who is on the school's roster (the weborders service's dossier,
    R-DOSSIER-1). Ids only (R-AVG-2). People added by hand come as PersonAdded, people who left
    as PersonRemoved."""

    routing_key = "roster.people.added"
    upload_id: UUID
    kind: RosterKind
    person_ids: list[UUID] = Field(min_length=1, max_length=PEOPLE_PER_EVENT)


@register_event
class PersonRemoved(Event):
    """A person left the roster (by upload or by hand). Consumers revoke invitations, end
    Docent+ access and return unspent individual budget (R-ROSTER-7)."""

    routing_key = "roster.person.removed"
    person_id: UUID
    kind: RosterKind


@register_event
class TeacherRemoved(Event):
    """A teacher left the roster (published with their PersonRemoved).

    The one roster event with a name and an address, because its consumer needs them: the
    weborders service keeps copies where a teacher arranged something (the Docent+ address of
    a weborder, the requester of an offer request, the author of a dossier note) and finds and
    erases them with these (R-AVG-2). Nothing keeps the event: the roster's outbox blanks it
    when it is published, the consumer's inbox keeps its id.
    """

    routing_key = "roster.teacher.removed"
    person_id: UUID
    voornaam: str = ""
    achternaam: str = ""
    email: str = ""


# --- shapes -----------------------------------------------------------------------------------
class PersonFields(BaseModel):
    """One row of a template (R-ROSTER-1). Students use studiejaar/opleiding/klas/brin,
    teachers afdeling. Strings are trimmed; empty optional fields are ""."""

    model_config = ConfigDict(str_strip_whitespace=True)

    voornaam: Name = ""
    achternaam: Name = ""
    email: Email = ""
    mobiel: Phone = ""
    locatienaam: Name = ""
    studiejaar: StudyYear | None = None
    opleiding: Name = ""
    klas: ShortText = ""
    brin: Code = ""
    afdeling: ShortText = ""


class Person(PersonFields):
    person_id: UUID
    kind: RosterKind
    status: MembershipStatus = MembershipStatus.NEW
    activation_code: str = ""


class RowError(BaseModel):
    row: int  # the spreadsheet's row number as the school sees it (1 = header)
    column: str  # the column's name from the template, or "" for the whole file/row
    message: str  # Dutch


class ValidationReport(BaseModel):
    ok: bool
    count: int  # people in the file
    errors: list[RowError] = Field(default_factory=list)
    message: str  # Dutch summary: "N leerling(en) gevalideerd!" or what is wrong


class UploadResult(BaseModel):
    upload_id: UUID
    added: int
    kept: int
    removed: int
    total: int


# --- operations -------------------------------------------------------------------------------
class TemplateRequest(BaseModel):
    kind: RosterKind


class TemplateFile(BaseModel):
    filename: str
    content_b64: str


class FileRequest(BaseModel):
    school_id: UUID
    kind: RosterKind
    filename: FileName
    content_b64: str = Field(max_length=MAX_FILE_B64)


class UploadRequest(FileRequest):
    confirmed: bool  # "Het bestand bevat alle leerlingen die recht hebben op een CJP-lidmaatschap"


class AddPerson(BaseModel):
    school_id: UUID
    kind: RosterKind
    fields: PersonFields


class RemovePerson(BaseModel):
    school_id: UUID
    person_id: UUID
    # The list the person is removed from: a student's id on the teachers' list (or the other
    # way round) matches nothing. None: either list (older callers).
    kind: RosterKind | None = None


SortField = Literal[
    "voornaam",
    "achternaam",
    "email",
    "mobiel",
    "brin",
    "studiejaar",
    "klas",
    "opleiding",
    "locatienaam",
    "afdeling",
    "status",
]


class ListFilter(BaseModel):
    """Each text filter matches case-insensitively on a part of the value; statuses: any of."""

    voornaam: SearchText = ""
    achternaam: SearchText = ""
    email: SearchText = ""
    mobiel: SearchText = ""
    brin: SearchText = ""
    studiejaar: StudyYear | None = None
    klas: SearchText = ""
    opleiding: SearchText = ""
    locatienaam: SearchText = ""
    afdeling: SearchText = ""
    statuses: list[MembershipStatus] = Field(default_factory=list, max_length=8)


class ListRequest(BaseModel):
    school_id: UUID
    kind: RosterKind
    filter: ListFilter = Field(default_factory=ListFilter)
    sort: SortField = "achternaam"
    descending: bool = False
    page: Page = 1
    page_size: PageSize = 50


class PersonPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[Person]


class Selection(BaseModel):
    """Whom "verstuur uitnodiging" is for (R-MEMBER-2): everyone; the ticked people; or
    everyone matching a filter, however many pages. Exactly one of the three."""

    all: bool = False
    person_ids: list[UUID] = Field(default_factory=list, max_length=10_000)
    filter: ListFilter | None = None


class InviteRequest(BaseModel):
    school_id: UUID
    kind: RosterKind
    selection: Selection
    school_name: RequiredName  # for the mail (R-MEMBER-5)


class InviteResult(BaseModel):
    """requested: people handed to the membership service; skipped_active: already members
    (left alone, R-MEMBER-2). Mails go out in the background."""

    request_id: UUID
    requested: int
    skipped_active: int


class ExportRequest(BaseModel):
    """ "export excel": the list (with activatiecode) as .xlsx, the same filter as the list."""

    school_id: UUID
    kind: RosterKind
    filter: ListFilter = Field(default_factory=ListFilter)


class PersonRef(BaseModel):
    school_id: UUID
    person_id: UUID


class Ops:
    INVITE = "roster.invite"
    EXPORT = "roster.export"  # -> TemplateFile (an .xlsx)
    PERSON_GET = "roster.person.get"  # -> Person
    TEMPLATE = "roster.template"
    VALIDATE = "roster.validate"
    UPLOAD = "roster.upload"
    ADD_PERSON = "roster.person.add"
    REMOVE_PERSON = "roster.person.remove"
    LIST = "roster.list"
