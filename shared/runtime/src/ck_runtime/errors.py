"""Errors a service handler raises; the RPC layer turns them into error replies.

A service answers with a stable reason and its params, never with prose:

    raise Conflict(BudgetReason.INSUFFICIENT_BALANCE, balance_cents=0, amount_cents=2100)

The gateway renders the reason in Dutch from its catalogue (ck_gateway.i18n); programs using the
API branch on it. Per-field problems go in `fields` as FieldError (ck_runtime.validation makes
them from pydantic errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ck_contracts.rpc import CommonReason, ErrorCode, FieldError, Param, RpcError

# A reason is a code ("insufficient_balance", "roster.cell.too_long"), never a sentence.
_REASON = re.compile(r"^[a-z][a-z0-9_.]*$")


class ServiceError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL
    default_reason: str = CommonReason.INTERNAL

    def __init__(
        self,
        reason: str | None = None,
        *,
        fields: Mapping[str, FieldError] | None = None,
        retry_after_seconds: int | None = None,
        **params: Param,
    ) -> None:
        reason = str(reason) if reason is not None else self.default_reason
        if not _REASON.match(reason):
            raise ValueError(f"not a reason code: {reason!r} (services answer with codes)")
        super().__init__(reason)
        self.reason = reason
        self.params: dict[str, Param] = dict(params)
        self.field_errors = dict(fields or {})
        self.retry_after_seconds = retry_after_seconds

    def to_rpc(self) -> RpcError:
        return RpcError(
            code=self.code,
            reason=self.reason,
            params=self.params,
            field_errors=self.field_errors,
            retry_after_seconds=self.retry_after_seconds,
        )


class Invalid(ServiceError):
    code = ErrorCode.INVALID
    default_reason = CommonReason.INVALID_INPUT


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND
    default_reason = CommonReason.NOT_FOUND


class Conflict(ServiceError):
    code = ErrorCode.CONFLICT
    default_reason = CommonReason.INTERNAL  # a conflict always names its own reason


class Unauthenticated(ServiceError):
    code = ErrorCode.UNAUTHENTICATED
    default_reason = CommonReason.LOGIN_REQUIRED


class Forbidden(ServiceError):
    code = ErrorCode.FORBIDDEN
    default_reason = CommonReason.FORBIDDEN


class Throttled(ServiceError):
    code = ErrorCode.THROTTLED
    default_reason = CommonReason.THROTTLED
