"""Typed requests built from what a user typed."""

from __future__ import annotations

from typing import Any, TypeVar

from ck_contracts.rpc import CommonReason, ErrorCode, RpcError
from ck_runtime.rpc_client import RpcFailed
from ck_runtime.validation import field_errors
from pydantic import BaseModel, ValidationError

from ck_gateway.errors import localized

Req = TypeVar("Req", bound=BaseModel)


def request_of(model: type[Req], **data: Any) -> Req:
    """The operation's request; input its contract refuses (too long, a control character)
    is answered as the service would answer it: RpcFailed, code invalid, per-field reasons
    with their Dutch filled in."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = RpcError(
            code=ErrorCode.INVALID,
            reason=CommonReason.INVALID_INPUT,
            field_errors=field_errors(exc),
        )
        raise RpcFailed(localized(error)) from None
