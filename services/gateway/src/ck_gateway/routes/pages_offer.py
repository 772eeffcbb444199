"""Aanbod (R-WEB-3): Docent+ users and the budget holder browse the providers' offer and send a
request for an offering to its provider ("aanvraag versturen"); the provider answers with a
weborder. The weborders service owns the offer and the requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.money import format_euro
from ck_contracts.roles import Permission
from ck_contracts.weborders import RequestOffering, SearchOffer
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import own_school
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import search_term, validated
from ck_gateway.rendering import render
from ck_gateway.routes.pages_weborders import service_errors
from ck_gateway.usecases import weborders as usecase
from ck_gateway.weborder_views import MAX_MESSAGE, message_error, page_number, text

router = APIRouter(include_in_schema=False)

SEARCH_FIELDS = {"tekst": "text", "discipline": "discipline", "plaats": "city"}
PAGE_SIZE = 20  # what the service answers per page (SearchOffer has no page size)


def _more(total: int, page: int, count: int) -> bool:
    """Another page follows: the service counted more, or filled this page (no count)."""
    if count < PAGE_SIZE:
        return False
    return total == count or total > (page - 1) * PAGE_SIZE + count


def _search(request: Request) -> tuple[SearchOffer, dict[str, str]]:
    values = {name: search_term(request.query_params.get(name, "")) for name in SEARCH_FIELDS}
    query = SearchOffer(
        **{field: values[name] for name, field in SEARCH_FIELDS.items()},
        page=page_number(request.query_params.get("pagina")),
    )
    return query, values


async def _offer_page(
    request: Request,
    session: SessionInfo,
    *,
    errors: dict[str, str] | None = None,
    failed_id: str = "",
    message: str = "",
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.BROWSE_OFFER)
    query, values = _search(request)
    offerings = await usecase.search_offer(request, session.actor, query)
    total = len(offerings)  # the service answers one page, without a count
    filters = {k: v for k, v in values.items() if v}
    return render(
        request,
        "aanbod.html",
        {
            "title": "Aanbod",
            "offerings": offerings,
            "total": total,
            "search": values,
            "filtered": bool(filters),
            "page": query.page,
            "previous_link": (
                "/aanbod?" + urlencode({**filters, "pagina": query.page - 1})
                if query.page > 1
                else ""
            ),
            "next_link": (
                "/aanbod?" + urlencode({**filters, "pagina": query.page + 1})
                if _more(total, query.page, len(offerings))
                else ""
            ),
            "may_request": session.actor.may(Permission.REQUEST_OFFER, school_id),
            "euro": format_euro,
            "notice": (
                i18n.render("offer_page.requested")
                if request.query_params.get("gedaan") == "aangevraagd"
                else ""
            ),
            "errors": errors or {},
            "failed_id": failed_id,
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/aanbod", response_class=HTMLResponse)
async def offer_page(request: Request, session: PageSession) -> Response:
    return await _offer_page(request, session)


@router.post("/aanbod/{offering_id}/aanvragen", response_class=HTMLResponse)
async def request_offering(request: Request, offering_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.REQUEST_OFFER)
    message = text(form, "bericht")
    options: dict[str, Any] = {"failed_id": str(offering_id), "message": message}
    command, errors = validated(
        RequestOffering,
        {
            "school_id": school_id,
            "offering_id": offering_id,
            "message": message,
            "requested_by": session.user_name[:200] or session.email[:200],
        },
        {"message": "bericht"},
    )
    if problem := message_error(message, MAX_MESSAGE, what="bericht aan de aanbieder"):
        errors = {"bericht": problem}
    if command is None or errors:
        return await _offer_page(request, session, errors=errors, status_code=422, **options)
    try:
        await usecase.request_offering(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc, {"message": "bericht"})
        return await _offer_page(request, session, errors=errors, status_code=409, **options)
    return RedirectResponse("/aanbod?gedaan=aangevraagd", status_code=303)
