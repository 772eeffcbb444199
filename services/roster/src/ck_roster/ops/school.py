"""The roster's operations for a school (thin: check, load, apply, save + outbox).

The router checks the actor's permission for the request's school before a handler runs
(school-scoped operations, R-ROLE-6); a handler checks that the school exists
(`require_known_school` or `store.lock_school`) and, where the two lists differ, that a
Docent+ stays on the students' list (R-ROLE-2). Failures are reason codes
(ck_contracts.roster.RosterReason), never prose.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from ck_contracts.roles import Actor, Role
from ck_contracts.roster import (
    AddPerson,
    CheckPerson,
    ExportRequest,
    FileRequest,
    InvitationRun,
    InvitationRunRef,
    InviteRequest,
    InviteResult,
    ListRequest,
    Ops,
    Person,
    PersonAdded,
    PersonPage,
    PersonRef,
    PersonRemoved,
    RemovedPerson,
    RemovePerson,
    RosterKind,
    RosterReason,
    TemplateFile,
    TemplateRequest,
    UploadRequest,
    UploadResult,
    ValidationReport,
)
from ck_contracts.rpc import FieldError, FieldProblems
from ck_runtime.db import erases_personal_data
from ck_runtime.errors import Conflict, Forbidden, Invalid, NotFound
from ck_runtime.known_schools import require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter

from ck_roster import export as export_file
from ck_roster import runs, store, templates
from ck_roster.domain import invitations, matching, rules, validation
from ck_roster.filework import in_file_thread, release_memory
from ck_roster.settings import DEFAULT_MAX_UPLOAD_BYTES
from ck_roster.uploads import apply_upload, teacher_removed

log = get_logger(__name__)
router = RpcRouter("roster")

CONFIRM = {
    RosterKind.STUDENTS: RosterReason.CONFIRM_STUDENTS,
    RosterKind.TEACHERS: RosterReason.CONFIRM_TEACHERS,
}


def _max_bytes(call: Call) -> int:
    """The service's settings (call.deps) say how large a file may be."""
    return int(getattr(call.deps, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES))


async def _known_school(call: Call, school_id: uuid.UUID) -> int:
    async with call.db.read() as session:
        return await require_known_school(session, school_id)


def _decode(content_b64: str) -> bytes:
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        reason = RosterReason.FILE_NOT_BASE64
        raise Invalid(reason, fields={"content_b64": FieldError(reason=reason)}) from exc


async def _validate(
    call: Call, request: FileRequest, *, keep_people: bool = True
) -> validation.Validated:
    content = _decode(request.content_b64)
    # Reading 50,000 rows takes a while: off the event loop, so other requests keep moving.
    return await in_file_thread(
        validation.validate,
        request.kind,
        request.filename,
        content,
        max_bytes=_max_bytes(call),
        keep_people=keep_people,
    )


def report_error(report: ValidationReport) -> Invalid:
    """An invalid file as an error reply: the report's summary reason, and every problem by
    "rij N kolom" (R-ROSTER-3); a second problem of the same cell gets " (2)" after its key."""
    fields: dict[str, FieldError] = {}
    for error in report.errors:
        key = base = f"rij {error.row} {error.column}".strip()
        number = 1
        while key in fields:
            number += 1
            key = f"{base} ({number})"
        fields[key] = FieldError(reason=error.reason, params=error.params)
    invalid = Invalid(report.reason, fields=fields)
    invalid.params = dict(report.params)
    return invalid


def _require_for_kind(call: Call, kind: RosterKind) -> Actor:
    """R-ROLE-2: a Docent+ sees and invites in "beheer studenten" only, never the teachers.
    (The router checked the permission for the school already.)"""
    actor = call.require_actor()
    if actor.role == Role.DOCENT_PLUS and kind != RosterKind.STUDENTS:
        log.warning("rpc.forbidden", kind=kind.value, role=actor.role.value)
        raise Forbidden()
    return actor


