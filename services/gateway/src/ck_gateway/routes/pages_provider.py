"""The provider portal (issue 13), under /aanbieder, for provider users invited by a CJP admin:
their weborders (status, school and date filters; create; cancel before the school decides),
their offer (create, edit, withdraw), offer requests from teachers ("beantwoorden met een
weborder" opens the weborder form prefilled), card payments and API keys (create: shown once;
prefix and last use; revoke) and reimbursement statements with their PDF (Uitbetalingen).

Every route takes `ProviderSession` (auth.require_provider_session): provider users only. The
provider is the session's actor; no form field names a provider, and the services check the
actor again (role provider, its provider_id). The operations are the provider API's, shared in
ck_gateway.usecases.providers. A new part (e.g. statements) adds a route here or in its own
module with the same dependency, and an item in menu.PROVIDER_MENU.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.budget import OwnCardPayments
from ck_contracts.money import format_euro
from ck_contracts.payouts import ProviderStatementQuery
from ck_contracts.weborders import IssuedApiKey, ProviderList
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import i18n
from ck_gateway.auth import ProviderSession
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL
from ck_gateway.provider_views import (
    OFFERING_FIELDS,
    WEBORDER_FIELDS,
    answer_values,
    offering_values,
    parse_filters,
    parse_offering,
    parse_weborder,
    values_of_offering,
    weborder_values,
)
from ck_gateway.rendering import render
from ck_gateway.routes.pages_weborders import refusal_status, service_errors
from ck_gateway.usecases import payouts
from ck_gateway.usecases import providers as usecase
from ck_gateway.usecases.providers import ProviderCaller
from ck_gateway.weborder_views import STATUS_LABELS, page_number, status_filter

router = APIRouter(prefix="/aanbieder", include_in_schema=False)

PAGE_SIZE = 50
# ?gedaan=...: msgid provider_portal.done.<it>
DONE = (
    "aangemaakt",
    "geannuleerd",
    "aanbod-toegevoegd",
    "aanbod-gewijzigd",
    "aanbod-ingetrokken",
    "sleutel-ingetrokken",
)


def _caller(session: SessionInfo) -> ProviderCaller:
    return ProviderCaller.of_session(session.actor)


def _notice(request: Request) -> str:
    done = request.query_params.get("gedaan", "")
    return i18n.render(f"provider_portal.done.{done}") if done in DONE else ""


# --- Weborders -----------------------------------------------------------------------------------
async def _weborders_page(
    request: Request, session: SessionInfo, *, error: str = "", status_code: int = 200
) -> Response:
    status = status_filter(request.query_params.get("status"))
    page = page_number(request.query_params.get("pagina"))
    filters = parse_filters(request.query_params)
    query = ProviderList(
        status=status,
        page=page,
        page_size=PAGE_SIZE,
        school_number=filters.school_number,
        activity_from=filters.activity_from,
        activity_to=filters.activity_to,
    )
    listing = await usecase.weborders(request, _caller(session), query)
    pages = max(1, -(-listing.total // PAGE_SIZE))
    filter_query = urlencode(
        [
            (name, value)
            for name, value in (("status", status.value if status else ""), *filters.values.items())
            if value
        ]
    )
    return render(
        request,
        "aanbieder_weborders.html",
        {
            "title": "Weborders",
            "listing": listing,
            "status": status.value if status else "",
            "filters": filters.values,
            "errors": filters.errors,
            "filter_query": filter_query,
            "page": page,
            "pages": pages,
            "status_labels": STATUS_LABELS,
            "euro": format_euro,
            "notice": _notice(request),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
async def weborders_page(request: Request, session: ProviderSession) -> Response:
    return await _weborders_page(request, session)


@router.get("/weborders", response_class=HTMLResponse)
async def weborders_alias(request: Request, session: ProviderSession) -> Response:
    """The address the provider's mails link to (ck_weborders.mails): the list, same filters."""
    query = request.url.query
    return RedirectResponse("/aanbieder" + (f"?{query}" if query else ""), status_code=303)


async def _weborder_form(
    request: Request,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    answering: Any = None,
    status_code: int = 200,
) -> Response:
    # A fresh idempotency key per form: submitting the same form twice makes one weborder.
    values = {**values, "sleutel": values.get("sleutel") or uuid.uuid4().hex}
    return render(
        request,
        "aanbieder_weborder_nieuw.html",
        {
            "title": "Nieuwe weborder",
            "values": values,
            "errors": errors or {},
            "answering": answering,
        },
        status_code=status_code,
    )


@router.get("/weborders/nieuw", response_class=HTMLResponse)
async def new_weborder(request: Request, session: ProviderSession) -> Response:
    """The empty form, or (?aanvraag=<id>) prefilled to answer one of the provider's requests."""
    values = {name: "" for name in WEBORDER_FIELDS.values()}
    answering = None
    if raw := request.query_params.get("aanvraag", ""):
        requests = await usecase.offer_requests(request, _caller(session))
        answering = next((r for r in requests if str(r.request_id) == raw), None)
        if answering is None:  # not the provider's request (or unknown): an empty form
            return await _weborder_form(
                request,
                values,
                errors={GENERAL: i18n.render("provider_portal.request_unknown")},
                status_code=404,
            )
        offerings = await usecase.offerings(request, _caller(session))
        offering = next((o for o in offerings if o.offering_id == answering.offering_id), None)
        values = answer_values(answering, offering)
    return await _weborder_form(request, values, answering=answering)


