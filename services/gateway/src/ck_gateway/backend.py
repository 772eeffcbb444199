"""The one way routes reach a service: a declared operation sent with `send()`, whose failures
become exceptions.

RpcFailed (the service said no) and ServiceUnavailable (it did not answer in time) are turned
into HTTP answers by the handlers in error_handlers.py; a route catches them only where it
answers differently, e.g. a form shown again with the service's field messages. A service
answers with reason codes; the error a route sees here already carries their Dutch
(`errors.localized`), so pages show `exc.error.message` and `exc.error.fields` as they are.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from ck_contracts.operations import Operation
from ck_contracts.roles import Actor
from ck_runtime.clock import Clock, amsterdam_today
from ck_runtime.rpc_client import RpcClient, RpcFailed
from fastapi import Request
from pydantic import BaseModel

from ck_gateway.errors import localized
from ck_gateway.idempotency import current_request_ids

Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res")


def rpc_of(request: Request) -> RpcClient:
    rpc: RpcClient = request.app.state.rpc
    return rpc


async def send(
    request: Request,
    op: Operation[Req, Res],
    payload: Req,
    *,
    actor: Actor | None = None,
    timeout: float | None = None,
) -> Res:
    """The declared operation's answer, typed as the contracts declare it; raises RpcFailed
    (with Dutch filled in) or ServiceUnavailable (after `timeout` seconds, default
    GATEWAY_RPC_TIMEOUT)."""
    result = await call(request, op.service, op.name, payload, actor=actor, timeout=timeout)
    return op.load_result(result)


async def call(
    request: Request,
    service: str,
    op: str,
    payload: BaseModel | dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    timeout: float | None = None,
) -> Any:
    """An operation by its wire name (send() is the typed way; this is what it uses)."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    ids = current_request_ids()
    extra: dict[str, Any] = (
        {} if ids is None else {"request_id": ids.next(), "keep_reply_seconds": ids.keep_seconds}
    )
    try:
        return await rpc_of(request).call_json(
            service, op, payload, actor=actor, timeout=timeout, **extra
        )
    except RpcFailed as exc:
        raise RpcFailed(localized(exc.error)) from None


def clock_of(request: Request) -> Clock:
    """The gateway's clock (ck_runtime.clock): the system clock, moved only in development."""
    clock: Clock = request.app.state.clock
    return clock


def today(request: Request) -> date:
    """Today as a school in the Netherlands sees it (Europe/Amsterdam), not the server's UTC."""
    return amsterdam_today(clock_of(request))


def file_timeout(request: Request) -> float:
    """The longer wait for operations on whole files (GATEWAY_FILE_RPC_TIMEOUT)."""
    return float(request.app.state.settings.file_rpc_timeout)
