"""Commands and queries of the roster service (thin: check, load, apply, save + outbox).

Every operation about a school checks the actor's permission for that very school id
(`Call.require`, R-ROLE-6) and that the school exists (`require_known_school`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Any

from ck_contracts.messaging import utcnow
from ck_contracts.roles import Actor, Permission, Role
from ck_contracts.roster import (
    PEOPLE_PER_EVENT,
    AddPerson,
    ExportRequest,
    FileRequest,
    InviteRequest,
    InviteResult,
    ListRequest,
    Ops,
    Person,
    PersonAdded,
    PersonPage,
    PersonRef,
    PersonRemoved,
    RemovePerson,
    RosterKind,
    RosterPeopleAdded,
    RosterUploaded,
    TeacherRemoved,
    TemplateFile,
    TemplateRequest,
    UploadRequest,
    UploadResult,
    ValidationReport,
)
from ck_runtime.db import erases_personal_data
from ck_runtime.errors import Conflict, Forbidden, Invalid, NotFound
from ck_runtime.known_schools import require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import FORBIDDEN_MESSAGE, Call, RpcRouter
from sqlalchemy import select

from ck_roster import invitations, rules, store, templates, validation
from ck_roster.listing import PERSON_COLUMNS, _person, list_people
from ck_roster.tables import people

log = get_logger(__name__)
router = RpcRouter()

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
TEMPLATE_NAMES = {
    RosterKind.STUDENTS: "template_leerlingen.xlsx",
    RosterKind.TEACHERS: "template_docenten.xlsx",
}
CONFIRMATION = {
    RosterKind.STUDENTS: "Het bestand bevat alle leerlingen die recht hebben op een "
    "CJP-lidmaatschap",
    RosterKind.TEACHERS: "Het bestand bevat alle docenten die recht hebben op een CJP-lidmaatschap",
}
NOT_BASE64 = "Het bestand kon niet worden gelezen. Upload het opnieuw."
EMAIL_TAKEN = "Dit e-mailadres staat al in de lijst."
UNKNOWN_PERSON = "Deze persoon staat niet (meer) in de lijst."


def _max_bytes(call: Call) -> int:
    """The service's settings (call.deps) say how large a file may be."""
    return int(getattr(call.deps, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES))


async def _known_school(call: Call, school_id: uuid.UUID) -> None:
    async with call.db.read() as session:
        await require_known_school(session, school_id)


def _decode(content_b64: str) -> bytes:
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(NOT_BASE64, fields={"content_b64": NOT_BASE64}) from exc


async def _validate(
    call: Call, request: FileRequest, *, keep_people: bool = True
) -> validation.Validated:
    content = _decode(request.content_b64)
    # Reading 50,000 rows takes a while: off the event loop, so other requests keep moving.
    return await asyncio.to_thread(
        validation.validate,
        request.kind,
        request.filename,
        content,
        max_bytes=_max_bytes(call),
        keep_people=keep_people,
    )


def report_error(report: ValidationReport) -> Invalid:
    """An invalid file as an error reply: every error by "rij N kolom" (R-ROSTER-3)."""
    fields: dict[str, str] = {}
    for error in report.errors:
        key = f"rij {error.row} {error.column}".strip()
        fields[key] = f"{fields[key]} {error.message}" if key in fields else error.message
    return Invalid(report.message, fields=fields)


# --- templates and validation (R-ROSTER-1, R-ROSTER-3) --------------------------------------------
@router.op(Ops.TEMPLATE, TemplateRequest, permission=Permission.VIEW_ROSTER)
async def template(call: Call, request: TemplateRequest) -> TemplateFile:
    content = templates.template_xlsx(request.kind)
    return TemplateFile(
        filename=TEMPLATE_NAMES[request.kind], content_b64=base64.b64encode(content).decode()
    )


