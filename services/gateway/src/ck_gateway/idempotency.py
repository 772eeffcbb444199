"""Idempotency-Key on every state-changing call of the JSON API.

A client that does not know whether its POST arrived (a timeout, a dropped connection) sends
it again with the same `Idempotency-Key`: the service answers with the first answer instead of
doing the work twice (ck_runtime.commands). The gateway turns the key into the request ids of
the calls it makes for that request:

    base = HMAC-SHA256(GATEWAY_SECRET_KEY, principal | method | path | key)
    request id of the n-th call = HMAC-SHA256(base, n)

`principal` is a hash of the Authorization header, so two clients (or two schools) with the
same key never meet, and the ids cannot be guessed without the gateway's secret. The same key
with another body answers 409 (the service compares a hash of operation and payload). Answers
are kept 24 hours (ck_contracts.rpc.IDEMPOTENCY_KEY_KEPT_SECONDS).

Without the header every call gets a fresh id; the gateway still retries a timed-out call
with its id, so a lost reply never runs a command twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ck_contracts.rpc import IDEMPOTENCY_KEY_KEPT_SECONDS
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ck_gateway import errors

HEADER = "Idempotency-Key"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/v1/"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, like a UUID or a reference
BAD_KEY_MESSAGE = (
    "De Idempotency-Key moet 1 tot 200 zichtbare ASCII-tekens lang zijn, bijvoorbeeld een UUID."
)
KEY_DESCRIPTION = (
    "Optional. Send the same key again (with the same body) when you do not know whether a "
    "call arrived: you get the first answer and nothing happens twice. Kept 24 hours. "
    "The same key with another body answers 409."
)


@dataclass
class RequestIds:
    """The request ids of one HTTP request's calls, derived from its Idempotency-Key."""

    base: bytes
    calls: int = field(default=0)
    keep_seconds: int = IDEMPOTENCY_KEY_KEPT_SECONDS

    def next(self) -> str:
        self.calls += 1
        return hmac.new(self.base, str(self.calls).encode(), hashlib.sha256).hexdigest()


_current: ContextVar[RequestIds | None] = ContextVar("ck_idempotency", default=None)


def current_request_ids() -> RequestIds | None:
    return _current.get()


def derive(secret: str, principal: str, method: str, path: str, key: str) -> RequestIds:
    message = "|".join((hashlib.sha256(principal.encode()).hexdigest(), method, path, key))
    base = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return RequestIds(base)


class IdempotencyKeyMiddleware:
    """Reads the header of state-changing API calls and scopes the derived ids to the request."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in STATE_CHANGING
            or not str(scope["path"]).startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        principal = headers.get("authorization", "")
        if key is None or not principal:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            error = errors.GatewayError(400, errors.BAD_REQUEST, BAD_KEY_MESSAGE)
            await JSONResponse(error.body(), status_code=400)(scope, receive, send)
            return
        ids = derive(self.secret, principal, scope["method"], str(scope["path"]), key)
        token = _current.set(ids)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the optional header to every state-changing operation of the API in the OpenAPI
    document (operations that declare it themselves keep their own text)."""
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": KEY_DESCRIPTION,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            if method.upper() not in STATE_CHANGING or not isinstance(operation, dict):
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == HEADER for p in parameters):
                parameters.append(dict(parameter))
    return schema
