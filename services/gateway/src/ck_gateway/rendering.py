"""Pages: Jinja2 templates with the layout's context (user, menu, CSRF token) filled in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ck_contracts.accounts import SessionInfo
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ck_gateway import csrf, i18n
from ck_gateway.auth import SESSION_COOKIE
from ck_gateway.errors import GatewayError
from ck_gateway.menu import active_item, menu_for

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=TEMPLATE_DIR)
templates.env.add_extension("jinja2.ext.i18n")
# The templates' text lives in the catalogue too ({% trans %} / _()), see ck_gateway.i18n.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def amsterdam(moment: datetime | None) -> str:
    """A moment as a Dutch school reads it: 16-11-2022 15:24, Amsterdam time."""
    if moment is None:
        return ""
    if moment.tzinfo is None:  # stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M")


templates.env.filters["amsterdam"] = amsterdam


def _secret(request: Request) -> str:
    secret: str = request.app.state.secret_key
    return secret


def csrf_token(request: Request, session_token: str | None = None) -> str:
    """This request's form token: the cookie's when it is still valid, else a new one.

    `session_token` overrides the cookie for the response that has just logged someone in.
    """
    cached: str | None = getattr(request.state, "csrf_token", None)
    if cached is not None and session_token is None:
        return cached
    binding = csrf.session_binding(session_token or request.cookies.get(SESSION_COOKIE))
    cookie = request.cookies.get(csrf.COOKIE_NAME)
    if session_token is None and csrf.is_valid(_secret(request), cookie, binding):
        token = str(cookie)
    else:
        token = csrf.new_token(_secret(request), binding)
        request.state.csrf_cookie = token  # set on the response by set_csrf_cookie
    request.state.csrf_token = token
    return token


def set_csrf_cookie(request: Request, response: HTMLResponse | Any) -> None:
    token = getattr(request.state, "csrf_cookie", None)
    if token:
        response.set_cookie(
            csrf.COOKIE_NAME,
            token,
            path="/",
            httponly=True,
            samesite="strict",  # never sent with a request another site starts
            secure=request.app.state.settings.secure_cookies,
        )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    session: SessionInfo | None = getattr(request.state, "session", None)
    actor = session.actor if session is not None else None
    menu = menu_for(actor)
    page: dict[str, Any] = {
        "session": session,
        "menu": menu,
        "active": active_item(menu, request.url.path),
        "csrf_field_name": csrf.FIELD_NAME,
        "csrf_token": csrf_token(request),
        "values": {},
        "errors": {},
    }
    page.update(context or {})
    response = templates.TemplateResponse(
        request, template, page, status_code=status_code, headers=headers
    )
    set_csrf_cookie(request, response)
    return response


def render_error(request: Request, error: GatewayError) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": error.title,
            "message": error.message,
            "status": error.status,
            "fields": error.fields,
        },
        status_code=error.status,
        headers=error.headers(),
    )


def render_bare_error(error: GatewayError) -> HTMLResponse:
    """An error page without a request context (middleware that answers before routing)."""
    html = templates.get_template("error.html").render(
        {
            "title": error.title,
            "message": error.message,
            "status": error.status,
            "session": None,
            "menu": [],
            "active": None,
            "csrf_token": "",
            "csrf_field_name": csrf.FIELD_NAME,
        }
    )
    return HTMLResponse(html, status_code=error.status, headers=error.headers())
