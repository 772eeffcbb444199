"""POST /api/v1/provider/weborders answers exactly as the FastAPI route did, without a broker.

The route's hot path (ck_gateway.fast_weborders) skips FastAPI's routing and dependency
solving for a well-formed request; everything else goes to the route itself. These tests pin
what a client sees either way: the 201, the 401s, the 422 bodies (malformed JSON, a missing
field, a wrong type), the RPC payload and the metrics label.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from ck_contracts.weborders import Ops
from ck_gateway.app import create_app
from ck_gateway.middleware import fast_weborders
from ck_gateway.routes.api_provider import MISSING_KEY, NOT_A_KEY
from ck_gateway.settings import get_settings
from ck_runtime import metrics
from ck_testkit.weborder_stub import KEY, PATH, StubRpc, stored
from fastapi import FastAPI

BODY: dict[str, Any] = {
    "school_number": 10289,
    "activity": "  Voorstelling 'De Storm'  ",
    "activity_date": "2031-03-14",
    "participants": 28,
    "amount_cents": 42000,
}
ANSWER = stored(BODY)


@pytest.fixture
def stub() -> StubRpc:
    return StubRpc(ANSWER)


@pytest.fixture
def app(stub: StubRpc) -> FastAPI:
    return create_app(get_settings(secret_key="s"), rpc=stub)  # type: ignore[arg-type]


async def post(app: FastAPI, content: bytes | str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(PATH, content=content, headers=headers)


def key_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **extra}


async def test_a_weborder_is_created_with_one_call(app: FastAPI, stub: StubRpc) -> None:
    reply = await post(app, json.dumps(BODY), key_headers(**{"Idempotency-Key": "order-1"}))
    assert reply.status_code == 201
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-store"
    assert "x-correlation-id" in reply.headers
    assert reply.json()["weborder_id"] == ANSWER["weborder_id"]
    assert reply.json()["reason"] == ""
    [(service, op, payload, kwargs)] = stub.calls
    assert (service, op) == ("weborders", Ops.WEBORDER_CREATE.name)
    assert payload["api_key"] == KEY
    assert payload["idempotency_key"] == "order-1"
    assert payload["weborder"]["activity"] == "Voorstelling 'De Storm'"  # stripped, validated
    assert payload["weborder"]["participant_ids"] == []
    assert set(kwargs) == {"actor", "timeout", "request_id", "keep_reply_seconds"}
    assert kwargs["actor"] is None


async def test_the_same_idempotency_key_gives_the_same_request_id(
    app: FastAPI, stub: StubRpc
) -> None:
    for _ in range(2):
        await post(app, json.dumps(BODY), key_headers(**{"Idempotency-Key": "order-1"}))
    await post(app, json.dumps(BODY), key_headers(**{"Idempotency-Key": "order-2"}))
    ids = [kwargs["request_id"] for *_, kwargs in stub.calls]
    assert ids[0] == ids[1] != ids[2]


async def test_metrics_count_it_under_the_route_template(app: FastAPI) -> None:
    metrics.configure(True)
    try:
        counter = metrics.HTTP_REQUESTS.labels(PATH, "201")
        before = counter._value.get()
        await post(app, json.dumps(BODY), key_headers())
        assert counter._value.get() == before + 1
    finally:
        metrics.configure(False)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "application/json"}, MISSING_KEY),
        ({"Content-Type": "application/json", "Authorization": "Basic abc"}, MISSING_KEY),
        ({"Content-Type": "application/json", "Authorization": "Bearer "}, MISSING_KEY),
        (
            {"Content-Type": "application/json", "Authorization": "Bearer not-a-key-at-all"},
            NOT_A_KEY,
        ),
        ({"Content-Type": "application/json", "Authorization": "Bearer ck_live_short"}, NOT_A_KEY),
    ],
)
async def test_a_missing_or_malformed_key_is_401(
    app: FastAPI, stub: StubRpc, headers: dict[str, str], message: str
) -> None:
    reply = await post(app, json.dumps(BODY), headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.json()["error"]["code"] == "unauthenticated"
    assert reply.json()["error"]["message"] == message
    assert stub.calls == []


def _error(code: str, message: str, **fields: tuple[str, str]) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "params": {},
            "fields": {name: text for name, (_code, text) in fields.items()},
            "field_codes": {name: {"code": c, "params": {}} for name, (c, _text) in fields.items()},
        }
    }


NOT_JSON = (
    "De aanvraag bevat geen geldige JSON. Controleer de haakjes, komma's en aanhalingstekens."
)
NOT_AN_OBJECT = "Stuur de gegevens als JSON-object, met de header Content-Type: application/json."
BAD_KEY = (
    "De Idempotency-Key moet 1 tot 200 zichtbare ASCII-tekens lang zijn, bijvoorbeeld een UUID."
)
CHECK = "Controleer de invoer."
# (case, body, extra headers, status, answer) as the FastAPI route gave them before the fast
# path (9aead50).
CASES: list[tuple[str, bytes | str, dict[str, str], int, dict[str, Any]]] = [
    ("malformed JSON", b'{"school_number": 10289,', {}, 400, _error("bad_request", NOT_JSON)),
    (
        "missing field",
        json.dumps({k: v for k, v in BODY.items() if k != "activity"}),
        {},
        422,
        _error("invalid", CHECK, activity=("field.required", "Dit veld is verplicht.")),
    ),
    (
        "wrong type",
        json.dumps({**BODY, "participants": "veel"}),
        {},
        422,
        _error("invalid", CHECK, participants=("field.not_an_integer", "Vul een heel getal in.")),
    ),
    ("not an object", b"[1, 2]", {}, 400, _error("bad_request", NOT_AN_OBJECT)),
    (
        "not JSON content",
        json.dumps(BODY),
        {"Content-Type": "text/plain"},
        400,
        _error("bad_request", NOT_AN_OBJECT),
    ),
    (
        "bad Idempotency-Key",
        json.dumps(BODY),
        {"Idempotency-Key": "x" * 201},
        400,
        _error("bad_request", BAD_KEY),
    ),
]


@pytest.mark.parametrize(
    ("case", "content", "extra", "status", "answer"), CASES, ids=[c[0] for c in CASES]
)
async def test_invalid_requests_answer_as_before(
    app: FastAPI,
    stub: StubRpc,
    case: str,
    content: bytes | str,
    extra: dict[str, str],
    status: int,
    answer: dict[str, Any],
) -> None:
    reply = await post(app, content, key_headers(**extra))
    assert (reply.status_code, reply.json()) == (status, answer)
    assert reply.headers["content-type"] == "application/json"
    assert stub.calls == []


async def test_a_well_formed_request_takes_the_fast_path_and_others_the_route(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[bytes] = []
    original = fast_weborders._validated

    def spy(body: bytes) -> Any:
        validated.append(body)
        return original(body)

    monkeypatch.setattr(fast_weborders, "_validated", spy)
    assert (await post(app, json.dumps(BODY), key_headers())).status_code == 201
    assert len(validated) == 1
    # No key: refused before the body is read, by the route's own dependency.
    no_key = await post(app, json.dumps(BODY), {"Content-Type": "application/json"})
    assert no_key.status_code == 401
    assert len(validated) == 1
