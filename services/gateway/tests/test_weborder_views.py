"""Weborder pages' forms and labels, the menu items and the provider API's key check, without
a broker: nothing here reaches a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from uuid import uuid4

import httpx
import pytest
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import WeborderStatus
from ck_gateway.app import create_app
from ck_gateway.menu import menu_for
from ck_gateway.settings import get_settings
from ck_gateway.weborder_views import (
    STATUS_LABELS,
    parse_date,
    parse_provider,
    parse_schooltoer,
    reason_error,
    rename_fields,
    status_filter,
)

SCHOOL = uuid4()
TODAY = date(2026, 3, 2)
FUTURE = TODAY + timedelta(days=30)


def test_every_status_has_a_dutch_label() -> None:
    assert set(STATUS_LABELS) == set(WeborderStatus)
    assert STATUS_LABELS[WeborderStatus.REFUSED] == "Geweigerd"


def test_the_menu_offers_aanbod_to_school_staff_and_aanbieders_to_cjp() -> None:
    holder = [
        i.label for i in menu_for(Actor(user_id=uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL))
    ]
    docent = [
        i.label for i in menu_for(Actor(user_id=uuid4(), role=Role.DOCENT_PLUS, school_id=SCHOOL))
    ]
    admin = [i.label for i in menu_for(Actor(user_id=uuid4(), role=Role.CJP_ADMIN))]
    assert holder[:3] == ["Bestellingen", "Producten", "Aanbod"]
    assert "Aanbod" in docent and "Producten" not in docent
    assert admin == [
        "Scholen",
        "School registreren",
        "Aanbieders",
        "Uitbetalingen",
        "Geschiedenis",  # the audit trail (issue 13)
        "Onbestelbare berichten",
        "Support",
    ]


def test_schooltoer_form_parses_dutch_amounts_and_dates() -> None:
    command, errors = parse_schooltoer(
        {
            "datum": FUTURE.strftime("%d-%m-%Y"),
            "van": " Utrecht Centraal ",
            "naar": "Amsterdam Centraal",
            "reizigers": "28",
            "bedrag": "€ 1.234,50",
        },
        SCHOOL,
        TODAY,
    )
    assert errors == {}
    assert command is not None
    assert command.amount_cents == 123450 and command.travel_date == FUTURE
    assert command.from_place == "Utrecht Centraal" and command.travellers == 28


def test_schooltoer_form_names_every_wrong_field_in_dutch() -> None:
    command, errors = parse_schooltoer(
        {"datum": "gisteren", "van": "", "naar": "x" * 101, "reizigers": "0", "bedrag": "-5"},
        SCHOOL,
        TODAY,
    )
    assert command is None
    assert set(errors) == {"datum", "van", "naar", "reizigers", "bedrag"}
    assert errors["van"] == "Vul de vertrekplaats in."
    past, errors = parse_schooltoer(
        {"datum": "2026-03-01", "van": "A", "naar": "B", "reizigers": "1", "bedrag": "1"},
        SCHOOL,
        TODAY,
    )
    assert past is None and errors == {"datum": "De reisdatum ligt in het verleden."}


def test_provider_form() -> None:
    fields, errors = parse_provider(
        {"naam": "Theater", "kvk": "1234567", "contactpersoon": "", "email": "geen-adres"}
    )
    assert fields is None
    assert errors["kvk"].startswith("Een KvK-nummer bestaat uit 8 cijfers")
    assert errors["email"].startswith("Vul een geldig e-mailadres in")
    assert errors["contactpersoon"] == "Dit veld mag niet leeg zijn."
    fields, errors = parse_provider(
        {"naam": "Theater", "kvk": "12345678", "contactpersoon": "An", "email": "an@theater.nl"}
    )
    assert errors == {} and fields is not None and fields.kvk_number == "12345678"


def test_small_helpers() -> None:
    assert parse_date("2024-03-14") == date(2024, 3, 14) == parse_date("14-3-2024")
    assert parse_date("31-02-2024") is None
    assert status_filter("geweigerd") == WeborderStatus.REFUSED and status_filter("x") is None
    assert reason_error("", what="afkeuren") == "Vul een reden in voor het afkeuren."
    assert reason_error("te duur", what="afkeuren") is None
    renamed = rename_fields({"weborder.reason": "Leeg", "iets": "Anders"}, {"reason": "reden"})
    assert renamed == {"reden": "Leeg", "__all__": "Anders"}


# --- the provider API refuses what is not a provider key before asking any service ------------
@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(get_settings(secret_key="s"))  # the RPC client is never started
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


BODY = {
    "school_number": 10289,
    "activity": "Voorstelling",
    "activity_date": "2030-03-14",
    "participants": 20,
    "amount_cents": 30000,
}


async def test_without_a_key_the_provider_api_answers_401(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/v1/provider/weborders", json=BODY)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.json()["error"]["message"].startswith("Stuur uw API-sleutel mee")


async def test_a_portal_session_token_is_no_provider_key(client: httpx.AsyncClient) -> None:
    token = "Xy3" * 15  # what /api/v1/auth/login hands out: 43 characters, no ck_live_
    reply = await client.get(
        "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 401
    assert "geen API-sleutel van een aanbieder" in reply.json()["error"]["message"]


async def test_a_bad_weborder_gets_dutch_field_messages_before_any_service(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/api/v1/provider/weborders",
        json={**BODY, "participants": 0, "activity": ""},
        headers={"Authorization": "Bearer ck_live_" + "a" * 32},
    )
    assert reply.status_code == 422
    fields = reply.json()["error"]["fields"]
    assert fields["participants"] == "Het getal moet minimaal 1 zijn."
    assert fields["activity"] == "Dit veld mag niet leeg zijn."


def test_the_openapi_document_describes_the_provider_api() -> None:
    spec = create_app(get_settings(secret_key="s")).openapi()
    create = spec["paths"]["/api/v1/provider/weborders"]["post"]
    assert create["tags"] == ["provider"]
    assert {"ProviderApiKey": []} in create["security"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "examples" in str(create["requestBody"])
    assert spec["components"]["securitySchemes"]["ProviderApiKey"]["scheme"] == "bearer"
    tag = next(t for t in spec["tags"] if t["name"] == "provider")
    assert "Idempotency" in tag["description"] and "ck_live_" in tag["description"]
    for path in (
        "/weborders/{weborder_id}/cancel",
        "/offerings",
        "/offerings/{offering_id}",
        "/requests",
        "/card-payments",
        "/statements",  # payouts (issue 13)
        "/statements/{statement_id}",
        "/statements/{statement_id}/pdf",
    ):
        assert f"/api/v1/provider{path}" in spec["paths"]
    statement = spec["paths"]["/api/v1/provider/statements/{statement_id}"]["get"]
    assert {"ProviderApiKey": []} in statement["security"] and "404" in statement["responses"]
    pdf = spec["paths"]["/api/v1/provider/statements/{statement_id}/pdf"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]


# --- issue 13: the weborder lifecycle -------------------------------------------------------------
def test_the_openapi_document_has_the_lifecycle_calls() -> None:
    spec = create_app(get_settings(secret_key="s")).openapi()
    named = spec["paths"]["/api/v1/provider/weborders/{weborder_id}/participants"]["post"]
    assert named["tags"] == ["provider"] and {"ProviderApiKey": []} in named["security"]
    assert "CardNumbers" in str(named["requestBody"]) and "card_unknown" in str(named)
    assert "card_numbers" in spec["components"]["schemas"]["CardNumbers"]["properties"]
    school = "/api/v1/schools/{school_id}/weborders/{weborder_id}"
    assert "post" in spec["paths"][f"{school}/reapproval"]
    assert "post" in spec["paths"][f"{school}/participants"]
    assert "get" in spec["paths"][school]
    weborder = spec["components"]["schemas"]["Weborder"]["properties"]
    assert {"refusal_code", "refusal_params", "reapprovable", "attempt"} <= set(weborder)


def test_a_refusal_is_rendered_from_the_catalogue_and_legacy_text_kept() -> None:
    from ck_contracts.weborders import Weborder, WeborderStatus
    from ck_gateway.weborder_views import refusal_text, with_reason

    params = {"balance_cents": 4000, "amount_cents": 5500, "shortfall_cents": 1500}
    assert refusal_text("insufficient_balance", params, "") == (
        "Het saldo is te laag: nodig € 55,00, saldo € 40,00, tekort € 15,00."
    )
    assert refusal_text("period_over", {"ends_on": "2024-07-31"}, "").startswith(
        "De programmaperiode is voorbij (budget was te besteden tot en met 31 juli 2024)"
    )
    legacy = "Onvoldoende saldo: het saldo is € 40,00, de weborder kost € 55,00."
    assert refusal_text("insufficient_balance", {}, legacy) == legacy
    weborder = Weborder.model_validate(
        {
            "weborder_id": "5d0c3a1e-7b2f-4c1d-9e8a-2f3b4c5d6e7f",
            "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
            "provider_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "provider_name": "T",
            "status": WeborderStatus.REFUSED,
            "created_at": "2024-02-20T10:15:00Z",
            "school_number": 1,
            "activity": "A",
            "activity_date": "2024-03-01",
            "participants": 1,
            "amount_cents": 5500,
            "refusal_code": "insufficient_balance",
            "refusal_params": params,
        }
    )
    assert with_reason(weborder).reason.startswith("Het saldo is te laag")
    rejected = weborder.model_copy(update={"status": WeborderStatus.REJECTED, "reason": "Te duur"})
    assert with_reason(rejected).reason == "Te duur"
