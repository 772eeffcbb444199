"""Log-in, log-out and setting a password from the welcome mail's link."""

from __future__ import annotations

from ck_contracts.accounts import (
    Ops,
    PasswordLink,
    PasswordLinkInfo,
    SetPassword,
    password_error,
)
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed, ServiceUnavailable
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import (
    clear_session_cookie,
    page_session,
    plausible_token,
    session_cookie,
    set_session_cookie,
)
from ck_gateway.csrf import COOKIE_NAME as CSRF_COOKIE
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import from_rpc_error, render_fields
from ck_gateway.forms import text_field
from ck_gateway.rendering import csrf_token, render, set_csrf_cookie
from ck_gateway.usecases import sessions
from ck_gateway.usecases.requests import request_of

router = APIRouter(include_in_schema=False)

# The gateway's own messages on these pages (catalogue: "# === gateway pages and forms").
INVALID_LINK = "password_link.invalid"
EMAIL_MISSING = "login.email_missing"
PASSWORD_MISSING = "login.password_missing"  # noqa: S105 (a message id, not a secret)
NEW_PASSWORD_MISSING = "password_link.password_missing"  # noqa: S105
PASSWORDS_DIFFER = "password_link.passwords_differ"
REPEAT_MISSING = "password_link.repeat_missing"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/inloggen", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    try:
        if await page_session(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    except ServiceUnavailable:
        pass  # the form still shows; posting it will say which service is down
    return render(request, "login.html", {"title": "Inloggen", "values": {"next": safe_next(next)}})


@router.post("/inloggen", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await checked_form(request)
    values = {
        "email": text_field(form, "email").strip(),
        "next": safe_next(text_field(form, "next")),
    }
    password = text_field(form, "password")
    errors: dict[str, str] = {}
    if not values["email"]:
        errors["email"] = i18n.render(EMAIL_MISSING)
    if not password:
        errors["password"] = i18n.render(PASSWORD_MISSING)
    if errors:
        return render(
            request,
            "login.html",
            {"title": "Inloggen", "values": values, "errors": errors},
            status_code=422,
        )
    try:
        result = await sessions.log_in(request, values["email"], password)
    except RpcFailed as exc:
        # Wrong password and unknown user get the same message from accounts; a lock says
        # how long to wait.
        error = from_rpc_error(exc.error)
        return render(
            request,
            "login.html",
            {"title": "Inloggen", "values": values, "message": error.message},
            status_code=error.status,
            headers=error.headers(),
        )
    secure = request.app.state.settings.secure_cookies
    response = RedirectResponse(values["next"], status_code=303)
    now = backend.clock_of(request).now()
    set_session_cookie(response, result.token, result.expires_at, now=now, secure=secure)
    # A new form token bound to the new session: one from before the log-in stops working.
    csrf_token(request, session_token=result.token)
    set_csrf_cookie(request, response)
    return response


@router.post("/uitloggen")
async def logout(request: Request) -> Response:
    await checked_form(request)
    if (token := session_cookie(request)) is not None:
        await sessions.log_out(request, token)
    secure = request.app.state.settings.secure_cookies
    response = RedirectResponse("/inloggen", status_code=303)
    clear_session_cookie(response, secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    return response


async def _link_info(request: Request, token: str) -> PasswordLinkInfo:
    return await backend.send(
        request, Ops.PASSWORD_LINK_CHECK, request_of(PasswordLink, token=token)
    )


def _link_unusable(request: Request, message: str, status_code: int) -> HTMLResponse:
    return render(
        request,
        "password_link.html",
        {"title": "Wachtwoord instellen", "unusable": message},
        status_code=status_code,
    )


@router.get("/wachtwoord-instellen", response_class=HTMLResponse)
async def password_page(request: Request, token: str | None = None) -> Response:
    if plausible_token(token) is None:
        return _link_unusable(request, i18n.render(INVALID_LINK), 400)
    assert token is not None
    try:
        info = await _link_info(request, token)
    except RpcFailed as exc:
        error = from_rpc_error(exc.error)
        return _link_unusable(request, error.message, error.status)
    return render(
        request,
        "password_link.html",
        {"title": "Wachtwoord instellen", "info": info, "token": token},
    )


@router.post("/wachtwoord-instellen", response_class=HTMLResponse)
async def set_password(request: Request) -> Response:
    form = await checked_form(request)
    token = plausible_token(text_field(form, "token"))
    if token is None:
        return _link_unusable(request, i18n.render(INVALID_LINK), 400)
    password, repeated = text_field(form, "password"), text_field(form, "password_repeat")
    errors = _password_form_errors(password, repeated)
    try:
        if not errors:
            command = request_of(SetPassword, token=token, password=password)
            info = await backend.send(request, Ops.PASSWORD_LINK_USE, command)
            return render(
                request,
                "password_link.html",
                {"title": "Wachtwoord instellen", "info": info, "done": True},
            )
        info = await _link_info(request, token)
        # One round of errors (issue 14): the password's own rules (the contract's, the same
        # that accounts applies when it stores it) next to a blank or mistyped repeat.
        if password and (problem := password_error(password, info.email)) is not None:
            errors["password"] = render_fields({"password": problem})["password"]
    except RpcFailed as exc:
        if exc.error.code != ErrorCode.INVALID:
            error = from_rpc_error(exc.error)
            return _link_unusable(request, error.message, error.status)
        # The password breaks a rule: say which, and show the form again.
        errors = {"password": exc.error.fields.get("password", exc.error.message)}
        info = await _link_info(request, token)
    return render(
        request,
        "password_link.html",
        {"title": "Wachtwoord instellen", "info": info, "token": token, "errors": errors},
        status_code=422,
    )


def _password_form_errors(password: str, repeated: str) -> dict[str, str]:
    """What the form alone shows: a blank field, each; two passwords that differ."""
    errors: dict[str, str] = {}
    if not password:
        errors["password"] = i18n.render(NEW_PASSWORD_MISSING)
    if not repeated:
        errors["password_repeat"] = i18n.render(REPEAT_MISSING)
    elif password and password != repeated:
        errors["password_repeat"] = i18n.render(PASSWORDS_DIFFER)
    return errors
