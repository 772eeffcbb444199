"""GET /health/live, /health/ready and /health (= ready, for older probes) on the public port.

The same answers come from the gateway's health port (GATEWAY_HEALTH_PORT, ck_runtime.health),
which also serves /metrics; the public port never serves /metrics.
"""

from __future__ import annotations

from ck_runtime.health import Readiness
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ck_gateway.api_models import Health, Liveness

router = APIRouter(tags=["health"])


def readiness_of(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


@router.get(
    "/health/live",
    response_model=Liveness,
    summary="200 while the gateway process answers (liveness)",
)
async def live(request: Request) -> Liveness:
    return Liveness(service=readiness_of(request).service, status="ok")


async def _ready(request: Request) -> JSONResponse:
    answer = await readiness_of(request).check()
    return JSONResponse(answer, status_code=200 if Readiness.ready(answer) else 503)


@router.get(
    "/health/ready",
    response_model=Health,
    summary="200 when the broker is usable now (readiness), 503 naming what is down",
    responses={503: {"model": Health, "description": "The broker is not usable"}},
)
async def ready(request: Request) -> JSONResponse:
    return await _ready(request)


@router.get(
    "/health",
    response_model=Health,
    summary="The same as /health/ready (kept for older probes)",
    responses={503: {"model": Health, "description": "The broker is not usable"}},
)
async def health(request: Request) -> JSONResponse:
    return await _ready(request)
