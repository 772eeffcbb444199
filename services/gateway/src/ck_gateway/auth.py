"""Who is asking: the session cookie (pages) or a bearer token (API), resolved by accounts.

Every request asks the accounts service again (no cache), so a log-out or a new password ends
a session at once on every replica.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ck_contracts.accounts import Ops, SessionInfo, SessionToken
from ck_contracts.roles import Role
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ck_gateway import backend, i18n
from ck_gateway.errors import forbidden, unauthenticated
from ck_gateway.usecases.requests import request_of

SESSION_COOKIE = "ck_session"
_TOKEN_LENGTH = range(16, 129)  # what accounts accepts (SessionToken)
_UNRESOLVED = object()
# The API's answers without a usable token (catalogue: "# === gateway pages and forms").
NO_TOKEN = "auth.bearer_token_missing"  # noqa: S105 (a message id)
UNKNOWN_TOKEN = "auth.bearer_token_unknown"  # noqa: S105

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="The token from POST /api/v1/auth/login.",
)


class LoginRequired(Exception):
    """A page needs a logged-in user: answered with a redirect to /inloggen."""


def plausible_token(token: str | None) -> str | None:
    return token if token and len(token) in _TOKEN_LENGTH else None


async def resolve(request: Request, token: str | None) -> SessionInfo | None:
    """The session behind a token, or None when it is unknown or expired (cached per request)."""
    cached = getattr(request.state, "session", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        assert cached is None or isinstance(cached, SessionInfo)
        return cached
    session: SessionInfo | None = None
    if (token := plausible_token(token)) is not None:
        try:
            session = await backend.send(
                request, Ops.SESSION, request_of(SessionToken, token=token)
            )
        except RpcFailed as exc:
            if exc.error.code != ErrorCode.UNAUTHENTICATED:
                raise
    request.state.session = session
    return session


def session_cookie(request: Request) -> str | None:
    return plausible_token(request.cookies.get(SESSION_COOKIE))


async def page_session(request: Request) -> SessionInfo | None:
    return await resolve(request, session_cookie(request))


async def require_page_session(request: Request) -> SessionInfo:
    session = await page_session(request)
    if session is None:
        raise LoginRequired()
    return session


async def require_api_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> SessionInfo:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthenticated(i18n.render(NO_TOKEN))
    session = await resolve(request, credentials.credentials)
    if session is None:
        raise unauthenticated(i18n.render(UNKNOWN_TOKEN))
    return session


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    token = plausible_token(credentials.credentials if credentials is not None else None)
    if token is None:
        raise unauthenticated(i18n.render(NO_TOKEN))
    return token


# --- provider portal (issue 13) ---
async def require_provider_session(request: Request) -> SessionInfo:
    """A page under /aanbieder: a logged-in provider user (role provider with a provider id);
    anyone else logged in gets 403, nobody logged in goes to /inloggen. The services check the
    actor again and take the provider from it (never from a form)."""
    session = await require_page_session(request)
    if session.actor.role is not Role.PROVIDER or session.actor.provider_id is None:
        raise forbidden()
    return session


PageSession = Annotated[SessionInfo, Depends(require_page_session)]
ProviderSession = Annotated[SessionInfo, Depends(require_provider_session)]  # issue 13
ApiSession = Annotated[SessionInfo, Depends(require_api_session)]
BearerToken = Annotated[str, Depends(bearer_token)]


def set_session_cookie(
    response: Response, token: str, expires_at: datetime, *, now: datetime, secure: bool
) -> None:
    max_age = max(0, int((expires_at - now).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,  # scripts never see the token
        samesite="lax",  # sent when following a link from a mail, not on cross-site posts
        secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