# --- templates and validation (R-ROSTER-1, R-ROSTER-3) --------------------------------------------
@router.handles(Ops.TEMPLATE)
async def template(call: Call, request: TemplateRequest) -> TemplateFile:
    content = templates.template_xlsx(request.kind)
    return TemplateFile(
        filename=templates.template_filename(request.kind),
        content_b64=base64.b64encode(content).decode(),
    )


@router.handles(Ops.VALIDATE)
async def validate(call: Call, request: FileRequest) -> ValidationReport:
    await _known_school(call, request.school_id)
    try:
        return await _validate_file(call, request)
    finally:
        await release_memory()  # the file's rows are gone: their pages too (filework)


async def _validate_file(call: Call, request: FileRequest) -> ValidationReport:
    result = await _validate(call, request, keep_people=False)  # the report is all it needs
    log.info(
        "roster.validated",
        kind=request.kind.value,
        ok=result.report.ok,
        count=result.report.count,
        errors=len(result.report.errors),
    )
    return result.report


# --- upload (R-ROSTER-4) --------------------------------------------------------------------------
@router.handles(Ops.UPLOAD)
async def upload(call: Call, request: UploadRequest) -> UploadResult:
    if not request.confirmed:
        reason = CONFIRM[request.kind]
        raise Invalid(reason, fields={"confirmed": FieldError(reason=reason)})
    await _known_school(call, request.school_id)
    try:
        return await _upload(call, request)
    finally:
        await release_memory()  # the file's rows and people are gone: their pages too


async def _upload(call: Call, request: UploadRequest) -> UploadResult:
    result = await _validate(call, request)
    # Reading the file freed more than the people kept: return it before the store allocates
    # (on the event loop's thread, whose arena would not reuse the file thread's).
    await release_memory()
    if not result.report.ok:
        log.info("roster.upload_refused", kind=request.kind.value, errors=len(result.report.errors))
        raise report_error(result.report)
    async with call.db.transaction() as session:
        return await apply_upload(
            session, request.school_id, request.kind, result.people, call.clock.now()
        )


# --- hand edits (R-ROSTER-5) ----------------------------------------------------------------------
@router.handles(Ops.CHECK_PERSON)
async def check_person(call: Call, command: CheckPerson) -> FieldProblems:
    """Issue 14: the add form's problems by the rules of ADD_PERSON, nothing stored (the
    address already in the list is ADD_PERSON's own check, in its transaction)."""
    errors = rules.validate_person(command.kind, command.fields)
    return FieldProblems(fields={f"fields.{name}": error for name, error in errors.items()})


@router.handles(Ops.ADD_PERSON)
async def add_person(call: Call, command: AddPerson) -> Person:
    errors = rules.validate_person(command.kind, command.fields)
    if errors:
        raise Invalid(fields={f"fields.{name}": error for name, error in errors.items()})
    fields = rules.clean_person(command.kind, command.fields)
    email = matching.email_key(fields)
    values = store.new_person_values(command.school_id, command.kind, fields, call.clock.now())
    async with call.db.transaction() as session:
        await store.lock_school(session, command.school_id)  # no two adds of one address
        if email and await store.email_taken(session, command.school_id, command.kind, email):
            taken = RosterReason.EMAIL_TAKEN
            raise Conflict(taken, fields={"fields.email": FieldError(reason=taken)})
        await store.insert_person(session, values)
        await add_to_outbox(
            session,
            PersonAdded(
                school_id=command.school_id,
                person_id=values["id"],
                kind=command.kind,
                has_email=bool(email),
            ),
        )
    log.info("roster.person_added", kind=command.kind.value, person_id=str(values["id"]))
    return Person(person_id=values["id"], kind=command.kind, **fields.model_dump())


@router.handles(Ops.REMOVE_PERSON)
async def remove_person(call: Call, command: RemovePerson) -> RemovedPerson:
    async with call.db.transaction() as session:
        await store.lock_school(session, command.school_id)
        deleted = await store.delete_person(
            session, command.school_id, command.person_id, command.kind
        )
        if deleted is None:
            raise NotFound(RosterReason.UNKNOWN_PERSON)
        kind, teacher = deleted
        erases_personal_data(session)
        events: list[Any] = [
            PersonRemoved(school_id=command.school_id, person_id=command.person_id, kind=kind)
        ]
        if teacher is not None:
            events.append(teacher_removed(command.school_id, teacher))
        await add_to_outbox(session, *events)
    log.info("roster.person_removed", kind=kind.value, person_id=str(command.person_id))
    return RemovedPerson(person_id=command.person_id)


