"""Messages of the roster service: people of a school (R-ROSTER-1..7, R-ROLE-1/2, R-AVG-1/2).

Events carry ids and counts, never names or addresses (R-AVG-2), except TeacherRemoved, whose
consumer needs them to erase its copies. Files travel to the roster service base64-encoded
inside the RPC payload; the gateway limits their size first.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.bounds import (
    LONG_TEXT_MAX,
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
from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission
from ck_contracts.rpc import CommonReason, FieldProblems, Param, Reasons

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
    """One problem of a file: where (row, column) and what (a RosterReason with its params,
    e.g. "roster.cell.too_long" {"limit": 200, "length": 230})."""

    row: int  # the spreadsheet's row number as the school sees it (1 = header)
    column: str  # the column's name from the template, or "" for the whole file/row
    reason: str
    params: dict[str, Param] = Field(default_factory=dict)
    message: str = ""  # Dutch, filled in by the gateway from its catalogue


class ValidationReport(BaseModel):
    ok: bool
    count: int  # people in the file
    errors: list[RowError] = Field(default_factory=list)
    # The summary: "roster.file.valid_students" {"count": 312}, "roster.file.has_errors", ...
    reason: str
    params: dict[str, Param] = Field(default_factory=dict)
    message: str = ""  # Dutch summary, filled in by the gateway from its catalogue


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


class CheckPerson(BaseModel):
    """Issue 14: the add form's text as typed, for the service's rules only (nothing is
    stored): the gateway asks when its own check already refuses the form, so the page shows
    every problem in one round. Values are the raw text of each field (bounded, never stored)."""

    school_id: UUID
    kind: RosterKind
    # Not the Text annotation: the roster's own rules report control characters and lengths
    # (as for a file's cells), so the check takes the text as it came, only bounded.
    fields: dict[
        Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=LONG_TEXT_MAX)]
    ] = Field(default_factory=dict, max_length=20)


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


class RemovedPerson(BaseModel):
    person_id: UUID


# --- jobs: validation and upload in the background (issue 14) -----------------------------------
class JobAction(StrEnum):
    VALIDATE = "validate"  # the validatietool: the report only, nothing stored
    UPLOAD = "upload"  # replace the roster (R-ROSTER-4)


class JobStatus(StrEnum):
    QUEUED = "queued"  # accepted, waiting for a free worker of the roster service
    RUNNING = "running"
    DONE = "done"  # finished: `report` (validate) or `upload` (upload)
    FAILED = "failed"  # `reason` says why; an upload of a bad file has its red `report` too


# --- issue 14: an invitation run (one click on "verstuur uitnodiging") ----------------------------
class InvitationRunStatus(StrEnum):
    QUEUED = "queued"  # the membership service has not handled every chunk yet
    SENDING = "sending"  # every chunk handled: mails queued, not all of them sent (or failed)
    DONE = "done"  # every mail queued was sent or given up (failed)


class InvitationRunRef(BaseModel):
    school_id: UUID
    run_id: UUID


class InvitationRun(BaseModel):
    """One click's invitations and how far their mails got (counts only). `requested`: people
    handed to the membership service; `queued`: invitation mails it asked the notifier for
    (people without an e-mail address get a code only); `sent`: accepted by the SMTP server;
    `failed`: given up (an operator may replay them). Counts only grow."""

    run_id: UUID
    kind: RosterKind
    status: InvitationRunStatus
    requested: int
    skipped_active: int
    chunks: int
    chunks_handled: int
    queued: int
    sent: int
    failed: int
    created_at: datetime


class JobStart(FileRequest):
    """Start a validation or an upload in the background; the answer is the job (queued)."""

    action: JobAction
    confirmed: bool = False  # an upload needs it, as UploadRequest


class JobRef(BaseModel):
    school_id: UUID
    job_id: UUID


class RosterJob(BaseModel):
    """A validation or upload of a roster file and how far it got. Counts are of the file's
    people: `total` is known once the file is read (None before); `rows_read`, `validated` and
    `stored` only grow, and end at `total` when an upload is done."""

    job_id: UUID
    kind: RosterKind
    action: JobAction
    status: JobStatus
    filename: str = ""
    total: int | None = None
    rows_read: int = 0
    validated: int = 0
    stored: int = 0
    reason: str = ""  # a RosterReason when failed
    report: ValidationReport | None = None
    upload: UploadResult | None = None
    created_at: datetime
    finished_at: datetime | None = None


# --- reasons ----------------------------------------------------------------------------------
class RosterReason(Reasons):
    """What the roster service answers with; the gateway's catalogue has their Dutch. The
    cell and file reasons also appear in a ValidationReport's rows and summary."""

    UNKNOWN_SCHOOL = "roster.unknown_school"
    UNKNOWN_PERSON = "roster.unknown_person"
    EMAIL_TAKEN = "roster.email_taken"
    CONFIRM_STUDENTS = "roster.upload.confirm_students"
    CONFIRM_TEACHERS = "roster.upload.confirm_teachers"
    SELECTION_NONE = "roster.selection.none"
    SELECTION_AMBIGUOUS = "roster.selection.ambiguous"
    # a cell of a file, or a field entered by hand (R-ROSTER-2)
    CELL_REQUIRED = "roster.cell.required"
    CELL_INVALID_EMAIL = "roster.cell.invalid_email"
    CELL_DUPLICATE_EMAIL = "roster.cell.duplicate_email"  # first_row
    CELL_MOBIEL_06 = "roster.cell.mobiel_06"
    CELL_MOBIEL_INTERNATIONAL = "roster.cell.mobiel_international"
    CELL_MOBIEL_INVALID = "roster.cell.mobiel_invalid"
    CELL_STUDIEJAAR = "roster.cell.studiejaar"
    CELL_STUDIEJAAR_DATE = "roster.cell.studiejaar_date"
    CELL_DATE_IN_TEXT = "roster.cell.date_in_text"
    CELL_CONTROL_CHARACTER = "roster.cell.control_character"  # position
    CELL_TOO_LONG = "roster.cell.too_long"  # limit, length
    CELL_FORMULA = "roster.cell.formula"  # cell ("B7")
    # the header row
    COLUMNS_MISSING = "roster.columns.missing"  # columns ("voornaam, studiejaar")
    COLUMNS_UNKNOWN = "roster.columns.unknown"  # columns
    COLUMNS_DOUBLE = "roster.columns.double"  # columns
    # the whole file (R-ROSTER-3): a report's summary or its one row
    FILE_VALID_STUDENTS = "roster.file.valid_students"  # count
    FILE_VALID_TEACHERS = "roster.file.valid_teachers"  # count
    FILE_HAS_ERRORS = "roster.file.has_errors"  # errors
    FILE_COLUMNS = "roster.file.columns"  # expected
    FILE_NO_STUDENTS = "roster.file.no_students"
    FILE_NO_TEACHERS = "roster.file.no_teachers"
    FILE_UNCHECKABLE = "roster.file.uncheckable"
    FILE_NOT_BASE64 = "roster.file.not_base64"
    FILE_TOO_LARGE = "roster.file.too_large"  # limit ("10 MB"), max_bytes
    FILE_EMPTY = "roster.file.empty"
    FILE_NOT_EXCEL = "roster.file.not_excel"
    FILE_XLSB = "roster.file.xlsb"
    FILE_CORRUPT = "roster.file.corrupt"
    FILE_PROTECTED = "roster.file.protected"
    FILE_BOMB = "roster.file.bomb"
    FILE_NO_SHEET = "roster.file.no_sheet"
    FILE_FORMULAS = "roster.file.formulas"
    # jobs (issue 14)
    JOB_NOT_FOUND = "roster.job.not_found"
    JOB_INTERRUPTED = "roster.job.interrupted"  # the service stopped while the job ran
    # invitation runs (issue 14)
    RUN_NOT_FOUND = "roster.invitations.run_not_found"


