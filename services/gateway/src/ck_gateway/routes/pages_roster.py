"""Beheer studenten and Beheer docenten (R-ROSTER-1..7): the list, the validatietool, the upload,
adding and removing single people. The roster service owns the people and checks every rule
and role again; the gateway checks the role first and shows the answers in Dutch."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import whole_number
from ck_contracts.roles import Permission
from ck_contracts.roster import JobAction, JobStatus, MembershipStatus
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ck_gateway import i18n
from ck_gateway.auth import PageSession
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden, from_http_status
from ck_gateway.forms import also_checked
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
)
from ck_gateway.usecases import roster

router = APIRouter(include_in_schema=False)

NO_FILE = roster.NO_FILE


def own_school(session: SessionInfo, permission: Permission) -> UUID:
    """The user's own school, when the role holds the permission for it (else 403)."""
    school_id: UUID | None = session.actor.school_id
    if school_id is None or not session.actor.may(permission, school_id):
        raise forbidden()
    return school_id


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
    people = await roster.list_people(request, session, query.request)
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
    if parsed.fields is None:  # refused here: the service's rules too, in the same round
        parsed.errors = await also_checked(
            parsed.errors,
            roster.check_person(request, session, school_id, page.kind, parsed.values),
            person_errors,
        )
    else:
        try:
            await roster.add_person(request, session, school_id, page.kind, parsed.fields)
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


async def _confirm_removal(
    request: Request, session: SessionInfo, page: RosterPage, person_id: UUID
) -> Response:
    """GET .../verwijderen: "Weet u het zeker?", naming the person and, for an active member,
    that the CJP membership ends (issue 14). Nothing changes until the page's form is posted."""
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    person = await roster.get_person(request, session, school_id, person_id)
    if person.kind != page.kind:
        raise from_http_status(404)
    name = f"{person.voornaam} {person.achternaam}".strip() or person.email
    consequences = []
    if person.status == MembershipStatus.ACTIVE:
        consequences.append(i18n.render("confirm.remove_person.membership_ends", {"name": name}))
    consequences.append(
        i18n.render("confirm.remove_person.removed", {"name": name, "list": page.title})
    )
    return confirm_page(
        request,
        consequences=consequences,
        confirm_label=i18n.gettext("confirm.remove_person.button"),
        back=page.path,
    )


async def _remove_person(
    request: Request, session: SessionInfo, page: RosterPage, person_id: UUID
) -> Response:
    await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    await roster.remove_person(request, session, school_id, page.kind, person_id)
    return RedirectResponse(f"{page.path}?gedaan=verwijderd", status_code=303)


# --- validatietool and upload -----------------------------------------------------------------
def _tool_context(page: RosterPage, **more: Any) -> dict[str, Any]:
    return {"title": f"{page.title}: validatietool", "page": page, **more}


