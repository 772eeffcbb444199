"""The real thing for integration tests: the accounts service in-process on the session's own
RabbitMQ virtual host, and the gateway app with a real RPC client, driven over ASGI by httpx.

Schools are registered through the gateway's API as a CJP admin; their budget holders set a
password with the link from the welcome mail event on the notifier's queue, through the page.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import aio_pika
import httpx
import pytest
from ck_accounts.admins import ensure_admin
from ck_accounts.app import build
from ck_accounts.settings import get_settings as accounts_settings
from ck_contracts.messaging import event_queue
from ck_contracts.notifier import EmailRequested
from ck_gateway.app import create_app
from ck_gateway.settings import get_settings as gateway_settings
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit.broker import can_make_vhosts, virtual_host
from fastapi import FastAPI

ADMIN_EMAIL = "beheer@cjp.example"
ADMIN_PASSWORD = "beheer-wachtwoord-2024"
SCHOOL_PASSWORD = "een heel lang schoolwachtwoord"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


class Mailbox:
    """Reads the welcome mails the accounts service asks the notifier to send (real events)."""

    def __init__(self, amqp_url: str) -> None:
        self._url = amqp_url
        self._by_recipient: dict[str, dict[str, Any]] = {}

    async def link_token(self, recipient: str, timeout: float = 20) -> str:
        connection = await aio_pika.connect(self._url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(event_queue("notifier", "email"), passive=True)
            async with asyncio.timeout(timeout):
                while recipient not in self._by_recipient:
                    message = await queue.get(no_ack=True, fail=False)
                    if message is None:
                        await asyncio.sleep(0.1)
                        continue
                    body = json.loads(message.body)
                    if body.get("type") == EmailRequested.routing_key:
                        self._by_recipient[body["to"]] = body
        finally:
            await connection.close()
        link = self._by_recipient[recipient]["context"]["link"]
        return parse_qs(urlsplit(link).query)["token"][0]


@dataclass
class School:
    school_id: UUID
    school_number: int
    name: str
    email: str
    password: str = SCHOOL_PASSWORD


@dataclass
class Stack:
    """What a test needs: clients for the gateway, and helpers to log in. Tests get it as a
    fixture (test modules cannot import conftest under --import-mode=importlib)."""

    amqp_url: str
    runtime: ServiceRuntime
    rpc: RpcClient
    app: FastAPI
    mailbox: Mailbox
    schools: dict[str, School] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def api_token(self, email: str, password: str) -> str:
        async with self.client() as client:
            response = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def admin_token(self) -> str:
        return await self.api_token(ADMIN_EMAIL, ADMIN_PASSWORD)

    admin_email = ADMIN_EMAIL
    admin_password = ADMIN_PASSWORD
    csrf_of = staticmethod(csrf_of)

    @staticmethod
    async def page_login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
        """Log in through the form, as a browser does (GET the form, POST it with its token)."""
        form = await client.get("/inloggen")
        return await client.post(
            "/inloggen",
            data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        )


async def register_school(stack: Stack, key: str, name: str, brin: str) -> School:
    """Register through the API as admin, then set the password with the mailed link."""
    email = f"budgethouder-{key}@school-{key}.example"
    token = await stack.admin_token()
    async with stack.client() as client:
        response = await client.post(
            "/api/v1/schools",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "settings": {
                    "name": name,
                    "brin_codes": [brin],
                    "locations": ["Hoofdlocatie"],
                    "duo_student_count": 500,
                },
                "budget_holder": {"name": f"Budgethouder {key.upper()}", "email": email},
            },
        )
        assert response.status_code == 201, response.text
        registered = response.json()
        link = await stack.mailbox.link_token(email)
        page = await client.get(f"/wachtwoord-instellen?token={link}")
        assert page.status_code == 200, page.text
        done = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": link,
                "password": SCHOOL_PASSWORD,
                "password_repeat": SCHOOL_PASSWORD,
                "csrf_token": csrf_of(page.text),
            },
        )
        assert done.status_code == 200, done.text
    return School(UUID(registered["school_id"]), registered["school_number"], name, email)


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host per test module. The accounts service of each module numbers its schools
    from 10001, like every accounts database: on the session's vhost their SchoolRegistered
    events would reach the end-to-end stack's services (tests/conftest.py, `portal`) before
    its own schools, which would then be refused there as duplicate school numbers."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-gateway-test") as url:
        yield url


@pytest.fixture(scope="module")
async def stack(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data: Path = tmp_path_factory.mktemp("accounts")
    runtime = ServiceRuntime(
        build(
            accounts_settings(
                amqp_url=amqp_url, database_url=f"sqlite+aiosqlite:///{data / 'accounts.sqlite3'}"
            )
        )
    )
    await runtime.start()
    try:
        await ensure_admin(runtime.db, ADMIN_EMAIL, "CJP beheerder", ADMIN_PASSWORD)
        settings = gateway_settings(amqp_url=amqp_url, secret_key="test-secret-key", rpc_timeout=5)
        rpc = RpcClient(amqp_url, timeout=settings.rpc_timeout)
        app = create_app(settings, rpc)
        async with app.router.lifespan_context(app):  # the lifespan starts the RPC client
            stack = Stack(amqp_url, runtime, rpc, app, Mailbox(amqp_url))
            stack.schools["a"] = await register_school(stack, "a", "Albeda Testcollege", "01AB")
            stack.schools["b"] = await register_school(stack, "b", "Bonhoeffer Testcollege", "02CD")
            yield stack
    finally:
        await runtime.stop()
