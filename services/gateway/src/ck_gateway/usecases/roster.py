"""The roster's use cases shared by the pages (routes/pages_roster.py, pages_membership.py)
and the JSON API (routes/api_roster.py): the template, checking and uploading a file, the
list, adding and removing a person, inviting and the export (R-ROSTER-1..7, R-MEMBER-2/3).

The roster service answers with reason codes; a validation report comes back with its Dutch
filled in from the catalogue (`localized_report`), so the page and the API show the same words.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import FILENAME_MAX, LONG_TEXT_MAX, clean_text
from ck_contracts.roster import (
    AddPerson,
    CheckPerson,
    ExportRequest,
    FileRequest,
    InvitationRun,
    InvitationRunRef,
    InviteRequest,
    InviteResult,
    JobAction,
    JobRef,
    JobStart,
    ListFilter,
    ListRequest,
    Ops,
    Person,
    PersonFields,
    PersonPage,
    PersonRef,
    RemovePerson,
    RosterJob,
    RosterKind,
    RowError,
    Selection,
    TemplateRequest,
    UploadRequest,
    UploadResult,
    ValidationReport,
)
from ck_contracts.rpc import ErrorCode, FieldProblems, RpcError
from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from ck_gateway import backend, i18n
from ck_gateway.errors import GatewayError, forbidden
from ck_gateway.roster_views import may_export, may_invite

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_FILE = "roster.form.no_file"  # the catalogue's "Kies een .xls- of .xlsx-bestand."


def _attachment(content_b64: str, filename: str) -> Response:
    return Response(
        base64.b64decode(content_b64),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- files -------------------------------------------------------------------------------------
async def template_file(request: Request, session: SessionInfo, kind: RosterKind) -> Response:
    """The empty template as an .xlsx attachment."""
    template = await backend.send(
        request, Ops.TEMPLATE, TemplateRequest(kind=kind), actor=session.actor
    )
    return _attachment(template.content_b64, template.filename)


async def read_upload(upload: Any) -> tuple[str, bytes] | None:
    """(filename, content) of a posted file, or None when no file was chosen."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = await upload.read()
    if not content:
        return None
    # The name is only shown back: cleaned like stored text, its end (the extension) kept.
    return clean_text(upload.filename)[-FILENAME_MAX:].strip(), content


def file_request(school_id: UUID, kind: RosterKind, name: str, content: bytes) -> FileRequest:
    return FileRequest(
        school_id=school_id,
        kind=kind,
        filename=name,
        content_b64=base64.b64encode(content).decode("ascii"),
    )


def localized_report(report: ValidationReport) -> ValidationReport:
    """The report with its Dutch: the summary and every row's message, from the catalogue."""
    errors = [
        error.model_copy(update={"message": i18n.render(error.reason, error.params)})
        for error in report.errors
    ]
    message = i18n.render(report.reason, report.params)
    return report.model_copy(update={"errors": errors, "message": message})


async def validate_file(
    request: Request, session: SessionInfo, file: FileRequest
) -> ValidationReport:
    """The validatietool: the file checked, nothing stored."""
    report = await backend.send(
        request, Ops.VALIDATE, file, actor=session.actor, timeout=backend.file_timeout(request)
    )
    return localized_report(report)


async def upload_file(request: Request, session: SessionInfo, file: FileRequest) -> UploadResult:
    """Replace the roster; the service validates again and applies nothing of a bad file
    (RpcFailed invalid, with every row problem in its fields: see `refused_report`)."""
    upload = UploadRequest(**file.model_dump(), confirmed=True)
    return await backend.send(
        request, Ops.UPLOAD, upload, actor=session.actor, timeout=backend.file_timeout(request)
    )


def _row_and_column(key: str) -> tuple[int, str]:
    """A refused upload's field key ("rij 4 mobiel nummer", "rij 4 email (2)" for a second
    problem of one cell) as (row, column); a key that names no row is row 0."""
    words = key.split(" ", 2)
    if len(words) < 2 or words[0] != "rij" or not words[1].isdigit():
        return 0, "" if key == "confirmed" else key
    column = words[2] if len(words) > 2 else ""
    if column.endswith(")") and " (" in column:
        head, _, number = column[:-1].rpartition(" (")
        if number.isdigit():
            column = head
    return int(words[1]), column


def refused_report(error: RpcError) -> ValidationReport:
    """A refused upload's error reply (already in Dutch, backend.send) as the red report the
    validatietool shows."""
    errors: list[RowError] = []
    for key, text in error.fields.items():
        row, column = _row_and_column(key)
        code = error.field_errors.get(key)
        errors.append(
            RowError(
                row=row,
                column=column,
                reason=code.reason if code else error.reason,
                params=code.params if code else {},
                message=text,
            )
        )
    errors.sort(key=lambda e: e.row)
    return ValidationReport(
        ok=False,
        count=0,
        errors=errors,
        reason=error.reason,
        params=error.params,
        message=error.message,
    )


