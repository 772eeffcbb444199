"""JSON API v1 for a school's roster (R-ROSTER-1..7): template, validate, upload, people."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import Page, PageSize, SearchText
from ck_contracts.roles import Permission
from ck_contracts.roster import (
    FileRequest,
    InvitationRun,
    InviteResult,
    JobAction,
    ListFilter,
    ListRequest,
    MembershipStatus,
    Person,
    PersonFields,
    PersonPage,
    RosterJob,
    RosterKind,
    Selection,
    SortField,
    UploadResult,
    ValidationReport,
)
from ck_contracts.rpc import ErrorCode
from fastapi import (
    APIRouter,
    Body,
    Depends,
    File,
    Form,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)

from ck_gateway import i18n
from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.errors import GatewayError, forbidden
from ck_gateway.usecases import roster
from ck_gateway.usecases.roster import NO_FILE, XLSX

router = APIRouter(
    prefix="/api/v1/schools/{school_id}/roster/{kind}",
    tags=["roster"],
    responses=error_responses(404),
)

_PERSON_EXAMPLE: dict[str, Any] = {
    "voornaam": "Sanne",
    "achternaam": "de Boer",
    "email": "sanne.deboer@student.voorbeeldcollege.nl",
    "mobiel": "+31612345678",
    "locatienaam": "Hoofdlocatie",
    "studiejaar": 2,
    "opleiding": "Mediavormgeving",
    "klas": "MV2A",
    "brin": "00AA",
    "afdeling": "",
}
_REPORT_EXAMPLES: dict[str, Any] = {
    "groen": {
        "summary": "Het bestand is in orde",
        "value": {
            "ok": True,
            "count": 312,
            "errors": [],
            "reason": "roster.file.valid_students",
            "params": {"count": 312},
            "message": "312 leerling(en) gevalideerd!",
        },
    },
    "rood": {
        "summary": "Fouten in het bestand",
        "value": {
            "ok": False,
            "count": 3,
            "errors": [
                {
                    "row": 4,
                    "column": "mobiel nummer",
                    "reason": "roster.cell.mobiel_06",
                    "params": {},
                    "message": "Geldig internationaal nummer +31612345678 - Beginnend met 06 "
                    "is dus fout! Schrijf het nummer als +316...",
                },
                {
                    "row": 5,
                    "column": "email",
                    "reason": "roster.cell.duplicate_email",
                    "params": {"first_row": 3},
                    "message": "Dit e-mailadres komt al voor in rij 3; een e-mailadres mag "
                    "maar één keer voorkomen.",
                },
            ],
            "reason": "roster.file.has_errors",
            "params": {"errors": 2},
            "message": "Het bestand bevat 2 fout(en). Pas ze aan in het bestand, sla het op en "
            "valideer het opnieuw.",
        },
    },
}
KindPath = Annotated[RosterKind, Path(description="students or teachers")]
UploadedFile = Annotated[UploadFile, File(description="The filled-in template, .xls or .xlsx.")]


def _check(session: ApiSession, permission: Permission, school_id: UUID) -> None:
    if not session.actor.may(permission, school_id):
        raise forbidden()


async def _file_payload(school_id: UUID, kind: RosterKind, upload: UploadFile) -> FileRequest:
    read = await roster.read_upload(upload)
    if read is None:
        message = i18n.gettext(NO_FILE)
        raise GatewayError(422, ErrorCode.INVALID, message, {"file": message})
    return roster.file_request(school_id, kind, read[0], read[1])


@router.get(
    "/template",
    summary="Download the empty template: template_leerlingen.xlsx or template_docenten.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The template as an attachment."}},
)
async def template(
    request: Request, school_id: UUID, kind: KindPath, session: ApiSession
) -> Response:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    return await roster.template_file(request, session, kind)


@router.post(
    "/validate",
    response_model=ValidationReport,
    summary="Check a filled-in template without storing it (the validatietool)",
    description="Always 200 for a file that was read: `ok` says green or red, `errors` lists "
    "every problem with its row (1 = header), column, a stable `reason` with its `params` "
    "(for programs) and a Dutch `message`; the summary has its own `reason` and `message`.",
    responses={
        200: {"content": {"application/json": {"examples": _REPORT_EXAMPLES}}},
    },
)
async def validate(
    request: Request, school_id: UUID, kind: KindPath, file: UploadedFile, session: ApiSession
) -> ValidationReport:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    return await roster.validate_file(request, session, await _file_payload(school_id, kind, file))


@router.post(
    "/upload",
    response_model=UploadResult,
    summary="Replace the whole roster with a file (R-ROSTER-4)",
    description="People in the portal but not in the file are removed; people in both keep "
    'their record and status; new people are added. Needs `confirmed=true`: "Het bestand '
    'bevat alle leerlingen die recht hebben op een CJP-lidmaatschap". An invalid file is never '
    'applied: 422 with every row error in `fields` ("rij 4 mobiel nummer": message) and its '
    "reason in `field_codes`.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "upload_id": "3c1e9a4b-2f5d-4e6a-8b7c-9d0e1f2a3b4c",
                        "added": 20,
                        "kept": 290,
                        "removed": 2,
                        "total": 310,
                    }
                }
            }
        },
    },
)
async def upload(
    request: Request,
    school_id: UUID,
    kind: KindPath,
    file: UploadedFile,
    session: ApiSession,
    confirmed: Annotated[
        bool, Form(description="The school confirms the file holds everyone entitled.")
    ] = False,
) -> UploadResult:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    if not confirmed:
        message = i18n.gettext("roster.api.confirm")
        raise GatewayError(422, ErrorCode.INVALID, message, {"confirmed": message})
    return await roster.upload_file(request, session, await _file_payload(school_id, kind, file))


def list_filter(
    voornaam: Annotated[SearchText, Query()] = "",
    achternaam: Annotated[SearchText, Query()] = "",
    email: Annotated[SearchText, Query()] = "",
    mobiel: Annotated[SearchText, Query()] = "",
    brin: Annotated[SearchText, Query()] = "",
    studiejaar: Annotated[int | None, Query(ge=1, le=99)] = None,
    klas: Annotated[SearchText, Query()] = "",
    opleiding: Annotated[SearchText, Query()] = "",
    locatienaam: Annotated[SearchText, Query()] = "",
    afdeling: Annotated[SearchText, Query()] = "",
    status: Annotated[list[MembershipStatus] | None, Query()] = None,
) -> ListFilter:
    """The list's filter from the query string (the list and the export share it); the
    parameters carry the contract's own bounds, so FastAPI answers 422 before this runs."""
    return ListFilter(
        voornaam=voornaam,
        achternaam=achternaam,
        email=email,
        mobiel=mobiel,
        brin=brin,
        studiejaar=studiejaar,
        klas=klas,
        opleiding=opleiding,
        locatienaam=locatienaam,
        afdeling=afdeling,
        statuses=list(dict.fromkeys(status or [])),  # each status once, however often sent
    )


