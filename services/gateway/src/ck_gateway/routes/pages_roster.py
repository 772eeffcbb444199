"""Beheer studenten and Beheer docenten (R-ROSTER-1..7): the list, the validatietool, the upload,
adding and removing single people. The roster service owns the people and checks every rule
and role again; the gateway checks the role first and shows the answers in Dutch."""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import FILENAME_MAX, clean_text, whole_number
from ck_contracts.roles import Permission
from ck_contracts.roster import SERVICE as ROSTER
from ck_contracts.roster import (
    AddPerson,
    FileRequest,
    Ops,
    PersonPage,
    RemovePerson,
    RosterKind,
    TemplateFile,
    UploadRequest,
    UploadResult,
    ValidationReport,
)
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from ck_gateway import backend
from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden
from ck_gateway.rendering import render
from ck_gateway.roster_views import (
    GENERAL,
    PAGES,
    STATUS_LABELS,
    ListQuery,
    RosterPage,
    count_text,
    invite_notice,
    invite_notice_seal,
    may_export,
    may_invite,
    page_count,
    parse_list_query,
    parse_person_form,
    person_errors,
    report_from_fields,
)

router = APIRouter(include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_FILE = "Kies een .xls- of .xlsx-bestand."
MAX_FILENAME = FILENAME_MAX


def own_school(session: SessionInfo, permission: Permission) -> UUID:
    """The user's own school, when the role holds the permission for it (else 403)."""
    school_id: UUID | None = session.actor.school_id
    if school_id is None or not session.actor.may(permission, school_id):
        raise forbidden()
    return school_id


async def template_file(request: Request, session: SessionInfo, kind: RosterKind) -> Response:
    result = await backend.call(
        request, ROSTER, Ops.TEMPLATE, {"kind": kind.value}, actor=session.actor
    )
    template = TemplateFile.model_validate(result)
    return Response(
        base64.b64decode(template.content_b64),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{template.filename}"'},
    )


async def read_upload(upload: Any) -> tuple[str, bytes] | None:
    """(filename, content) of a posted file, or None when no file was chosen."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = await upload.read()
    if not content:
        return None
    # The name is only shown back: cleaned like stored text, its end (the extension) kept.
    return clean_text(upload.filename)[-MAX_FILENAME:].strip(), content


def file_request(school_id: UUID, kind: RosterKind, name: str, content: bytes) -> dict[str, Any]:
    return FileRequest(
        school_id=school_id,
        kind=kind,
        filename=name,
        content_b64=base64.b64encode(content).decode("ascii"),
    ).model_dump(mode="json")


async def validate_file(
    request: Request, session: SessionInfo, payload: dict[str, Any]
) -> ValidationReport:
    result = await backend.call(
        request,
        ROSTER,
        Ops.VALIDATE,
        payload,
        actor=session.actor,
        timeout=backend.file_timeout(request),
    )
    return ValidationReport.model_validate(result)


async def upload_file(
    request: Request, session: SessionInfo, payload: dict[str, Any]
) -> UploadResult:
    """Replace the roster; the service validates again and applies nothing of a bad file
    (RpcFailed invalid, with every row error in its fields)."""
    upload = UploadRequest.model_validate({**payload, "confirmed": True})
    result = await backend.call(
        request,
        ROSTER,
        Ops.UPLOAD,
        upload,
        actor=session.actor,
        timeout=backend.file_timeout(request),
    )
    return UploadResult.model_validate(result)


# --- the list ---------------------------------------------------------------------------------
def _list_notice(request: Request, page: RosterPage, school_id: UUID) -> str:
    """A fixed notice by its code (?gedaan=); the invite's counts only with the gateway's seal
    (no text or number of a link made elsewhere is shown)."""
    params = request.query_params
    done = params.get("gedaan", "")
    if done == "uitgenodigd":
        requested, active = params.get("aantal", ""), params.get("al_actief", "0")
        invited = whole_number(requested, low=0, high=10**7)
        skipped = whole_number(active, low=0, high=10**7)
        if invited is not None and skipped is not None:
            secret: str = request.app.state.secret_key
            seal = invite_notice_seal(secret, school_id, invited, skipped)
            if hmac.compare_digest(seal, params.get("teken", "")):
                return (
                    f"{invite_notice(invited, skipped)} De status en de activatiecodes "
                    "verschijnen over enkele ogenblikken in de lijst."
                )
        return ""
    return {
        "toegevoegd": f"De {page.singular} is toegevoegd.",
        "verwijderd": f"De {page.singular} is verwijderd.",
    }.get(done, "")


async def render_list(
    request: Request,
    session: SessionInfo,
    page: RosterPage,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    inviting: bool = False,
    params: Any = None,
    ticked: set[str] | None = None,
) -> Response:
    """The list; `inviting`: the "studenten uitnodigen" view of it (checkboxes, the choice of
    everyone matching the filter, "verstuur uitnodiging"). `params`: the list's query (the
    request's own query string unless a posted form carries it)."""
    school_id = own_school(session, Permission.VIEW_ROSTER)
    invite_allowed = may_invite(session.actor, school_id, page.kind)
    if inviting and not invite_allowed:
        raise forbidden()
    params = request.query_params if params is None else params
    query: ListQuery = parse_list_query(page, school_id, params)
    result = await backend.call(request, ROSTER, Ops.LIST, query.request, actor=session.actor)
    people = PersonPage.model_validate(result)
    pages = page_count(people.total, people.page_size)
    list_path = f"{page.path}/uitnodigen" if inviting else page.path
    return render(
        request,
        "roster_list.html",
        {
            "title": f"{page.plural.capitalize()} uitnodigen" if inviting else page.title,
            "page": page,
            "list_path": list_path,
            "inviting": inviting,
            "may_invite": invite_allowed,
            "query": query,
            "people": people,
            "pages": pages,
            "count_text": count_text(page, people.total),
            "status_labels": STATUS_LABELS,
            "may_edit": session.actor.may(Permission.UPLOAD_ROSTER, school_id) and not inviting,
            "export_link": f"{page.path}/export?{urlencode(query.params())}"
            if may_export(session.actor, school_id, page.kind)
            else "",
            "values": values or {},
            "errors": errors or {},
            "ticked": ticked or set(),
            "notice": _list_notice(request, page, school_id),
            "previous_link": query.link(list_path, pagina=query.request.page - 1)
            if query.request.page > 1
            else "",
            "next_link": query.link(list_path, pagina=query.request.page + 1)
            if query.request.page < pages
            else "",
        },
        status_code=status_code,
    )


async def _add_person(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    parsed = parse_person_form(page, form)
    if parsed.fields is not None:
        command = AddPerson(school_id=school_id, kind=page.kind, fields=parsed.fields)
        try:
            await backend.call(request, ROSTER, Ops.ADD_PERSON, command, actor=session.actor)
            return RedirectResponse(f"{page.path}?gedaan=toegevoegd", status_code=303)
        except RpcFailed as exc:
            if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
                raise
            parsed.errors = person_errors(exc.error.fields)
            if not parsed.errors:
                parsed.errors[GENERAL] = exc.error.message
    return await render_list(
        request, session, page, values=parsed.values, errors=parsed.errors, status_code=422
    )


async def _remove_person(
    request: Request, session: SessionInfo, page: RosterPage, person_id: UUID
) -> Response:
    await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    command = RemovePerson(school_id=school_id, person_id=person_id, kind=page.kind)
    await backend.call(request, ROSTER, Ops.REMOVE_PERSON, command, actor=session.actor)
    return RedirectResponse(f"{page.path}?gedaan=verwijderd", status_code=303)


# --- validatietool and upload -----------------------------------------------------------------
def _tool_context(page: RosterPage, **more: Any) -> dict[str, Any]:
    return {"title": f"{page.title}: validatietool", "page": page, **more}


async def _validate(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    form: FormData = await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    upload = await read_upload(form.get("bestand"))
    if upload is None:
        context = _tool_context(page, errors={"bestand": NO_FILE})
        return render(request, "roster_validate.html", context, status_code=422)
    report = await validate_file(
        request, session, file_request(school_id, page.kind, upload[0], upload[1])
    )
    return render(
        request,
        "roster_validate.html",
        _tool_context(page, report=report, filename=upload[0]),
        status_code=200 if report.ok else 422,
    )


async def _upload(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    form: FormData = await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    title = f"{page.title}: upload bestand"
    errors: dict[str, str] = {}
    upload = await read_upload(form.get("bestand"))
    if upload is None:
        errors["bestand"] = NO_FILE
    if form.get("bevestigd") != "ja":
        errors["bevestigd"] = (
            f"Vink aan dat het bestand alle {page.file_people} bevat die recht hebben op een "
            "CJP-lidmaatschap. Er is niets gewijzigd."
        )
    if errors or upload is None:
        context = {"title": title, "page": page, "errors": errors}
        return render(request, "roster_upload.html", context, status_code=422)
    payload = file_request(school_id, page.kind, upload[0], upload[1])
    try:
        done = await upload_file(request, session, payload)
    except RpcFailed as exc:
        if exc.error.code != ErrorCode.INVALID:
            raise
        report = report_from_fields(exc.error.message, exc.error.fields)
        context = {"title": title, "page": page, "report": report, "filename": upload[0]}
        return render(request, "roster_upload.html", context, status_code=422)
    return render(request, "roster_upload.html", {"title": title, "page": page, "done": done})


# --- routes, the same for both parts ----------------------------------------------------------
def _routes(page: RosterPage) -> None:
    slug = page.path.strip("/").replace("-", "_")

    async def show_list(request: Request, session: PageSession) -> Response:
        return await render_list(request, session, page)

    async def add_person(request: Request, session: PageSession) -> Response:
        return await _add_person(request, session, page)

    async def remove_person(request: Request, person_id: UUID, session: PageSession) -> Response:
        return await _remove_person(request, session, page, person_id)

    async def template(request: Request, session: PageSession) -> Response:
        own_school(session, Permission.UPLOAD_ROSTER)
        return await template_file(request, session, page.kind)

    async def validation_tool(request: Request, session: PageSession) -> Response:
        own_school(session, Permission.UPLOAD_ROSTER)
        return render(request, "roster_validate.html", _tool_context(page))

    async def validate(request: Request, session: PageSession) -> Response:
        return await _validate(request, session, page)

    async def upload_form(request: Request, session: PageSession) -> Response:
        own_school(session, Permission.UPLOAD_ROSTER)
        context = {"title": f"{page.title}: upload bestand", "page": page}
        return render(request, "roster_upload.html", context)

    async def upload(request: Request, session: PageSession) -> Response:
        return await _upload(request, session, page)

    for path, endpoint, method in (
        ("", show_list, "GET"),
        ("", add_person, "POST"),
        ("/{person_id}/verwijderen", remove_person, "POST"),
        ("/template", template, "GET"),
        ("/validatietool", validation_tool, "GET"),
        ("/validatietool", validate, "POST"),
        ("/upload", upload_form, "GET"),
        ("/upload", upload, "POST"),
    ):
        endpoint.__name__ = f"{slug}_{endpoint.__name__}"
        router.add_api_route(
            page.path + path, endpoint, methods=[method], response_class=HTMLResponse
        )


for _page in PAGES.values():
    _routes(_page)