# Every reason a file or a hand-entered person can be refused with.
_FILE_REASONS = tuple(r.value for r in RosterReason if r.value.startswith("roster.file."))
_CELL_REASONS = tuple(
    r.value for r in RosterReason if r.value.startswith(("roster.cell.", "roster.columns."))
)
_SCHOOL = (RosterReason.UNKNOWN_SCHOOL.value, CommonReason.FORBIDDEN.value)


# --- operations -------------------------------------------------------------------------------
class Ops:
    TEMPLATE = Operation[TemplateRequest, TemplateFile](
        SERVICE,
        "roster.template",
        TemplateRequest,
        TemplateFile,
        Audience.SCHOOL,
        permission=Permission.VIEW_ROSTER,
    )
    VALIDATE = Operation[FileRequest, ValidationReport](
        SERVICE,
        "roster.validate",
        FileRequest,
        ValidationReport,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, *_FILE_REASONS, *_CELL_REASONS),
    )
    UPLOAD = Operation[UploadRequest, UploadResult](
        SERVICE,
        "roster.upload",
        UploadRequest,
        UploadResult,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(
            *_SCHOOL,
            RosterReason.CONFIRM_STUDENTS,
            RosterReason.CONFIRM_TEACHERS,
            *_FILE_REASONS,
            *_CELL_REASONS,
        ),
    )
    ADD_PERSON = Operation[AddPerson, Person](
        SERVICE,
        "roster.person.add",
        AddPerson,
        Person,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.EMAIL_TAKEN, *_CELL_REASONS),
    )
    REMOVE_PERSON = Operation[RemovePerson, RemovedPerson](
        SERVICE,
        "roster.person.remove",
        RemovePerson,
        RemovedPerson,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.UNKNOWN_PERSON),
    )
    LIST = Operation[ListRequest, PersonPage](
        SERVICE,
        "roster.list",
        ListRequest,
        PersonPage,
        Audience.SCHOOL,
        permission=Permission.VIEW_ROSTER,
        school_scoped=True,
        reasons=_SCHOOL,
    )
    INVITE = Operation[InviteRequest, InviteResult](
        SERVICE,
        "roster.invite",
        InviteRequest,
        InviteResult,
        Audience.SCHOOL,
        permission=Permission.INVITE_MEMBERS,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.SELECTION_NONE, RosterReason.SELECTION_AMBIGUOUS),
    )
    EXPORT = Operation[ExportRequest, TemplateFile](  # an .xlsx
        SERVICE,
        "roster.export",
        ExportRequest,
        TemplateFile,
        Audience.SCHOOL,
        permission=Permission.VIEW_ROSTER,
        school_scoped=True,
        reasons=_SCHOOL,
    )
    PERSON_GET = Operation[PersonRef, Person](
        SERVICE,
        "roster.person.get",
        PersonRef,
        Person,
        Audience.SCHOOL,
        permission=Permission.VIEW_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.UNKNOWN_PERSON),
    )

    # --- jobs (issue 14): validation and upload in the background with progress (the
    # synchronous VALIDATE and UPLOAD stay for API clients that want one answer) ---
    JOB_START = Operation[JobStart, RosterJob](
        SERVICE,
        "roster.job.start",
        JobStart,
        RosterJob,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(
            *_SCHOOL,
            RosterReason.CONFIRM_STUDENTS,
            RosterReason.CONFIRM_TEACHERS,
            RosterReason.FILE_NOT_BASE64,
        ),
    )
    JOB_GET = Operation[JobRef, RosterJob](
        SERVICE,
        "roster.job.get",
        JobRef,
        RosterJob,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.JOB_NOT_FOUND),
    )
    # --- issue 14: invitation runs ------------------------------------------------------------
    INVITATION_RUN_GET = Operation[InvitationRunRef, InvitationRun](
        SERVICE,
        "roster.invitations.run.get",
        InvitationRunRef,
        InvitationRun,
        Audience.SCHOOL,
        permission=Permission.INVITE_MEMBERS,
        school_scoped=True,
        reasons=(*_SCHOOL, RosterReason.RUN_NOT_FOUND),
    )
    # --- issue 14: one round of errors -------------------------------------------------------
    CHECK_PERSON = Operation[CheckPerson, FieldProblems](
        SERVICE,
        "roster.person.check",
        CheckPerson,
        FieldProblems,
        Audience.SCHOOL,
        permission=Permission.UPLOAD_ROSTER,
        school_scoped=True,
        reasons=(*_SCHOOL, *_CELL_REASONS),
    )