@router.post("/weborders", response_class=HTMLResponse)
async def create_weborder(request: Request, session: ProviderSession) -> Response:
    form = await checked_form(request)
    values = weborder_values(form)
    fields, errors = parse_weborder(form)
    if fields is None:
        return await _weborder_form(request, values, errors=errors, status_code=422)
    try:
        made = await usecase.create_weborder(
            request, _caller(session), fields, values.get("sleutel", "")
        )
    except RpcFailed as exc:
        errors = service_errors(exc, WEBORDER_FIELDS)
        return await _weborder_form(
            request, values, errors=errors, status_code=422 if exc.error.code == "invalid" else 409
        )
    return RedirectResponse(
        f"/aanbieder?gedaan=aangemaakt#weborder-{made.weborder_id}", status_code=303
    )


@router.post("/weborders/{weborder_id}/annuleren", response_class=HTMLResponse)
async def cancel_weborder(
    request: Request, weborder_id: UUID, session: ProviderSession
) -> Response:
    await checked_form(request)
    try:
        await usecase.cancel_weborder(request, _caller(session), weborder_id)
    except RpcFailed as exc:
        message = service_errors(exc).get(GENERAL, exc.error.message)
        return await _weborders_page(
            request, session, error=message, status_code=refusal_status(exc)
        )
    return RedirectResponse("/aanbieder?gedaan=geannuleerd", status_code=303)


