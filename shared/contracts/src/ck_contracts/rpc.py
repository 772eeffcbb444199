"""Request/reply envelope between the gateway and the services.

A request names an operation ("school.register"), the actor, and a payload. A reply is either
{"ok": true, "result": ...} or {"ok": false, "error": {...}}. Error messages are Dutch: the
portal shows them as they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.roles import Actor


class ErrorCode(StrEnum):
    INVALID = "invalid"  # 422: the input breaks a rule; `fields` says which
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409: e.g. e-mail already in use, link already used
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403: role or tenant check failed
    THROTTLED = "throttled"  # 429
    UNAVAILABLE = "unavailable"  # 503: a service did not answer in time
    INTERNAL = "internal"  # 500


class RpcError(BaseModel):
    code: ErrorCode
    message: str
    fields: dict[str, str] = Field(default_factory=dict)
    retry_after_seconds: int | None = None


class RpcRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: str
    actor: Actor | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class RpcReply(BaseModel):
    ok: bool
    result: Any = None
    error: RpcError | None = None


class Empty(BaseModel):
    """Payload of operations that take no arguments."""

    model_config = ConfigDict(extra="ignore")