async def _validate(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    """The validatietool's form: the file becomes a validation job of the roster service; the
    answer is the job's progress page (issue 14)."""
    form: FormData = await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    upload = await roster.read_upload(form.get("bestand"))
    if upload is None:
        context = _tool_context(page, errors={"bestand": i18n.gettext(NO_FILE)})
        return render(request, "roster_validate.html", context, status_code=422)
    file = roster.file_request(school_id, page.kind, upload[0], upload[1])
    job = await roster.start_job(request, session, file, JobAction.VALIDATE)
    return RedirectResponse(job_path(page, job.job_id), status_code=303)


def _upload_title(page: RosterPage) -> str:
    return f"{page.title}: upload bestand"


async def _upload(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    """The upload's form: checked here for the file and the confirmation (every error at
    once), then an upload job of the roster service, which checks everything again; the
    answer is the job's progress page (issue 14)."""
    form: FormData = await checked_form(request)
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    errors: dict[str, str] = {}
    upload = await roster.read_upload(form.get("bestand"))
    if upload is None:
        errors["bestand"] = i18n.gettext(NO_FILE)
    if form.get("bevestigd") != "ja":
        errors["bevestigd"] = i18n.render("roster.form.confirm", {"people": page.file_people})
    if errors or upload is None:
        context = {"title": _upload_title(page), "page": page, "errors": errors}
        return render(request, "roster_upload.html", context, status_code=422)
    file = roster.file_request(school_id, page.kind, upload[0], upload[1])
    job = await roster.start_job(request, session, file, JobAction.UPLOAD)
    return RedirectResponse(job_path(page, job.job_id), status_code=303)


# --- a job's progress page (issue 14) ----------------------------------------------------------
def job_path(page: RosterPage, job_id: UUID) -> str:
    return f"{page.path}/taken/{job_id}"


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


async def _job_page(
    request: Request, session: SessionInfo, page: RosterPage, job_id: UUID
) -> Response:
    """While the job runs: its counts, refreshing itself every second (a meta refresh: the CSP
    allows no script). When it is done: the validatietool's report or the upload's result, as
    the forms answered before jobs. The state is the roster service's, so a reload (or coming
    back later) shows the same."""
    school_id = own_school(session, Permission.UPLOAD_ROSTER)
    job = await roster.get_job(request, session, school_id, page.kind, job_id)
    validating = job.action == JobAction.VALIDATE
    if job.status in UNFINISHED:
        title = f"{page.title}: validatietool" if validating else _upload_title(page)
        context = {
            "title": title,
            "page": page,
            "job": job,
            "validating": validating,
            "notice": i18n.gettext("roster.job.queued")
            if job.status == JobStatus.QUEUED
            else i18n.gettext("roster.job.busy"),
            "refresh_seconds": 1,
        }
        return render(request, "roster_job.html", context)
    errors: dict[str, str] = {}
    if job.report is None and job.status == JobStatus.FAILED:
        errors[GENERAL] = i18n.render(job.reason or "internal")
    if validating:
        context = _tool_context(page, report=job.report, filename=job.filename, errors=errors)
        return render(request, "roster_validate.html", context)
    context = {
        "title": _upload_title(page),
        "page": page,
        "errors": errors,
        "report": job.report,
        "filename": job.filename,
        "done": job.upload if job.status == JobStatus.DONE else None,
    }
    return render(request, "roster_upload.html", context)


# --- routes, the same for both parts ----------------------------------------------------------
def _routes(page: RosterPage) -> None:
    slug = page.path.strip("/").replace("-", "_")

    async def show_list(request: Request, session: PageSession) -> Response:
        return await render_list(request, session, page)

    async def add_person(request: Request, session: PageSession) -> Response:
        return await _add_person(request, session, page)

    async def remove_person(request: Request, person_id: UUID, session: PageSession) -> Response:
        return await _remove_person(request, session, page, person_id)

    async def confirm_removal(request: Request, person_id: UUID, session: PageSession) -> Response:
        return await _confirm_removal(request, session, page, person_id)

    async def template(request: Request, session: PageSession) -> Response:
        own_school(session, Permission.UPLOAD_ROSTER)
        return await roster.template_file(request, session, page.kind)

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

    async def job(request: Request, job_id: UUID, session: PageSession) -> Response:
        return await _job_page(request, session, page, job_id)

    for path, endpoint, method in (
        ("", show_list, "GET"),
        ("", add_person, "POST"),
        ("/{person_id}/verwijderen", confirm_removal, "GET"),
        ("/{person_id}/verwijderen", remove_person, "POST"),
        ("/template", template, "GET"),
        ("/validatietool", validation_tool, "GET"),
        ("/validatietool", validate, "POST"),
        ("/upload", upload_form, "GET"),
        ("/upload", upload, "POST"),
        ("/taken/{job_id}", job, "GET"),
    ):
        endpoint.__name__ = f"{slug}_{endpoint.__name__}"
        router.add_api_route(
            page.path + path, endpoint, methods=[method], response_class=HTMLResponse
        )


for _page in PAGES.values():
    _routes(_page)