# --- Aanbod --------------------------------------------------------------------------------------
async def _offer_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    offerings = await usecase.offerings(request, _caller(session))
    return render(
        request,
        "aanbieder_aanbod.html",
        {
            "title": "Aanbod",
            "offerings": offerings,
            "values": values or {},
            "errors": errors or {},
            "euro": format_euro,
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/aanbod", response_class=HTMLResponse)
async def offer_page(request: Request, session: ProviderSession) -> Response:
    return await _offer_page(request, session)


@router.post("/aanbod", response_class=HTMLResponse)
async def add_offering(request: Request, session: ProviderSession) -> Response:
    form = await checked_form(request)
    values = offering_values(form)
    fields, errors = parse_offering(form)
    if fields is None:
        return await _offer_page(request, session, values=values, errors=errors, status_code=422)
    try:
        await usecase.publish_offering(request, _caller(session), fields)
    except RpcFailed as exc:
        errors = service_errors(exc, OFFERING_FIELDS)
        return await _offer_page(request, session, values=values, errors=errors, status_code=409)
    return RedirectResponse("/aanbieder/aanbod?gedaan=aanbod-toegevoegd", status_code=303)


async def _edit_page(
    request: Request,
    session: SessionInfo,
    offering_id: UUID,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    offerings = await usecase.offerings(request, _caller(session))
    offering = next((o for o in offerings if o.offering_id == offering_id), None)
    if offering is None:  # another provider's offering does not exist for this one
        return await _offer_page(
            request,
            session,
            errors={GENERAL: i18n.render("offering_not_found")},
            status_code=404,
        )
    return render(
        request,
        "aanbieder_aanbod_wijzigen.html",
        {
            "title": "Aanbod wijzigen",
            "offering": offering,
            "values": values or values_of_offering(offering),
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/aanbod/{offering_id}", response_class=HTMLResponse)
async def edit_offering_page(
    request: Request, offering_id: UUID, session: ProviderSession
) -> Response:
    return await _edit_page(request, session, offering_id)


@router.post("/aanbod/{offering_id}", response_class=HTMLResponse)
async def edit_offering(request: Request, offering_id: UUID, session: ProviderSession) -> Response:
    form = await checked_form(request)
    values = offering_values(form)
    fields, errors = parse_offering(form)
    if fields is None:
        return await _edit_page(
            request, session, offering_id, values=values, errors=errors, status_code=422
        )
    try:
        await usecase.publish_offering(request, _caller(session), fields, offering_id)
    except RpcFailed as exc:
        errors = service_errors(exc, OFFERING_FIELDS)
        return await _edit_page(
            request,
            session,
            offering_id,
            values=values,
            errors=errors,
            status_code=refusal_status(exc),
        )
    return RedirectResponse("/aanbieder/aanbod?gedaan=aanbod-gewijzigd", status_code=303)


@router.post("/aanbod/{offering_id}/intrekken", response_class=HTMLResponse)
async def withdraw_offering(
    request: Request, offering_id: UUID, session: ProviderSession
) -> Response:
    await checked_form(request)
    try:
        await usecase.withdraw_offering(request, _caller(session), offering_id)
    except RpcFailed as exc:
        return await _offer_page(
            request,
            session,
            errors=service_errors(exc),
            status_code=refusal_status(exc),
        )
    return RedirectResponse("/aanbieder/aanbod?gedaan=aanbod-ingetrokken", status_code=303)


# --- Aanvragen -----------------------------------------------------------------------------------
@router.get("/aanvragen", response_class=HTMLResponse)
async def requests_page(request: Request, session: ProviderSession) -> Response:
    requests = await usecase.offer_requests(request, _caller(session))
    return render(request, "aanbieder_aanvragen.html", {"title": "Aanvragen", "requests": requests})


# --- Kaartbetalingen -----------------------------------------------------------------------------
@router.get("/kaartbetalingen", response_class=HTMLResponse)
async def card_payments_page(request: Request, session: ProviderSession) -> Response:
    page = page_number(request.query_params.get("pagina"))
    query = OwnCardPayments(page=page, page_size=PAGE_SIZE)
    listing = await usecase.card_payments(request, _caller(session), query)
    return render(
        request,
        "aanbieder_kaartbetalingen.html",
        {
            "title": "Kaartbetalingen",
            "listing": listing,
            "page": page,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "euro": format_euro,
        },
    )


# --- Uitbetalingen (issue 13, capability 4) ------------------------------------------------------
STATEMENT_STATUS = {"open": False, "betaald": True}  # ?status=... -> ProviderStatementQuery.paid


@router.get("/uitbetalingen", response_class=HTMLResponse)
async def statements_page(request: Request, session: ProviderSession) -> Response:
    """The provider's own reimbursement statements, newest period first (invoicing takes the
    provider from the actor), paid or not, each with its PDF."""
    status = request.query_params.get("status", "")
    status = status if status in STATEMENT_STATUS else ""
    page = page_number(request.query_params.get("pagina"))
    query = ProviderStatementQuery(
        paid=STATEMENT_STATUS.get(status), page=page, page_size=PAGE_SIZE
    )
    listing = await payouts.own_statements(request, _caller(session), query)
    pages = max(1, -(-listing.total // PAGE_SIZE))

    def link(to_page: int) -> str:
        return "/aanbieder/uitbetalingen?" + urlencode(
            {k: v for k, v in (("status", status), ("pagina", str(to_page))) if v}
        )

    return render(
        request,
        "aanbieder_uitbetalingen.html",
        {
            "title": "Uitbetalingen",
            "statements": listing.items,
            "total": listing.total,
            "status": status,
            "page": page,
            "pages": pages,
            "previous_page": link(page - 1) if page > 1 else "",
            "next_page": link(page + 1) if page < pages else "",
            "euro": format_euro,
        },
    )


@router.get("/uitbetalingen/{statement_id}/pdf")
async def statement_pdf(request: Request, statement_id: UUID, session: ProviderSession) -> Response:
    """Another provider's statement does not exist for this one (404 from invoicing)."""
    return await payouts.own_statement_pdf(request, _caller(session), statement_id)


# --- API-sleutels --------------------------------------------------------------------------------
async def _keys_page(
    request: Request,
    session: SessionInfo,
    *,
    issued: IssuedApiKey | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    keys = await usecase.api_keys(request, session.actor)
    return render(
        request,
        "aanbieder_sleutels.html",
        {
            "title": "API-sleutels",
            "keys": keys,
            "issued": issued,
            "error": error,
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/api-sleutels", response_class=HTMLResponse)
async def keys_page(request: Request, session: ProviderSession) -> Response:
    return await _keys_page(request, session)


@router.post("/api-sleutels", response_class=HTMLResponse)
async def issue_key(request: Request, session: ProviderSession) -> Response:
    await checked_form(request)
    # Shown on this answer only (pages are Cache-Control: no-store); never again.
    issued = await usecase.issue_api_key(request, session.actor)
    return await _keys_page(request, session, issued=issued)


@router.get("/api-sleutels/{key_id}/intrekken", response_class=HTMLResponse)
async def confirm_revoke_key(request: Request, key_id: UUID, session: ProviderSession) -> Response:
    """ "Weet u het zeker?" naming the key by its prefix (issue 14, as the CJP admin's
    Aanbieders page); only the POST of that page revokes."""
    keys = await usecase.api_keys(request, session.actor)
    key = next((k for k in keys if k.key_id == key_id and k.revoked_at is None), None)
    if key is None:  # unknown, another provider's or revoked already: the list shows the keys
        return RedirectResponse("/aanbieder/api-sleutels", status_code=303)
    return confirm_page(
        request,
        consequences=[i18n.render("confirm.revoke_own_key", {"prefix": key.prefix})],
        confirm_label=i18n.gettext("confirm.revoke_key.button"),
        back="/aanbieder/api-sleutels",
    )


@router.post("/api-sleutels/{key_id}/intrekken", response_class=HTMLResponse)
async def revoke_key(request: Request, key_id: UUID, session: ProviderSession) -> Response:
    await checked_form(request)
    try:
        await usecase.revoke_api_key(request, session.actor, key_id)
    except RpcFailed as exc:
        message = service_errors(exc).get(GENERAL, exc.error.message)
        return await _keys_page(request, session, error=message, status_code=refusal_status(exc))
    return RedirectResponse("/aanbieder/api-sleutels?gedaan=sleutel-ingetrokken", status_code=303)
