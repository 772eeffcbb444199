"""The one way routes reach a service: an RPC call whose failures become exceptions.

RpcFailed (the service said no) and ServiceUnavailable (it did not answer in time) are turned
into HTTP answers by the handlers in error_handlers.py; a route catches them only where it
answers differently, e.g. a form shown again with the service's field messages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ck_contracts.roles import Actor
from ck_runtime.clock import Clock, amsterdam_today
from ck_runtime.rpc_client import RpcClient
from fastapi import Request
from pydantic import BaseModel

from ck_gateway.idempotency import current_request_ids


def rpc_of(request: Request) -> RpcClient:
    rpc: RpcClient = request.app.state.rpc
    return rpc


async def call(
    request: Request,
    service: str,
    op: str,
    payload: BaseModel | dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    timeout: float | None = None,
) -> Any:
    """The result of the operation; raises RpcFailed or ServiceUnavailable (after `timeout`
    seconds, default GATEWAY_RPC_TIMEOUT)."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    ids = current_request_ids()
    if ids is None:
        return await rpc_of(request).call_json(service, op, payload, actor=actor, timeout=timeout)
    return await rpc_of(request).call_json(
        service,
        op,
        payload,
        actor=actor,
        timeout=timeout,
        request_id=ids.next(),
        keep_reply_seconds=ids.keep_seconds,
    )


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
