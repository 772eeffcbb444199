"""The gateway's health port (GATEWAY_HEALTH_PORT): /health/* and /metrics, with HTTP answers
counted by route template (never the raw path) and its RPC calls counted on the client side.
/metrics is not served on the public port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ck_gateway.app import create_app
from ck_gateway.settings import get_settings
from ck_testkit import free_port
from ck_testkit.scrape import health, label_values, scrape, value
from fastapi import FastAPI


@pytest.fixture
async def gateway(stack: Any) -> AsyncIterator[tuple[FastAPI, int]]:
    """A second gateway beside the module's, with a health port (accounts is the stack's)."""
    port = free_port()
    app = create_app(
        get_settings(amqp_url=stack.amqp_url, secret_key="s", rpc_timeout=5, health_port=port)
    )
    async with app.router.lifespan_context(app):
        yield app, port


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_health_port_serves_probes_and_metrics(gateway: tuple[FastAPI, int]) -> None:
    app, port = gateway
    before = await scrape(port)
    school = uuid.uuid4()
    async with client_of(app) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "nobody@school.example", "password": "x" * 12}
        )
        one_school = await client.get(f"/api/v1/schools/{school}")
        missing = await client.get(f"/nope/{school}")
        public_metrics = await client.get("/metrics")
        public_live = await client.get("/health/live")
    assert login.status_code == 401 and one_school.status_code == 401
    assert missing.status_code == 404 and public_metrics.status_code == 404
    assert public_live.status_code == 200
    after = await scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ck_http_requests_total", route="/api/v1/auth/login", status="401") == 1
    assert moved("ck_http_requests_total", route="/api/v1/schools/{school_id}", status="401") == 1
    assert moved("ck_http_requests_total", route="unmatched", status="404") >= 2
    assert moved("ck_http_request_duration_seconds_count", route="/api/v1/auth/login") == 1
    routes = label_values(after, "ck_http_requests_total", "route")
    assert not any(str(school) in route for route in routes)  # bounded: templates only
    assert moved("ck_rpc_requests_total", side="client", service="accounts") >= 1
    assert moved("ck_rpc_duration_seconds_count", side="client", service="accounts") >= 1
    assert await health(port, "/health/live") == (200, {"service": "gateway", "status": "ok"})
    assert await health(port, "/health/ready") == (
        200,
        {"service": "gateway", "broker": "ok", "status": "ok"},
    )
    names = {name for name, _, _ in after}
    assert {f"ck_http_request_duration_seconds_{part}" for part in ("bucket", "sum")} <= names
