"""GET /health: the gateway runs and its RPC client holds a broker connection."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ck_gateway.api_models import Health
from ck_gateway.backend import rpc_of

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="200 when the gateway can reach the broker, 503 when it cannot",
    responses={503: {"model": Health, "description": "No broker connection"}},
)
async def health(request: Request) -> JSONResponse:
    connected = rpc_of(request).connected
    body = Health(
        status="ok" if connected else "unhealthy",
        broker="connected" if connected else "disconnected",
    )
    return JSONResponse(body.model_dump(), status_code=200 if connected else 503)