@router.op(Ops.VALIDATE, FileRequest, permission=Permission.UPLOAD_ROSTER)
async def validate(call: Call, request: FileRequest) -> ValidationReport:
    call.require(Permission.UPLOAD_ROSTER, request.school_id)
    await _known_school(call, request.school_id)
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
@router.op(Ops.UPLOAD, UploadRequest, permission=Permission.UPLOAD_ROSTER)
async def upload(call: Call, request: UploadRequest) -> UploadResult:
    call.require(Permission.UPLOAD_ROSTER, request.school_id)
    if not request.confirmed:
        message = f"Bevestig eerst: {CONFIRMATION[request.kind]}."
        raise Invalid(message, fields={"confirmed": message})
    await _known_school(call, request.school_id)
    result = await _validate(call, request)
    if not result.report.ok:
        log.info("roster.upload_refused", kind=request.kind.value, errors=len(result.report.errors))
        raise report_error(result.report)
    upload_id = uuid.uuid4()
    async with call.db.transaction() as session:
        await store.lock_school(session, request.school_id)
        plan = await store.replace_roster(
            session, request.school_id, request.kind, result.people, utcnow()
        )
        outcome = UploadResult(
            upload_id=upload_id,
            added=len(plan.added),
            kept=len(plan.kept),
            removed=len(plan.removed),
            total=len(plan.added) + len(plan.kept),
        )
        removed: list[Any] = [
            PersonRemoved(school_id=request.school_id, person_id=pid, kind=request.kind)
            for pid in plan.removed
        ]
        # The new people's ids, in chunks, for the services that check person ids (R-DOSSIER-1).
        added = [
            RosterPeopleAdded(
                school_id=request.school_id,
                upload_id=upload_id,
                kind=request.kind,
                person_ids=plan.added_ids[start : start + PEOPLE_PER_EVENT],
            )
            for start in range(0, len(plan.added_ids), PEOPLE_PER_EVENT)
        ]
        removed += [teacher_removed(request.school_id, t) for t in plan.removed_teachers]
        uploaded = RosterUploaded(
            school_id=request.school_id, kind=request.kind, **outcome.model_dump()
        )
        # RosterUploaded last: once it is out, so is every removal and addition before it.
        await add_to_outbox(session, *removed, *added, uploaded)
        if plan.removed or plan.changed:
            erases_personal_data(session)  # no old copy of them stays in the files (R-AVG-2)
    log.info(
        "roster.uploaded",
        kind=request.kind.value,
        added=outcome.added,
        kept=outcome.kept,
        removed=outcome.removed,
        changed=len(plan.changed),
    )
    return outcome


def teacher_removed(school_id: uuid.UUID, teacher: store.RemovedTeacher) -> TeacherRemoved:
    """For the weborders service, which erases the teacher's name and address (R-AVG-2)."""
    return TeacherRemoved(
        school_id=school_id,
        person_id=teacher.id,
        voornaam=teacher.voornaam,
        achternaam=teacher.achternaam,
        email=teacher.email,
    )


# --- hand edits (R-ROSTER-5) ----------------------------------------------------------------------
@router.op(Ops.ADD_PERSON, AddPerson, permission=Permission.UPLOAD_ROSTER)
async def add_person(call: Call, command: AddPerson) -> Person:
    call.require(Permission.UPLOAD_ROSTER, command.school_id)
    errors = rules.validate_person(command.kind, command.fields)
    if errors:
        raise Invalid("Controleer de invoer.", fields={f"fields.{k}": v for k, v in errors.items()})
    fields = rules.clean_person(command.kind, command.fields)
    email = store.email_key(fields)
    values = store.new_person_values(command.school_id, command.kind, fields, utcnow())
    async with call.db.transaction() as session:
        await store.lock_school(session, command.school_id)  # no two adds of one address
        if email and await store.email_taken(session, command.school_id, command.kind, email):
            raise Conflict(EMAIL_TAKEN, fields={"fields.email": EMAIL_TAKEN})
        await session.execute(store.people.insert().values(**values))
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


