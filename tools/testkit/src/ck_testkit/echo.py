"""A small RPC router for tests of the runtime: echo, a school-scoped check, failures. Its
operations are declared as the contracts declare theirs (ck_contracts.operations)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission
from ck_runtime.errors import Conflict
from ck_runtime.rpc_server import Call, RpcRouter
from pydantic import BaseModel, Field

SERVICE = "roster"  # the echo router stands in for a real service's queue in these tests


class Echo(BaseModel):
    text: str = Field(min_length=1, max_length=20)
    delay: float = 0


class Echoed(BaseModel):
    text: str


class SchoolEcho(BaseModel):
    school_id: UUID
    text: str = Field(min_length=1, max_length=20)


class Ops:
    ECHO = Operation[Echo, Echoed](SERVICE, "echo", Echo, Echoed, Audience.PUBLIC)
    SECRET = Operation[SchoolEcho, str](
        SERVICE,
        "school.secret",
        SchoolEcho,
        str,
        Audience.SCHOOL,
        permission=Permission.EDIT_SETTINGS,
        school_scoped=True,
    )
    CONFLICT = Operation[Echo, None](
        SERVICE, "conflict", Echo, None, Audience.PUBLIC, reasons=("link_used",)
    )
    CRASH = Operation[Echo, None](SERVICE, "crash", Echo, None, Audience.PUBLIC)


echo_router = RpcRouter(SERVICE)


class InFlight:
    """How many echo handlers run at once in this process, and the most seen: tests show
    concurrency by counting it rather than by timing it."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def reset(self) -> None:
        self.now = self.most = 0


ECHOES = InFlight()


@echo_router.handles(Ops.ECHO)
async def echo(call: Call, payload: Echo) -> Echoed:
    ECHOES.now += 1
    ECHOES.most = max(ECHOES.most, ECHOES.now)
    try:
        await asyncio.sleep(payload.delay)
    finally:
        ECHOES.now -= 1
    return Echoed(text=payload.text)


@echo_router.handles(Ops.SECRET)
async def secret(call: Call, payload: SchoolEcho) -> str:
    return "ok"  # the router checked the actor against payload.school_id


@echo_router.handles(Ops.CONFLICT)
async def conflict(call: Call, payload: Echo) -> None:
    raise Conflict("link_used", link="x")


@echo_router.handles(Ops.CRASH)
async def crash(call: Call, payload: Echo) -> None:
    raise ZeroDivisionError
