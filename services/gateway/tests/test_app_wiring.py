"""The app's own answers that need no service: 500, 404, 405, CSRF, 413 (no broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from ck_gateway.app import create_app
from ck_gateway.settings import get_settings
from ck_runtime.settings import SettingsError
from fastapi import FastAPI


async def boom() -> None:
    raise RuntimeError("jan@example.org broke it")  # a message that must not reach the log


@pytest.fixture
def app() -> FastAPI:
    # The RPC client is never started: none of these requests reaches a service.
    app = create_app(get_settings(secret_key="s", max_body_bytes=4096))
    app.add_api_route("/kapot", boom)
    app.add_api_route("/api/v1/kapot", boom)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_unexpected_errors_are_a_dutch_500_with_security_headers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/kapot")
    api = await client.get("/api/v1/kapot")
    assert page.status_code == 500
    assert "Er ging iets mis. Probeer het later opnieuw." in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "x-correlation-id" in page.headers
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "internal"


async def test_unknown_api_paths_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/bestaat-niet")
    wrong_method = await client.delete("/api/v1/me")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_a_form_without_token_is_refused_before_any_service_is_asked(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/inloggen", data={"email": "a@b.nl", "password": "x"})
    assert response.status_code == 403
    assert "Het formulier is verlopen. Laad de pagina opnieuw." in response.text


async def test_the_body_limit_is_configurable(client: httpx.AsyncClient) -> None:
    small = await client.post("/inloggen", data={"email": "a" * 100})
    large = await client.post("/inloggen", data={"email": "a" * 5000})
    assert small.status_code == 403  # read, then refused for its missing token
    assert large.status_code == 413
    assert "maximaal 4 kB" in large.text


async def test_health_says_503_without_a_broker_connection(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/health/ready"):
        response = await client.get(path)
        assert response.status_code == 503
        assert response.json() == {
            "service": "gateway",
            "status": "unhealthy",
            "broker": "unreachable",
            "down": ["broker"],
        }
    live = await client.get("/health/live")  # liveness: the process answers, broker or not
    assert live.status_code == 200


def test_in_development_mode_an_empty_secret_key_is_replaced_by_a_random_one() -> None:
    one = create_app(get_settings(secret_key="", dev_mode=True))
    two = create_app(get_settings(secret_key="", dev_mode=True))
    assert len(one.state.secret_key) >= 32
    assert one.state.secret_key != two.state.secret_key


def test_outside_development_mode_an_empty_secret_key_stops_the_app() -> None:
    with pytest.raises(SettingsError, match=r"^GATEWAY_SECRET_KEY is not set: "):
        create_app(get_settings(secret_key="", dev_mode=False))


@pytest.mark.parametrize("secure", [True, False])
async def test_hsts_only_when_secure_cookies_are_on(secure: bool) -> None:
    app = create_app(get_settings(secret_key="s", secure_cookies=secure))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answers = [
            await client.get("/inloggen"),  # a page
            await client.get("/api/v1/bestaat-niet"),  # an API error
            await client.get("/static/bestaat-niet.css"),  # a static file
        ]
    for answer in answers:
        if secure:
            assert answer.headers["strict-transport-security"] == (
                "max-age=31536000; includeSubDomains"
            )
        else:
            assert "strict-transport-security" not in answer.headers
