"""Request/reply envelope between the gateway and the services.

A request names an operation ("school.register"), the actor, and a payload. A reply is either
{"ok": true, "result": ...} or {"ok": false, "error": {...}}. An error carries a kind (`code`,
which the gateway maps to an HTTP status), a stable `reason` with its `params`
("insufficient_balance", {"balance_cents": 0, "amount_cents": 2100}) and per-field reasons.
Services write no prose: the gateway renders reasons in Dutch from its one catalogue.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ck_contracts.operations import Operation
from ck_contracts.roles import Actor


class ErrorCode(StrEnum):
    INVALID = "invalid"  # 422: the input breaks a rule; `fields` says which
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409: e.g. e-mail already in use, link already used
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403: role or tenant check failed
    THROTTLED = "throttled"  # 429
    UNAVAILABLE = "unavailable"  # 503: a service did not answer in time
    REFUSED = "refused"  # 401 at the gateway: the request's signature is missing or wrong
    INTERNAL = "internal"  # 500


class Reasons(StrEnum):
    """Base of every enum of error reasons (CommonReason, InvoicingReason, ...): the catalogue
    test finds them by this base and fails when one has no Dutch."""


class CommonReason(Reasons):
    """Reasons every service may answer with; each service adds its own in its contracts.
    Their values are the codes the API answered with before reasons existed, so programs that
    branch on "invalid" or "unauthenticated" keep working."""

    INVALID_INPUT = "invalid"  # see the per-field reasons
    NOT_FOUND = "not_found"
    SCHOOL_UNKNOWN = "school_unknown"  # a service has not (yet) heard of the school
    LOGIN_REQUIRED = "unauthenticated"
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"
    INTERNAL = "internal"
    UNKNOWN_OPERATION = "unknown_operation"
    REUSED_REQUEST = "reused_request"  # an Idempotency-Key used before for another request
    SIGNATURE_REFUSED = "signature_refused"
    UNAVAILABLE = "unavailable"


Param = str | int | float | bool | None


class FieldError(BaseModel):
    """What is wrong with one field: a reason ("field.too_long") and its params."""

    reason: str
    params: dict[str, Param] = Field(default_factory=dict)


class FieldProblems(BaseModel):
    """The answer of a check operation (issue 14, one round of errors): every problem a
    service's rules find in a form's input, by the field paths of the command it checks,
    without doing anything. Empty: nothing to report."""

    fields: dict[str, FieldError] = Field(default_factory=dict)


class RpcError(BaseModel):
    code: ErrorCode
    reason: str = ""
    params: dict[str, Param] = Field(default_factory=dict)
    field_errors: dict[str, FieldError] = Field(default_factory=dict)
    retry_after_seconds: int | None = None
    # The Dutch, filled in by the gateway from its catalogue (ck_gateway.errors.localized) for
    # the pages that show it; services leave them empty.
    message: str = ""
    fields: dict[str, str] = Field(default_factory=dict)


# How long a service keeps a command's answer for repeats of the same request id: long enough
# for the gateway's own retry after a timeout (and a broker redelivery, which cannot come after
# the request's expiration); a day for requests whose id comes from a client's Idempotency-Key.
REPLY_KEPT_SECONDS = 15 * 60
IDEMPOTENCY_KEY_KEPT_SECONDS = 24 * 60 * 60


def new_request_id() -> str:
    return uuid4().hex


class RpcRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: str = Field(max_length=100)
    actor: Actor | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    # The same id for a retry of the same command: the service answers a repeat with the first
    # answer instead of doing the work again (exactly-once commands).
    request_id: str = Field(default_factory=new_request_id, pattern=r"^[0-9a-f]{32,64}$")
    keep_reply_seconds: int = Field(
        default=REPLY_KEPT_SECONDS, ge=60, le=IDEMPOTENCY_KEY_KEPT_SECONDS
    )

    @field_validator("op", mode="before")
    @classmethod
    def _op_name(cls, value: object) -> object:
        """A declared Operation stands for its name (tests and tools build requests so)."""
        return value.name if isinstance(value, Operation) else value


class RpcReply(BaseModel):
    ok: bool
    result: Any = None
    error: RpcError | None = None


class Empty(BaseModel):
    """Payload of operations that take no arguments."""

    model_config = ConfigDict(extra="ignore")