# --- the list (R-ROSTER-6) ------------------------------------------------------------------------
@router.handles(Ops.LIST)
async def list_roster(call: Call, request: ListRequest) -> PersonPage:
    _require_for_kind(call, request.kind)
    await _known_school(call, request.school_id)
    return await store.list_people(call.db, request)


# --- invitations, export and one person (R-MEMBER-2/3, R-ROLE-2) ----------------------------------
@router.handles(Ops.INVITE)
async def invite(call: Call, request: InviteRequest) -> InviteResult:
    """Resolve the selection and put InvitationsRequested chunks in the outbox, in one
    transaction under the school's lock: a person removed meanwhile is either not invited or
    removed after (PersonRemoved then follows the invitation and revokes it, R-ROSTER-7)."""
    _require_for_kind(call, request.kind)
    problem = invitations.selection_problem(request.selection)
    if problem is not None:
        raise Invalid(problem.reason, fields={"selection": problem.field_error()})
    request_id = uuid.uuid4()
    async with call.db.transaction() as session:
        school_number = await require_known_school(session, request.school_id)
        await store.lock_school(session, request.school_id)
        rows = await store.selected_people(
            session, request.school_id, request.kind, request.selection
        )
        events, skipped = invitations.invitation_events(
            request.school_id,
            request.kind,
            request.school_name,
            school_number,
            rows,
            request_id,
        )
        if events:
            await add_to_outbox(session, *events)
        # issue 14: the run whose progress the chunks' events bring back (ck_roster.runs)
        await runs.add_run(
            session,
            run_id=request_id,
            school_id=request.school_id,
            kind=request.kind,
            requested=len(rows) - skipped,
            skipped_active=skipped,
            chunks=len(events),
            now=call.clock.now(),
        )
    requested = len(rows) - skipped
    log.info(
        "roster.invitations_requested",
        kind=request.kind.value,
        requested=requested,
        skipped_active=skipped,
        chunks=len(events),
        request_id=str(request_id),
    )
    return InviteResult(request_id=request_id, requested=requested, skipped_active=skipped)


@router.handles(Ops.INVITATION_RUN_GET)
async def get_invitation_run(call: Call, ref: InvitationRunRef) -> InvitationRun:
    """Issue 14: an invitation run and its counts; another school's run is "not found"."""
    run = await runs.read_run(call.db, ref.school_id, ref.run_id)
    if run is None:
        raise NotFound(RosterReason.RUN_NOT_FOUND)
    _require_for_kind(call, run.kind)  # a Docent+ follows students' runs only (R-ROLE-2)
    return run


@router.handles(Ops.EXPORT)
async def export(call: Call, request: ExportRequest) -> TemplateFile:
    """ "export excel": the filtered list with status and activatiecode as an .xlsx."""
    _require_for_kind(call, request.kind)
    names = export_file.export_fields(request.kind)
    async with call.db.read() as session:
        school_number = await require_known_school(session, request.school_id)
        rows = await store.export_rows(
            session, request.school_id, request.kind, request.filter, names
        )
    # Writing 50,000 rows takes a second or two: off the event loop.
    content = await in_file_thread(export_file.export_xlsx, request.kind, rows)
    log.info("roster.exported", kind=request.kind.value, rows=len(rows), bytes=len(content))
    return TemplateFile(
        filename=export_file.export_filename(request.kind, school_number, call.clock.now()),
        content_b64=base64.b64encode(content).decode(),
    )


@router.handles(Ops.PERSON_GET)
async def person_get(call: Call, ref: PersonRef) -> Person:
    async with call.db.read() as session:
        person = await store.find_person(session, ref.school_id, ref.person_id)
    if person is None:
        raise NotFound(RosterReason.UNKNOWN_PERSON)
    _require_for_kind(call, person.kind)
    return person
