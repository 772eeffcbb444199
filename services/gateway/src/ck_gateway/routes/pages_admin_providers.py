"""CJP admin: Aanbieders (R-ROLE-3/4). Register a cultural provider, issue an API key (shown
once, on the page that answers the request; the weborders service keeps only a keyed hash),
list a provider's keys by their prefix, revoke one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.roles import Permission
from ck_contracts.rpc import Empty
from ck_contracts.weborders import (
    IssuedApiKey,
    Ops,
    Provider,
    ProviderRef,
    RegisterProvider,
    RevokeKey,
)
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden, from_http_status
from ck_gateway.rendering import render
from ck_gateway.routes.pages_weborders import refusal_status, service_errors
from ck_gateway.usecases import provider_users
from ck_gateway.weborder_views import PROVIDER_FIELDS, parse_provider, text

router = APIRouter(prefix="/beheer/aanbieders", include_in_schema=False)

# ?gedaan=...: msgid providers_page.done.<it>; "uitgenodigd": a provider user (issue 13)
DONE = ("geregistreerd", "ingetrokken", "uitgenodigd")


def _require(session: SessionInfo) -> None:
    if not session.actor.has(Permission.REGISTER_PROVIDER):
        raise forbidden()


async def _providers(request: Request, session: SessionInfo) -> list[Provider]:
    providers = await backend.send(request, Ops.PROVIDER_LIST, Empty(), actor=session.actor)
    return sorted(providers, key=lambda p: p.name.lower())


async def _list_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    _require(session)
    return render(
        request,
        "admin_providers.html",
        {
            "title": "Aanbieders",
            "providers": await _providers(request, session),
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
async def providers_page(request: Request, session: PageSession) -> Response:
    return await _list_page(request, session)


@router.post("", response_class=HTMLResponse)
async def register_provider(request: Request, session: PageSession) -> Response:
    form = await checked_form(request)
    _require(session)
    values = {name: text(form, name) for name in PROVIDER_FIELDS.values()}
    fields, errors = parse_provider(form)
    if fields is None:
        return await _list_page(request, session, values=values, errors=errors, status_code=422)
    try:
        provider = await backend.send(
            request, Ops.PROVIDER_REGISTER, RegisterProvider(provider=fields), actor=session.actor
        )
    except RpcFailed as exc:
        errors = service_errors(exc, PROVIDER_FIELDS)
        return await _list_page(request, session, values=values, errors=errors, status_code=409)
    return RedirectResponse(
        f"/beheer/aanbieders/{provider.provider_id}?gedaan=geregistreerd", status_code=303
    )


async def _provider_page(
    request: Request,
    provider_id: UUID,
    session: SessionInfo,
    *,
    issued: IssuedApiKey | None = None,
    error: str = "",
    invite_values: dict[str, str] | None = None,
    invite_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    _require(session)
    provider = next(
        (p for p in await _providers(request, session) if p.provider_id == provider_id), None
    )
    if provider is None:
        raise from_http_status(404)
    keys = await backend.send(
        request, Ops.KEY_LIST, ProviderRef(provider_id=provider_id), actor=session.actor
    )
    keys.sort(key=lambda k: k.created_at, reverse=True)
    users = await provider_users.users_of(request, session.actor, provider_id)
    context: dict[str, Any] = {
        "users": users,
        "invite_values": invite_values or {},
        "invite_errors": invite_errors or {},
        "title": provider.name,
        "provider": provider,
        "keys": keys,
        "issued": issued,
        "notice": (
            i18n.render(f"providers_page.done.{done}")
            if (done := request.query_params.get("gedaan", "")) in DONE
            else ""
        ),
        "error": error,
    }
    return render(request, "admin_provider.html", context, status_code=status_code)


@router.get("/{provider_id}", response_class=HTMLResponse)
async def provider_page(request: Request, provider_id: UUID, session: PageSession) -> Response:
    return await _provider_page(request, provider_id, session)


@router.post("/{provider_id}/sleutels", response_class=HTMLResponse)
async def issue_key(request: Request, provider_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    _require(session)
    # Shown on this answer only (pages are Cache-Control: no-store); never again.
    issued = await backend.send(
        request, Ops.KEY_ISSUE, ProviderRef(provider_id=provider_id), actor=session.actor
    )
    return await _provider_page(request, provider_id, session, issued=issued)


@router.get("/{provider_id}/sleutels/{key_id}/intrekken", response_class=HTMLResponse)
async def confirm_revoke_key(
    request: Request, provider_id: UUID, key_id: UUID, session: PageSession
) -> Response:
    """ "Weet u het zeker?" naming the key by its prefix and the provider (issue 14)."""
    _require(session)
    provider = next(
        (p for p in await _providers(request, session) if p.provider_id == provider_id), None
    )
    if provider is None:
        raise from_http_status(404)
    keys = await backend.send(
        request, Ops.KEY_LIST, ProviderRef(provider_id=provider_id), actor=session.actor
    )
    key = next((k for k in keys if k.key_id == key_id and k.revoked_at is None), None)
    if key is None:  # unknown or revoked already: the provider's page shows its keys
        return RedirectResponse(f"/beheer/aanbieders/{provider_id}", status_code=303)
    params = {"prefix": key.prefix, "provider": provider.name}
    return confirm_page(
        request,
        consequences=[i18n.render("confirm.revoke_key", params)],
        confirm_label=i18n.gettext("confirm.revoke_key.button"),
        back=f"/beheer/aanbieders/{provider_id}",
    )


@router.post("/{provider_id}/sleutels/{key_id}/intrekken", response_class=HTMLResponse)
async def revoke_key(
    request: Request, provider_id: UUID, key_id: UUID, session: PageSession
) -> Response:
    await checked_form(request)
    _require(session)
    command = RevokeKey(provider_id=provider_id, key_id=key_id)
    try:
        await backend.send(request, Ops.KEY_REVOKE, command, actor=session.actor)
    except RpcFailed as exc:
        message = service_errors(exc).get("__all__", exc.error.message)
        return await _provider_page(
            request, provider_id, session, error=message, status_code=refusal_status(exc)
        )
    return RedirectResponse(f"/beheer/aanbieders/{provider_id}?gedaan=ingetrokken", status_code=303)


# --- provider users (issue 13): invited to the provider portal ---------------------------------
@router.post("/{provider_id}/gebruikers", response_class=HTMLResponse)
async def invite_user(request: Request, provider_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    _require(session)
    values = {"naam": text(form, "naam"), "email": text(form, "email")}
    provider = next(
        (p for p in await _providers(request, session) if p.provider_id == provider_id), None
    )
    if provider is None:
        raise from_http_status(404)
    errors = await provider_users.all_invite_errors(request, session.actor, values, provider)
    if not errors:
        try:
            await provider_users.invite(request, session.actor, provider, values)
        except RpcFailed as exc:
            errors = service_errors(exc, {"name": "naam", "email": "email"})
    if errors:
        return await _provider_page(
            request,
            provider_id,
            session,
            invite_values=values,
            invite_errors=errors,
            status_code=422,
        )
    return RedirectResponse(
        f"/beheer/aanbieders/{provider_id}?gedaan=uitgenodigd#gebruikers", status_code=303
    )
