"""The service side of request/reply: named operations, role checks, error replies.

A handler gets a `Call` (actor, database) and its validated payload, and returns a pydantic
model, a plain JSON value or None. It raises ServiceError subclasses for expected failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from ck_contracts.roles import Actor, Permission
from ck_contracts.rpc import ErrorCode, RpcError, RpcReply, RpcRequest
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime import commands
from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database
from ck_runtime.errors import Forbidden, Invalid, ServiceError, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.validation import dutch_errors

log = get_logger(__name__)
P = TypeVar("P", bound=BaseModel)

FORBIDDEN_MESSAGE = "U heeft geen toegang tot deze gegevens."
REUSED_REQUEST_MESSAGE = (
    "Deze Idempotency-Key is al gebruikt voor een ander verzoek. Gebruik voor een nieuw "
    "verzoek een nieuwe sleutel."
)


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
        """Answer one request, exactly once (ck_runtime.commands): a command's answer is
        committed with its effects, and a repeat of its request id gets that answer again."""
        operation = self.operations.get(request.op)
        if operation is None:
            return _error(
                RpcError(code=ErrorCode.NOT_FOUND, message=f"Onbekende opdracht: {request.op}")
            )
        call = Call(actor=request.actor, db=db, deps=deps, clock=clock or current_clock())
        if db is None:  # unit tests of the rules, without a database
            reply, _failed = await self._answer(operation, call, request)
            return reply
        now = call.clock.now()

        async def check_repeat(session: AsyncSession) -> None:
            seen = await commands.find(session, request, now)
            if seen is not None:
                raise _AlreadyAnswered(seen)

        try:
            async with db.command(on_begin=check_repeat) as unit:
                reply, failed = await self._answer(operation, call, request)
                if unit.wrote and not failed:
                    if not await commands.record(unit.session, request, reply, now):
                        raise _AlreadyAnswered(None)  # another delivery was first: roll back
                    await unit.commit()
        except _AlreadyAnswered as repeat:
            return await self._first_answer(repeat.seen, request, db, now)
        return reply

    async def _first_answer(
        self,
        seen: commands.Recorded | None,
        request: RpcRequest,
        db: Database,
        now: datetime,
    ) -> dict[str, Any]:
        if seen is None:
            async with db.read() as session:
                seen = await commands.find(session, request, now)
        if seen is not None and not seen.same_payload:
            return _error(RpcError(code=ErrorCode.CONFLICT, message=REUSED_REQUEST_MESSAGE))
        if seen is None or seen.reply is None:  # expired meanwhile: nothing to repeat
            return _error(RpcError(code=ErrorCode.CONFLICT, message=REUSED_REQUEST_MESSAGE))
        log.info("rpc.repeat_answered", op=request.op)
        return seen.reply

    async def _answer(
        self, operation: Operation[Any], call: Call, request: RpcRequest
    ) -> tuple[dict[str, Any], bool]:
        """(reply, failed): failed when the handler broke unexpectedly (its writes are rolled
        back and nothing is recorded, so a retry runs it again)."""
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
            return _error(exc.to_rpc()), False
        except _AlreadyAnswered:
            raise
        except Exception:
            log.exception("rpc.failed", op=request.op)
            error = RpcError(
                code=ErrorCode.INTERNAL, message="Er ging iets mis. Probeer het later opnieuw."
            )
            return _error(error), True
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        elif isinstance(result, list):
            result = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
        return RpcReply(ok=True, result=result).model_dump(mode="json"), False


class _AlreadyAnswered(Exception):
    """Raised at a command's first write when its request id was answered before."""

    def __init__(self, seen: commands.Recorded | None) -> None:
        super().__init__("request answered before")
        self.seen = seen


def _error(error: RpcError) -> dict[str, Any]:
    return RpcReply(ok=False, error=error).model_dump(mode="json")
