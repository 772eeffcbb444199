"""The service side of request/reply: named operations, role checks, error replies.

A handler gets a `Call` (actor, database) and its validated payload, and returns a pydantic
model, a plain JSON value or None. It raises ServiceError subclasses for expected failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from ck_contracts.roles import Actor, Permission
from ck_contracts.rpc import ErrorCode, RpcError, RpcReply, RpcRequest
from pydantic import BaseModel, ValidationError

from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database
from ck_runtime.errors import Forbidden, Invalid, ServiceError, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.validation import dutch_errors

log = get_logger(__name__)
P = TypeVar("P", bound=BaseModel)

FORBIDDEN_MESSAGE = "U heeft geen toegang tot deze gegevens."


@dataclass(frozen=True)
class Call:
    actor: Actor | None
    db: Database
    deps: Any = None  # the service's own dependencies (settings, clients)
    clock: Clock = field(default_factory=current_clock)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated("Log eerst in.")
        return self.actor

    def require(self, permission: Permission, school_id: UUID | None) -> Actor:
        """The actor must hold the permission for this school (R-ROLE-6), checked here again."""
        actor = self.require_actor()
        if not actor.may(permission, school_id):
            log.warning("rpc.forbidden", permission=permission.value, role=actor.role.value)
            raise Forbidden(FORBIDDEN_MESSAGE)
        return actor


Handler = Callable[[Call, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Operation(Generic[P]):
    name: str
    payload: type[P]
    handler: Handler
    permission: Permission | None  # checked before the handler; None: the handler decides
    public: bool  # True: no actor needed (log-in, password links)


class RpcRouter:
    def __init__(self) -> None:
        self.operations: dict[str, Operation[Any]] = {}

    def op(
        self,
        name: str,
        payload: type[P],
        *,
        permission: Permission | None = None,
        public: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.operations:
                raise ValueError(f"operation {name} registered twice")
            self.operations[name] = Operation(name, payload, handler, permission, public)
            return handler

        return register

    async def dispatch(
        self, request: RpcRequest, db: Database, deps: Any = None, clock: Clock | None = None
    ) -> dict[str, Any]:
        operation = self.operations.get(request.op)
        if operation is None:
            return _error(
                RpcError(code=ErrorCode.NOT_FOUND, message=f"Onbekende opdracht: {request.op}")
            )
        call = Call(actor=request.actor, db=db, deps=deps, clock=clock or current_clock())
        try:
            if not operation.public:
                actor = call.require_actor()
                if operation.permission is not None and not actor.has(operation.permission):
                    raise Forbidden(FORBIDDEN_MESSAGE)
            try:
                payload = operation.payload.model_validate(request.payload)
            except ValidationError as exc:
                raise Invalid("Controleer de invoer.", fields=dutch_errors(exc)) from exc
            result = await operation.handler(call, payload)
        except ServiceError as exc:
            return _error(exc.to_rpc())
        except Exception:
            log.exception("rpc.failed", op=request.op)
            return _error(
                RpcError(
                    code=ErrorCode.INTERNAL, message="Er ging iets mis. Probeer het later opnieuw."
                )
            )
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        elif isinstance(result, list):
            result = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
        return RpcReply(ok=True, result=result).model_dump(mode="json")


def _error(error: RpcError) -> dict[str, Any]:
    return RpcReply(ok=False, error=error).model_dump(mode="json")
