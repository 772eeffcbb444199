"""Errors a service handler raises; the RPC layer turns them into error replies.

Messages are Dutch: the portal shows them to the user as they are.
"""

from __future__ import annotations

from ck_contracts.rpc import ErrorCode, RpcError


class ServiceError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        fields: dict[str, str] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.retry_after_seconds = retry_after_seconds

    def to_rpc(self) -> RpcError:
        return RpcError(
            code=self.code,
            message=self.message,
            fields=self.fields,
            retry_after_seconds=self.retry_after_seconds,
        )


class Invalid(ServiceError):
    code = ErrorCode.INVALID


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND


class Conflict(ServiceError):
    code = ErrorCode.CONFLICT


class Unauthenticated(ServiceError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ServiceError):
    code = ErrorCode.FORBIDDEN


class Throttled(ServiceError):
    code = ErrorCode.THROTTLED