Filter = Annotated[ListFilter, Depends(list_filter)]


@router.get(
    "/people",
    response_model=PersonPage,
    summary="The roster, filtered, sorted and paged (R-ROSTER-6)",
    description="Text filters match case-insensitively on a part of the value; `status` may be "
    "given several times (any of them matches).",
)
async def list_people(
    request: Request,
    school_id: UUID,
    kind: KindPath,
    session: ApiSession,
    filt: Filter,
    sort: SortField = "achternaam",
    descending: bool = False,
    page: Annotated[Page, Query()] = 1,
    page_size: Annotated[PageSize, Query()] = 50,
) -> PersonPage:
    _check(session, Permission.VIEW_ROSTER, school_id)
    query = ListRequest(
        school_id=school_id,
        kind=kind,
        filter=filt,
        sort=sort,
        descending=descending,
        page=page,
        page_size=page_size,
    )
    return await roster.list_people(request, session, query)


@router.post(
    "/people",
    response_model=Person,
    status_code=201,
    summary="Add one person by hand, with the template's field rules (R-ROSTER-5)",
    responses=error_responses(409),
)
async def add_person(
    request: Request,
    school_id: UUID,
    kind: KindPath,
    body: Annotated[
        PersonFields,
        Body(openapi_examples={"student": {"summary": "Een student", "value": _PERSON_EXAMPLE}}),
    ],
    session: ApiSession,
) -> Person:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    return await roster.add_person(request, session, school_id, kind, body)


@router.delete(
    "/people/{person_id}",
    status_code=204,
    summary="Remove one person (R-ROSTER-7: invitation revoked, Docent+ access ended)",
)
async def remove_person(
    request: Request, school_id: UUID, kind: KindPath, person_id: UUID, session: ApiSession
) -> Response:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    await roster.remove_person(request, session, school_id, kind, person_id)
    return Response(status_code=204)


# --- invitations and export (R-MEMBER-2/3) -----------------------------------------------------
_SELECTION_EXAMPLES: dict[str, Any] = {
    "iedereen": {"summary": "Everyone on the roster", "value": {"all": True}},
    "aangevinkt": {
        "summary": "The ticked people",
        "value": {
            "person_ids": [
                "0f8c3a52-6a1e-4d4b-9a43-2b1e5c7d9e10",
                "5b2d9c1e-8f47-4a36-b1c2-d3e4f5a6b7c8",
            ]
        },
    },
    "filter": {
        "summary": "Everyone matching a filter, however many pages",
        "value": {"filter": {"klas": "MV2", "statuses": ["nieuw", "uitnodiging_verzonden"]}},
    },
}


