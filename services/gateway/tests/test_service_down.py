"""With no accounts service running, the gateway answers 503 naming it, within the timeout.

The accounts RPC queue exists (as after a crash: durable, declared by every service at
start-up) but nobody consumes it, so each request waits out the gateway's RPC timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from ck_contracts.messaging import rpc_queue
from ck_gateway.app import create_app
from ck_gateway.settings import get_settings
from ck_runtime.amqp import RPC_QUEUE_ARGUMENTS
from fastapi import FastAPI

# Users are not told how the portal is cut into services (issue 11): the same words for each.
MESSAGE = "Het portaal is even niet bereikbaar. Probeer het over een minuut opnieuw."
NOT_HUNG = 15  # seconds: generous; the RPC timeout is 1 s


@pytest.fixture(scope="module")
async def gateway_alone(amqp_url: str) -> AsyncIterator[FastAPI]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.declare_queue(rpc_queue("accounts"), durable=True, arguments=RPC_QUEUE_ARGUMENTS)
    await connection.close()
    app = create_app(get_settings(amqp_url=amqp_url, rpc_timeout=1.0, secret_key="s"))
    async with app.router.lifespan_context(app):  # no RPC client passed: the lifespan makes one
        yield app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_api_answers_503_without_naming_the_service(gateway_alone: FastAPI) -> None:
    async with client_of(gateway_alone) as client, asyncio.timeout(NOT_HUNG):
        login = await client.post(
            "/api/v1/auth/login", json={"email": "a@school.example", "password": "x" * 12}
        )
        me = await client.get("/api/v1/me", headers={"Authorization": "Bearer " + "t" * 43})
    for response in (login, me):
        assert response.status_code == 503
        assert response.json()["error"] == {
            "code": "unavailable",
            "message": MESSAGE,
            "params": {},
            "fields": {},
            "field_codes": {},
        }
        assert "retry-after" in response.headers


async def test_pages_answer_503_without_naming_the_service(gateway_alone: FastAPI) -> None:
    async with client_of(gateway_alone) as client, asyncio.timeout(NOT_HUNG):
        form = await client.get("/inloggen")  # the form itself needs no service
        assert form.status_code == 200
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        login = await client.post(
            "/inloggen",
            data={"email": "a@school.example", "password": "x" * 12, "csrf_token": token},
        )
        client.cookies.set("ck_session", "t" * 43)
        home = await client.get("/")
        support = await client.get("/support")
    for response in (login, home):
        assert response.status_code == 503
        assert MESSAGE in response.text
    assert support.status_code == 200  # help stays readable while accounts is down


async def test_health_still_reports_the_broker_connected(gateway_alone: FastAPI) -> None:
    async with client_of(gateway_alone) as client:
        response = await client.get("/health")
    assert response.status_code == 200
