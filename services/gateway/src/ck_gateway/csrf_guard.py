"""Reads a posted HTML form and lets it through only with a valid CSRF token."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import Request
from starlette.datastructures import FormData

from ck_gateway import csrf
from ck_gateway.auth import SESSION_COOKIE


async def checked_form(request: Request) -> FormData:
    """The posted form; raises CsrfFailed (403 page) when its token does not match. Its files
    are closed when the request is done: an uploaded roster beyond 1 MB lies in a temporary
    file, which would otherwise stay open (people's data, a descriptor) until the garbage
    collector came by. FastAPI closes the forms it parses itself on this same stack."""
    form = await request.form()
    files = request.scope.get("fastapi_middleware_astack")
    if isinstance(files, AsyncExitStack):
        files.push_async_callback(form.close)
    field = form.get(csrf.FIELD_NAME)
    ok = csrf.form_matches(
        request.app.state.secret_key,
        request.cookies.get(csrf.COOKIE_NAME),
        field if isinstance(field, str) else None,
        csrf.session_binding(request.cookies.get(SESSION_COOKIE)),
    )
    if not ok:
        raise csrf.CsrfFailed()
    return form
