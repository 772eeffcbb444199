"""The service side of request/reply: typed operations, role and tenant checks, error replies.

A service registers one handler per operation declared in the contracts:

    router = RpcRouter("invoicing")

    @router.handles(Ops.GET)
    async def get_invoice(call: Call, ref: InvoiceRef) -> Invoice: ...

The handler gets a `Call` (actor, database, clock) and its validated request, and returns the
operation's response type. Before it runs, the router checks that an actor is there (unless
the operation is public), that it holds the operation's permission and, for a school-scoped
operation, that it may act for the request's school (R-ROLE-6). Expected failures are
ServiceError subclasses with a reason code (ck_runtime.errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from ck_contracts.operations import Operation as Declared
from ck_contracts.roles import Actor, Permission
from ck_contracts.rpc import CommonReason, ErrorCode, RpcError, RpcReply, RpcRequest
from pydantic import BaseModel, ValidationError

from ck_runtime import commands
from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database, StepKind, StepRefused
from ck_runtime.errors import Forbidden, Invalid, ServiceError, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.validation import field_errors

log = get_logger(__name__)
P = TypeVar("P", bound=BaseModel)
Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res")


@dataclass(frozen=True)
class Call:
    actor: Actor | None
    db: Database
    deps: Any = None  # the service's own dependencies (settings, clients)
    clock: Clock = field(default_factory=current_clock)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated()
        return self.actor

    def require(self, permission: Permission, school_id: UUID | None) -> Actor:
        """The actor must hold the permission for this school (R-ROLE-6), checked here again."""
        actor = self.require_actor()
        if not actor.may(permission, school_id):
            log.warning("rpc.forbidden", permission=permission.value, role=actor.role.value)
            raise Forbidden()
        return actor


Handler = Callable[[Call, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Registered:
    """A declared operation and the handler a service registered for it."""

    declared: Declared[Any, Any]
    handler: Handler

    @property
    def name(self) -> str:
        return self.declared.name


class RpcRouter:
    def __init__(self, service: str | None = None) -> None:
        self.service = service
        self.operations: dict[str, Registered] = {}

    def handles(
        self, op: Declared[Req, Res]
    ) -> Callable[[Callable[[Call, Req], Awaitable[Res]]], Callable[[Call, Req], Awaitable[Res]]]:
        """Register the handler of a declared operation; its types must match the declaration."""
        if self.service is not None and op.service != self.service:
            raise ValueError(f"{op.name} belongs to {op.service}, not {self.service}")

        def register(
            handler: Callable[[Call, Req], Awaitable[Res]],
        ) -> Callable[[Call, Req], Awaitable[Res]]:
            self._add(Registered(op, handler))
            return handler

        return register

    def include(self, other: RpcRouter) -> None:
        """Take over another router's operations (a service's ops/ modules, one per audience)."""
        for operation in other.operations.values():
            self._add(operation)

    def _add(self, operation: Registered) -> None:
        if operation.name in self.operations:
            raise ValueError(f"operation {operation.name} registered twice")
        self.operations[operation.name] = operation

    async def dispatch(
        self, request: RpcRequest, db: Database, deps: Any = None, clock: Clock | None = None
    ) -> dict[str, Any]:
        """Answer one request, exactly once (ck_runtime.commands): a command's answer is
        committed with its effects, and a repeat of its request id gets that answer again."""
        operation = self.operations.get(request.op)
        if operation is None:
            return _error(
                RpcError(
                    code=ErrorCode.NOT_FOUND,
                    reason=CommonReason.UNKNOWN_OPERATION,
                    params={"op": request.op},
                )
            )
        call = Call(actor=request.actor, db=db, deps=deps, clock=clock or current_clock())
        if db is None:  # unit tests of the rules, without a database
            reply, _failed = await self._answer(operation, call, request)
            return reply
        now = call.clock.now()
        guard = commands.find_step(request, now)
        # First with deferred writes allowed (Database.defer: on SQLite the command's writes,
        # its record and the commit in one hand-over); when a deferred write changed another
        # number of rows than the handler expected, everything was rolled back and the
        # command runs again with every statement executed as it comes.
        for may_defer in (True, False):
            try:
                async with db.command(guard, may_defer=may_defer) as unit:
                    reply, failed = await self._answer(operation, call, request)
                    if not reply.get("ok"):
                        unit.drop_deferred()
                    if unit.wrote and not failed:
                        record = commands.record_step(request, reply, now, db.engine.dialect.name)
                        await unit.commit(record)
            except StepRefused as refused:
                if refused.step.kind is StepKind.GUARD:  # answered before
                    return await self._first_answer(
                        commands.recorded(request, refused.row), request, db, now
                    )
                if refused.step.kind is StepKind.RECORD:  # another delivery recorded first
                    return await self._first_answer(None, request, db, now)
                continue  # a deferred write: run again without deferring
            return reply
        raise AssertionError("a command without deferred writes cannot be refused")

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
        if seen is None or seen.reply is None or not seen.same_payload:
            # Another request under the same id, or expired meanwhile: nothing to repeat.
            reused = RpcError(code=ErrorCode.CONFLICT, reason=CommonReason.REUSED_REQUEST)
            return _error(reused)
        log.info("rpc.repeat_answered", op=request.op)
        return seen.reply

    async def _answer(
        self, operation: Registered, call: Call, request: RpcRequest
    ) -> tuple[dict[str, Any], bool]:
        """(reply, failed): failed when the handler broke unexpectedly (its writes are rolled
        back and nothing is recorded, so a retry runs it again)."""
        try:
            declared = operation.declared
            if not declared.public:
                actor = call.require_actor()
                if declared.permission is not None and not actor.has(declared.permission):
                    log.warning("rpc.forbidden", op=declared.name, role=actor.role.value)
                    raise Forbidden()
            if declared.school_scoped:
                # Before the payload is even read: another school's request goes no further.
                _require_school(call, declared, request.payload.get("school_id"))
            try:
                payload = declared.request.model_validate(request.payload)
            except ValidationError as exc:
                raise Invalid(fields=field_errors(exc)) from exc
            result = declared.dump_result(await operation.handler(call, payload))
        except ServiceError as exc:
            return _error(exc.to_rpc()), False
        except StepRefused:
            raise  # the guard found the first answer (Database.command)
        except Exception:
            log.exception("rpc.failed", op=request.op)
            error = RpcError(code=ErrorCode.INTERNAL, reason=CommonReason.INTERNAL)
            return _error(error), True
        return RpcReply(ok=True, result=result).model_dump(mode="json"), False


def _require_school(call: Call, declared: Declared[Any, Any], school_id: object) -> None:
    """The structural tenant check of a school-scoped operation (R-ROLE-6). A missing or
    malformed school_id is left to the payload's validation (a field error)."""
    try:
        school = UUID(str(school_id)) if school_id is not None else None
    except ValueError:
        return
    if school is not None:
        assert declared.permission is not None  # Operation's own check
        call.require(declared.permission, school)


def _error(error: RpcError) -> dict[str, Any]:
    return RpcReply(ok=False, error=error).model_dump(mode="json")