# --- the list and hand edits -------------------------------------------------------------------
async def list_people(request: Request, session: SessionInfo, query: ListRequest) -> PersonPage:
    return await backend.send(request, Ops.LIST, query, actor=session.actor)


async def add_person(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, fields: PersonFields
) -> Person:
    command = AddPerson(school_id=school_id, kind=kind, fields=fields)
    return await backend.send(request, Ops.ADD_PERSON, command, actor=session.actor)


async def get_person(
    request: Request, session: SessionInfo, school_id: UUID, person_id: UUID
) -> Person:
    """One person of the school's roster (the confirmation page names them)."""
    ref = PersonRef(school_id=school_id, person_id=person_id)
    return await backend.send(request, Ops.PERSON_GET, ref, actor=session.actor)


async def check_person(
    request: Request,
    session: SessionInfo,
    school_id: UUID,
    kind: RosterKind,
    values: dict[str, str],
) -> FieldProblems:
    """The service's rules over the add form as typed (nothing is stored; issue 14). A value
    beyond what the check takes (a 300,000-character name) is cut to that: the page has
    already said it is too long, and its own message wins on that field."""
    clipped = {name: value[:LONG_TEXT_MAX] for name, value in values.items()}
    command = CheckPerson(school_id=school_id, kind=kind, fields=clipped)
    return await backend.send(request, Ops.CHECK_PERSON, command, actor=session.actor)


async def remove_person(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, person_id: UUID
) -> None:
    command = RemovePerson(school_id=school_id, person_id=person_id, kind=kind)
    await backend.send(request, Ops.REMOVE_PERSON, command, actor=session.actor)


# --- invitations and the export (R-MEMBER-2/3) ---------------------------------------------------
def school_label(session: SessionInfo) -> str:
    """The school's name for the invitation mail (R-MEMBER-5)."""
    if session.school_name:
        return session.school_name
    return f"School {session.school_number}" if session.school_number else "Je school"


async def send_invitations(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, selection: Selection
) -> InviteResult:
    if not may_invite(session.actor, school_id, kind):
        raise forbidden()
    command = InviteRequest(
        school_id=school_id, kind=kind, selection=selection, school_name=school_label(session)
    )
    return await backend.send(
        request,
        Ops.INVITE,
        command,
        actor=session.actor,
        timeout=backend.file_timeout(request),  # 50,000 people: a second or two of work
    )


async def export_file(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, filt: ListFilter
) -> Response:
    """ "export excel": the list with the same filter, as an .xlsx attachment."""
    if not may_export(session.actor, school_id, kind):
        raise forbidden()
    command = ExportRequest(school_id=school_id, kind=kind, filter=filt)
    exported = await backend.send(
        request, Ops.EXPORT, command, actor=session.actor, timeout=backend.file_timeout(request)
    )
    return _attachment(exported.content_b64, exported.filename)


# --- jobs: validation and upload with progress (issue 14) ----------------------------------------
def localized_job(job: RosterJob) -> RosterJob:
    """The job with the Dutch of its report filled in (as the validatietool shows it)."""
    if job.report is None:
        return job
    return job.model_copy(update={"report": localized_report(job.report)})


async def start_job(
    request: Request, session: SessionInfo, file: FileRequest, action: JobAction
) -> RosterJob:
    """Hand the file to the roster service, which answers as soon as the job is recorded."""
    start = JobStart(**file.model_dump(), action=action, confirmed=action == JobAction.UPLOAD)
    return await backend.send(
        request, Ops.JOB_START, start, actor=session.actor, timeout=backend.file_timeout(request)
    )


async def get_job(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, job_id: UUID
) -> RosterJob:
    """The school's job of this list (another list's or school's job: not found)."""
    job = await backend.send(
        request, Ops.JOB_GET, JobRef(school_id=school_id, job_id=job_id), actor=session.actor
    )
    if job.kind != kind:
        raise GatewayError(404, ErrorCode.NOT_FOUND, i18n.gettext("roster.job.not_found"))
    return localized_job(job)


# --- invitation runs: the mails of one "verstuur uitnodiging" (issue 14) --------------------------
async def get_invitation_run(
    request: Request, session: SessionInfo, school_id: UUID, kind: RosterKind, run_id: UUID
) -> InvitationRun:
    """The school's run of this list (another list's or school's run: not found)."""
    if not may_invite(session.actor, school_id, kind):
        raise forbidden()
    run = await backend.send(
        request,
        Ops.INVITATION_RUN_GET,
        InvitationRunRef(school_id=school_id, run_id=run_id),
        actor=session.actor,
    )
    if run.kind != kind:
        raise GatewayError(
            404, ErrorCode.NOT_FOUND, i18n.gettext("roster.invitations.run_not_found")
        )
    return run
