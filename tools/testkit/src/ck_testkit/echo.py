"""A small RPC router for tests of the runtime: echo, a permission check, failures."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ck_contracts.roles import Permission
from ck_runtime.errors import Conflict
from ck_runtime.rpc_server import Call, RpcRouter
from pydantic import BaseModel, Field


class Echo(BaseModel):
    text: str = Field(min_length=1, max_length=20)
    delay: float = 0


echo_router = RpcRouter()


@echo_router.op("echo", Echo, public=True)
async def echo(call: Call, payload: Echo) -> dict[str, Any]:
    await asyncio.sleep(payload.delay)
    return {"text": payload.text}


@echo_router.op("school.secret", Echo, permission=Permission.EDIT_SETTINGS)
async def secret(call: Call, payload: Echo) -> str:
    school = uuid.UUID(int=1)
    call.require(Permission.EDIT_SETTINGS, school)
    return "ok"


@echo_router.op("conflict", Echo, public=True)
async def conflict(call: Call, payload: Echo) -> None:
    raise Conflict("Deze link is al gebruikt.")


@echo_router.op("crash", Echo, public=True)
async def crash(call: Call, payload: Echo) -> None:
    raise ZeroDivisionError
