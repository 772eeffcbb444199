"""The log-in throttle through the gateway: per client address, where the address is the peer
unless the peer is a trusted proxy (GATEWAY_TRUSTED_PROXIES), and a forged X-Forwarded-For
changes nothing. The real accounts service over the real broker (the `stack` fixture)."""

from __future__ import annotations

from typing import Any

import httpx
from ck_accounts import domain
from ck_gateway.app import create_app
from fastapi import FastAPI

Stack = Any  # the `stack` fixture of conftest.py
INGRESS = "10.9.0.5"
SPRAY = "zomer2026!"


def gateway_behind(stack: Stack, trusted: str) -> FastAPI:
    """Another gateway on the same broker, with these trusted proxies."""
    settings = stack.app.state.settings.model_copy(update={"trusted_proxies": trusted})
    return create_app(settings, stack.rpc)


def client_of(app: FastAPI, peer: str, forwarded_for: str | None = None) -> httpx.AsyncClient:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def api_login(client: httpx.AsyncClient, email: str, password: str, **kw: Any) -> Any:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, **kw
    )


async def test_behind_a_trusted_proxy_each_client_address_is_counted(stack: Stack) -> None:
    """Password spraying from one client behind the ingress: one failure per account, so no
    account is locked, but the address is; the ingress's other clients log in as usual."""
    app = gateway_behind(stack, "10.9.0.0/16")
    async with client_of(app, INGRESS) as ingress:
        for i in range(domain.ADDRESS_FREE_ATTEMPTS + 1):
            # The client writes entries of its own in front: they are not believed.
            forwarded = f"198.51.100.{i}, 203.0.113.9"
            response = await api_login(
                ingress, f"spray{i}@school.example", SPRAY, headers={"X-Forwarded-For": forwarded}
            )
            assert response.status_code == 401, response.text
        locked = await api_login(
            ingress,
            stack.admin_email,
            stack.admin_password,
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert locked.json()["error"]["message"].startswith("Te veel mislukte pogingen.")
        other = await api_login(
            ingress,
            stack.admin_email,
            stack.admin_password,
            headers={"X-Forwarded-For": "203.0.113.10"},
        )
        assert other.status_code == 200, other.text
    # The log-in page counts the same address.
    async with client_of(app, INGRESS, "203.0.113.9") as browser:
        page = await stack.page_login(browser, stack.admin_email, stack.admin_password)
        assert page.status_code == 429
        assert "Te veel mislukte pogingen" in page.text
    async with client_of(app, INGRESS, "203.0.113.11") as browser:
        page = await stack.page_login(browser, stack.admin_email, stack.admin_password)
        assert page.status_code == 303


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(stack: Stack) -> None:
    """The portal trusts no proxy by default: a client that sends a new X-Forwarded-For with
    every attempt is still one address."""
    async with client_of(stack.app, "10.3.0.1") as attacker:
        for i in range(domain.ADDRESS_FREE_ATTEMPTS + 1):
            response = await api_login(
                attacker,
                f"spray{i}@school.example",
                SPRAY,
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            assert response.status_code == 401, response.text
        locked = await api_login(
            attacker,
            stack.admin_email,
            stack.admin_password,
            headers={"X-Forwarded-For": "198.51.100.200"},
        )
        assert locked.status_code == 429
    async with client_of(stack.app, "10.3.0.2", "10.3.0.1") as neighbour:
        assert (await api_login(neighbour, stack.admin_email, stack.admin_password)).is_success
