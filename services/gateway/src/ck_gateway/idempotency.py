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

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from ck_contracts.rpc import IDEMPOTENCY_KEY_KEPT_SECONDS

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


def valid_key(key: str) -> bool:
    return _VALID_KEY.match(key) is not None


def use(ids: RequestIds) -> Token[RequestIds | None]:
    """Scope `ids` to the running request (until `release` with the token)."""
    return _current.set(ids)


def release(token: Token[RequestIds | None]) -> None:
    _current.reset(token)


def derive(secret: str, principal: str, method: str, path: str, key: str) -> RequestIds:
    message = "|".join((hashlib.sha256(principal.encode()).hexdigest(), method, path, key))
    base = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return RequestIds(base)


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