@router.op(Ops.REMOVE_PERSON, RemovePerson, permission=Permission.UPLOAD_ROSTER)
async def remove_person(call: Call, command: RemovePerson) -> dict[str, Any]:
    call.require(Permission.UPLOAD_ROSTER, command.school_id)
    async with call.db.transaction() as session:
        await store.lock_school(session, command.school_id)
        deleted = await store.delete_person(
            session, command.school_id, command.person_id, command.kind
        )
        if deleted is None:
            raise NotFound(UNKNOWN_PERSON)
        kind, teacher = deleted
        erases_personal_data(session)
        events: list[Any] = [
            PersonRemoved(school_id=command.school_id, person_id=command.person_id, kind=kind)
        ]
        if teacher is not None:
            events.append(teacher_removed(command.school_id, teacher))
        await add_to_outbox(session, *events)
    log.info("roster.person_removed", kind=kind.value, person_id=str(command.person_id))
    return {"person_id": str(command.person_id)}


# --- the list (R-ROSTER-6) ------------------------------------------------------------------------
@router.op(Ops.LIST, ListRequest, permission=Permission.VIEW_ROSTER)
async def list_roster(call: Call, request: ListRequest) -> PersonPage:
    _require_for_kind(call, Permission.VIEW_ROSTER, request.school_id, request.kind)
    async with call.db.read() as session:
        await require_known_school(session, request.school_id)
    return await list_people(call.db, request)


# --- invitations, export and one person (R-MEMBER-2/3, R-ROLE-2) ----------------------------------
def _require_for_kind(
    call: Call, permission: Permission, school_id: uuid.UUID, kind: RosterKind
) -> Actor:
    """R-ROLE-2: a Docent+ sees and invites in "beheer studenten" only, never the teachers."""
    actor = call.require(permission, school_id)
    if actor.role == Role.DOCENT_PLUS and kind != RosterKind.STUDENTS:
        log.warning("rpc.forbidden", permission=permission.value, role=actor.role.value)
        raise Forbidden(FORBIDDEN_MESSAGE)
    return actor


@router.op(Ops.INVITE, InviteRequest, permission=Permission.INVITE_MEMBERS)
async def invite(call: Call, request: InviteRequest) -> InviteResult:
    """Resolve the selection and put InvitationsRequested chunks in the outbox, in one
    transaction under the school's lock: a person removed meanwhile is either not invited or
    removed after (PersonRemoved then follows the invitation and revokes it, R-ROSTER-7)."""
    _require_for_kind(call, Permission.INVITE_MEMBERS, request.school_id, request.kind)
    invitations.selection_conditions(request.school_id, request.kind, request.selection)
    request_id = invitations.new_request_id()
    async with call.db.transaction() as session:
        school_number = await require_known_school(session, request.school_id)
        await store.lock_school(session, request.school_id)
        rows = await invitations.selected_people(
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


@router.op(Ops.EXPORT, ExportRequest, permission=Permission.VIEW_ROSTER)
async def export(call: Call, request: ExportRequest) -> TemplateFile:
    """ "export excel": the filtered list with status and activatiecode as an .xlsx."""
    _require_for_kind(call, Permission.VIEW_ROSTER, request.school_id, request.kind)
    async with call.db.read() as session:
        school_number = await require_known_school(session, request.school_id)
        query = invitations.export_query(request.school_id, request.kind, request.filter)
        rows = (await session.execute(query)).all()
    # Writing 50,000 rows takes a second or two: off the event loop.
    content = await asyncio.to_thread(invitations.export_xlsx, request.kind, rows)
    log.info("roster.exported", kind=request.kind.value, rows=len(rows), bytes=len(content))
    return TemplateFile(
        filename=invitations.export_filename(request.kind, school_number, utcnow()),
        content_b64=base64.b64encode(content).decode(),
    )


@router.op(Ops.PERSON_GET, PersonRef, permission=Permission.VIEW_ROSTER)
async def person_get(call: Call, ref: PersonRef) -> Person:
    call.require(Permission.VIEW_ROSTER, ref.school_id)
    async with call.db.read() as session:
        query = select(*PERSON_COLUMNS).where(
            people.c.school_id == ref.school_id, people.c.id == ref.person_id
        )
        row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(UNKNOWN_PERSON)
    _require_for_kind(call, Permission.VIEW_ROSTER, ref.school_id, RosterKind(row.kind))
    return _person(row)