@router.post(
    "/invitations",
    response_model=InviteResult,
    status_code=202,
    summary='"verstuur uitnodiging": invite everyone, the ticked people, or a filter\'s people',
    description="Exactly one of `all`, `person_ids` or `filter`. Each selected person gets an "
    "activation code; those with an e-mail address get the invitation mail (in the background). "
    "People with an active membership are skipped and counted (`skipped_active`); sending again "
    "to the others is allowed. A Docent+ may invite students only (R-ROLE-2). Issue 14: the "
    "answer's `Location` is the invitation run (`request_id` is its id); `GET` it for the "
    "mails queued, sent and failed.",
    responses={
        202: {
            "headers": {"Location": {"description": "The invitation run's URL."}},
            "content": {
                "application/json": {
                    "example": {
                        "request_id": "9a7b6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d",
                        "requested": 312,
                        "skipped_active": 14,
                    }
                }
            },
        },
    },
)
async def invite(
    request: Request,
    response: Response,
    school_id: UUID,
    kind: KindPath,
    body: Annotated[Selection, Body(openapi_examples=_SELECTION_EXAMPLES)],
    session: ApiSession,
) -> InviteResult:
    _check(session, Permission.INVITE_MEMBERS, school_id)
    done = await roster.send_invitations(request, session, school_id, kind, body)
    response.headers["Location"] = (
        f"/api/v1/schools/{school_id}/roster/{kind.value}/invitations/{done.request_id}"
    )
    return done


@router.get(
    "/invitations/{run_id}",
    response_model=InvitationRun,
    summary="An invitation run: people invited, mails queued, sent and failed (issue 14)",
    description="`status`: queued (the membership service is still handling the chunks), "
    "sending (mails queued, not all sent), done (every mail queued was sent or given up). "
    "Counts only grow; `sent + failed` ends at `queued`.",
)
async def get_invitation_run(
    request: Request, school_id: UUID, kind: KindPath, run_id: UUID, session: ApiSession
) -> InvitationRun:
    _check(session, Permission.INVITE_MEMBERS, school_id)
    return await roster.get_invitation_run(request, session, school_id, kind, run_id)


@router.get(
    "/export",
    summary='"export excel": the filtered list with status and activatiecode as .xlsx',
    description="The same filter parameters as `GET /people`. Columns: the list's columns, "
    "status (Dutch) and activatiecode; text that a spreadsheet could run as a formula starts "
    "with a quote. File name `studenten_<schoolnummer>_<datum>.xlsx`.",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The export as an attachment."}},
)
async def export(
    request: Request, school_id: UUID, kind: KindPath, session: ApiSession, filt: Filter
) -> Response:
    _check(session, Permission.VIEW_ROSTER, school_id)
    return await roster.export_file(request, session, school_id, kind, filt)


# --- jobs: validation and upload with progress (issue 14) ----------------------------------------
@router.post(
    "/jobs",
    response_model=RosterJob,
    status_code=202,
    summary="Validate or upload a file in the background: a job with progress",
    description="`action=validate` (the validatietool) or `action=upload` (needs "
    "`confirmed=true`, as `POST /upload`). Answers 202 as soon as the file is received and the "
    "job recorded, with a `Location` header of the job; `GET` it for `status` (queued, running, "
    "done, failed) and the counts `rows_read`, `validated`, `stored` of `total`, then the "
    "`report` (validate, or an upload of a bad file: failed) or the `upload` counts (done). "
    "A job interrupted by a restart of the service fails with reason `roster.job.interrupted`: "
    "nothing was applied.",
    responses={202: {"headers": {"Location": {"description": "The job's URL."}}}},
)
async def start_job(
    request: Request,
    response: Response,
    school_id: UUID,
    kind: KindPath,
    file: UploadedFile,
    session: ApiSession,
    action: Annotated[JobAction, Form(description="validate or upload")],
    confirmed: Annotated[
        bool, Form(description="For an upload: the file holds everyone entitled.")
    ] = False,
) -> RosterJob:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    if action == JobAction.UPLOAD and not confirmed:
        message = i18n.gettext("roster.api.confirm")
        raise GatewayError(422, ErrorCode.INVALID, message, {"confirmed": message})
    payload = await _file_payload(school_id, kind, file)
    job = await roster.start_job(request, session, payload, action)
    response.headers["Location"] = (
        f"/api/v1/schools/{school_id}/roster/{kind.value}/jobs/{job.job_id}"
    )
    return job


@router.get(
    "/jobs/{job_id}",
    response_model=RosterJob,
    summary="A validation or upload job: status, progress and, when done, its result",
)
async def get_job(
    request: Request, school_id: UUID, kind: KindPath, job_id: UUID, session: ApiSession
) -> RosterJob:
    _check(session, Permission.UPLOAD_ROSTER, school_id)
    return await roster.get_job(request, session, school_id, kind, job_id)
