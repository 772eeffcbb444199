"""CJP admin: Uitbetalingen (issue 13, capability 4). Every provider's reimbursement
statements with filters (provider, period, paid or not), one statement with its lines and its
PDF, and marking it paid (permission RECORD_PAYMENT, checked here and by invoicing)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.invoicing import Ops
from ck_contracts.money import format_euro
from ck_contracts.payouts import MarkStatementPaid, StatementQuery, StatementRef
from ck_contracts.roles import Permission
from ck_contracts.rpc import Empty, ErrorCode
from ck_contracts.weborders import Ops as WeborderOps
from ck_contracts.weborders import Provider
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden
from ck_gateway.rendering import render
from ck_gateway.usecases import payouts

router = APIRouter(prefix="/beheer/uitbetalingen", include_in_schema=False)


def _require(session: SessionInfo) -> None:
    if not session.actor.has(Permission.RECORD_PAYMENT):
        raise forbidden()


async def _providers(request: Request, session: SessionInfo) -> dict[UUID, Provider]:
    if not session.actor.has(Permission.REGISTER_PROVIDER):
        return {}
    providers = await backend.send(request, WeborderOps.PROVIDER_LIST, Empty(), actor=session.actor)
    return {p.provider_id: p for p in sorted(providers, key=lambda p: p.name.lower())}


def refusal_status(exc: RpcFailed) -> int:
    return {ErrorCode.NOT_FOUND: 404, ErrorCode.INVALID: 422}.get(exc.error.code, 409)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("", response_class=HTMLResponse)
async def statements_page(request: Request, session: PageSession) -> Response:
    _require(session)
    params = request.query_params
    values = {k: params.get(k, "") for k in ("aanbieder", "van", "tot", "status", "pagina")}
    errors: dict[str, str] = {}
    provider_id: UUID | None = None
    if values["aanbieder"]:
        try:
            provider_id = UUID(values["aanbieder"])
        except ValueError:
            errors["aanbieder"] = i18n.render("payouts_page.bad_provider")
    period_from, period_to = _date(values["van"]), _date(values["tot"])
    for field, parsed in (("van", period_from), ("tot", period_to)):
        if values[field] and parsed is None:
            errors[field] = i18n.render("payouts_page.bad_date")
    paid = {"betaald": True, "open": False}.get(values["status"])
    page = int(values["pagina"]) if values["pagina"].isdigit() and int(values["pagina"]) > 0 else 1
    query = StatementQuery(
        provider_id=provider_id,
        period_from=period_from,
        period_to=period_to,
        paid=paid,
        page=min(page, 10_000),
        page_size=50,
    )
    listed = await backend.send(request, Ops.STATEMENT_LIST, query, actor=session.actor)
    providers = await _providers(request, session)
    following = {k: v for k, v in values.items() if v and k != "pagina"}
    return render(
        request,
        "admin_statements.html",
        {
            "title": i18n.render("payouts_page.title"),
            "statements": listed.items,
            "total": listed.total,
            "page": query.page,
            "next_page": (
                "?" + urlencode({**following, "pagina": query.page + 1})
                if query.page * query.page_size < listed.total
                else ""
            ),
            "providers": providers,
            "values": values,
            "errors": errors,
            "euro": format_euro,
            "notice": (
                i18n.render("payouts_page.done.betaald")
                if params.get("gedaan") == "betaald"
                else ""
            ),
        },
        status_code=422 if errors else 200,
    )


async def _statement_page(
    request: Request,
    session: SessionInfo,
    statement_id: UUID,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    statement = await backend.send(
        request, Ops.STATEMENT_GET, StatementRef(statement_id=statement_id), actor=session.actor
    )
    providers = await _providers(request, session)
    context: dict[str, Any] = {
        "title": i18n.render("payouts_page.statement_title", {"number": statement.number}),
        "statement": statement,
        "provider": providers.get(statement.provider_id),
        "euro": format_euro,
        "today": backend.today(request).isoformat(),
        "values": values or {},
        "error": error,
    }
    return render(request, "admin_statement.html", context, status_code=status_code)


@router.get("/{statement_id}", response_class=HTMLResponse)
async def statement_page(request: Request, statement_id: UUID, session: PageSession) -> Response:
    _require(session)
    return await _statement_page(request, session, statement_id)


@router.get("/{statement_id}/pdf")
async def statement_pdf(request: Request, statement_id: UUID, session: PageSession) -> Response:
    _require(session)
    statement = await backend.send(
        request, Ops.STATEMENT_GET, StatementRef(statement_id=statement_id), actor=session.actor
    )
    provider = (await _providers(request, session)).get(statement.provider_id)
    return await payouts.admin_pdf(request, session.actor, statement_id, provider)


@router.post("/{statement_id}/betaald", response_class=HTMLResponse)
async def mark_paid(request: Request, statement_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    _require(session)
    values = {"datum": str(form.get("datum", "") or ""), "kenmerk": str(form.get("kenmerk", ""))}
    paid_on = _date(values["datum"])
    if paid_on is None:
        message = i18n.render("payouts_page.bad_date")
        return await _statement_page(
            request, session, statement_id, values=values, error=message, status_code=422
        )
    if len(values["kenmerk"]) > 100:
        message = i18n.render("payouts_page.reference_too_long")
        return await _statement_page(
            request, session, statement_id, values=values, error=message, status_code=422
        )
    command = MarkStatementPaid(
        statement_id=statement_id, paid_on=paid_on, payment_reference=values["kenmerk"].strip()
    )
    try:
        await backend.send(request, Ops.STATEMENT_MARK_PAID, command, actor=session.actor)
    except RpcFailed as exc:
        return await _statement_page(
            request,
            session,
            statement_id,
            values=values,
            error=exc.error.message,
            status_code=refusal_status(exc),
        )
    return RedirectResponse(f"/beheer/uitbetalingen?{urlencode({'gedaan': 'betaald'})}", 303)
