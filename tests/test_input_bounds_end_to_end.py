"""Every input bounded and clean at the boundary (issue 10, capability 7), through the whole
portal (every service its own process, the broker): the same rules and Dutch messages whoever
sends the input, school or provider, by page, by API or in a roster file; bounded page
numbers; 405 with Allow; the OpenAPI with every status an operation answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ck_testkit import clocks
from ck_testkit.journeys import page_login, register_provider, school_with_password, wait_for
from ck_testkit.portal import Portal, csrf_from
from ck_testkit.rosters import student_xlsx

PASSWORD = "een lang wachtwoord voor de grenzen"
HUGE = 27090769733286449102454784
LONG_NAME = "x" * 300_000
STUDENT = {
    "voornaam": "Sanne",
    "achternaam": "de Boer",
    "locatienaam": "Hoofdlocatie",
    "studiejaar": 2,
    "opleiding": "Mediavormgeving",
}


@dataclass
class Setting:
    portal: Portal
    school_id: str
    school_number: int
    holder: str
    api: dict[str, str]  # the budget holder's bearer token
    provider: dict[str, str]  # the provider's API key

    def weborder(self, **changes: Any) -> dict[str, Any]:
        return {
            "school_number": self.school_number,
            "activity": "Voorstelling",
            "activity_date": (clocks.today() + timedelta(days=30)).isoformat(),
            "participants": 20,
            "amount_cents": 5000,
            **changes,
        }


@pytest.fixture(scope="module")
def setting(portal: Portal) -> Iterator[Setting]:
    tag = uuid.uuid4().hex[:6]
    holder = f"grens-{tag}@grens-college.test"
    school = school_with_password(portal, f"Grens College {tag}", holder, PASSWORD)
    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        kvk = f"{int(tag, 16):08d}"[-8:]
        _provider, key = register_provider(admin, f"Grens Theater {tag}", kvk)
        token = http.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
        assert token.status_code == 200, token.text
    yield Setting(
        portal=portal,
        school_id=str(school["school_id"]),
        school_number=int(school["school_number"]),  # type: ignore[call-overload]
        holder=holder,
        api={"Authorization": f"Bearer {token.json()['token']}"},
        provider={"Authorization": f"Bearer {key}"},
    )


def _weborder_accepted(http: httpx.Client, s: Setting) -> None:
    """The weborders service knows the school (it learns it through the broker)."""

    def created() -> httpx.Response | None:
        reply = http.post("/api/v1/provider/weborders", json=s.weborder(), headers=s.provider)
        return reply if reply.status_code == 201 else None

    wait_for(created, what="the weborders service knows the school")


def test_a_provider_posting_a_control_character_gets_422_with_the_field_named(
    setting: Setting,
) -> None:
    s = setting
    with s.portal.client() as http:
        _weborder_accepted(http, s)
        reply = http.post(
            "/api/v1/provider/weborders",
            json=s.weborder(activity="Voorstelling\vHamlet"),
            headers=s.provider,
        )
        assert reply.status_code == 422, reply.text
        fields = reply.json()["error"]["fields"]
        assert list(fields) == ["activity"]
        assert "onzichtbaar stuurteken (teken 13)" in fields["activity"]
        # A bidi override in an offering's title, a NUL in a card payment's reference: the same.
        offering = http.post(
            "/api/v1/provider/offerings",
            json={"title": "Work\u202eshop", "price_cents": 100},
            headers=s.provider,
        )
        assert offering.status_code == 422 and "title" in offering.json()["error"]["fields"]
        charge = http.post(
            "/api/v1/provider/card-payments",
            json={
                "card_number": "1234567890123",
                "amount_cents": 100,
                "description": "Film",
                "provider_reference": "K\x001",
            },
            headers=s.provider,
        )
        assert charge.status_code == 422
        assert "provider_reference" in charge.json()["error"]["fields"]
        # Pasted line breaks in a one-line field are whitespace: accepted, folded.
        folded = http.post(
            "/api/v1/provider/weborders",
            json=s.weborder(activity="Voorstelling\r\nHamlet\t", provider_reference=" R-1\n"),
            headers=s.provider,
        )
        assert folded.status_code == 201, folded.text
        assert folded.json()["activity"] == "Voorstelling Hamlet"
        assert folded.json()["provider_reference"] == "R-1"


def test_a_300000_character_first_name_is_refused_everywhere(setting: Setting) -> None:
    s = setting
    people = f"/api/v1/schools/{s.school_id}/roster/students/people"
    with s.portal.client() as http:
        # The school API.
        reply = http.post(people, json={**STUDENT, "voornaam": LONG_NAME}, headers=s.api)
        assert reply.status_code == 422, reply.text[:300]
        assert reply.json()["error"]["fields"] == {"voornaam": "Maximaal 200 tekens."}
        # A control character by the API: refused with the field named.
        reply = http.post(people, json={**STUDENT, "achternaam": "de\x1bBoer"}, headers=s.api)
        assert reply.status_code == 422
        assert "stuurteken" in reply.json()["error"]["fields"]["achternaam"]

        # The page form.
        page_login(http, s.holder, PASSWORD)
        form = http.get("/beheer-studenten")
        assert form.status_code == 200
        values = {k: str(v) for k, v in STUDENT.items()}
        posted = http.post(
            "/beheer-studenten",
            data={**values, "voornaam": LONG_NAME, "csrf_token": csrf_from(form.text)},
        )
        assert posted.status_code == 422
        assert "Maximaal 200 tekens." in posted.text
        posted = http.post(
            "/beheer-studenten",
            data={**values, "achternaam": "de\x07Boer", "csrf_token": csrf_from(form.text)},
        )
        assert posted.status_code == 422 and "onzichtbaar stuurteken" in posted.text

        # A roster file: the validatietool and the upload name the row and the column.
        good = ("Anna", "de Vries", "", "", "Zwolle", 2, "Zorg", "2A", "")
        content = student_xlsx([good, (LONG_NAME, *good[1:]), ("Piet\x0bje", *good[1:])])
        checked = http.post(
            f"/api/v1/schools/{s.school_id}/roster/students/validate",
            files={"file": ("leerlingen.xlsx", content)},
            headers=s.api,
        )
        assert checked.status_code == 200, checked.text[:300]
        report = checked.json()
        assert not report["ok"]
        found = {(e["row"], e["column"]): e["message"] for e in report["errors"]}
        assert found[(4, "voornaam")] == "Maximaal 200 tekens (deze cel heeft er 300000)."
        assert "onzichtbaar stuurteken (teken 5)" in found[(5, "voornaam")]
        uploaded = http.post(
            f"/api/v1/schools/{s.school_id}/roster/students/upload",
            files={"file": ("leerlingen.xlsx", content)},
            data={"confirmed": "true"},
            headers=s.api,
        )
        assert uploaded.status_code == 422
        assert "rij 4 voornaam" in uploaded.json()["error"]["fields"]

        # The provider API (an activity) and the public activation (a member's own name).
        reply = http.post(
            "/api/v1/provider/weborders", json=s.weborder(activity=LONG_NAME), headers=s.provider
        )
        assert reply.status_code == 422
        assert reply.json()["error"]["fields"] == {"activity": "Maximaal 200 tekens."}
        reply = http.post(
            "/api/v1/activations",
            json={
                "code": "K7QX-3MPA-9TZD",
                "voornaam": LONG_NAME,
                "achternaam": "de Boer",
                "email": "sanne@voorbeeld.nl",
                "geboortedatum": "2006-05-17",
            },
        )
        assert reply.status_code == 422
        assert reply.json()["error"]["fields"] == {"voornaam": "Maximaal 100 tekens."}


def test_huge_page_numbers_are_refused_by_the_api_and_ignored_by_the_pages(
    setting: Setting,
) -> None:
    s = setting
    base = f"/api/v1/schools/{s.school_id}"
    with s.portal.client() as http:
        for path, headers in (
            (f"{base}/offer", s.api),
            (f"{base}/weborders", s.api),
            (f"{base}/roster/students/people", s.api),
            ("/api/v1/provider/weborders", s.provider),
        ):
            for page in (HUGE, 100_001, 0):
                reply = http.get(path, params={"page": page}, headers=headers)
                assert reply.status_code == 422, (path, page, reply.text)
                assert "query.page" in reply.json()["error"]["fields"]
            assert http.get(path, params={"page": 100_000}, headers=headers).status_code == 200
        long_search = http.get(f"{base}/offer", params={"text": "x" * 101}, headers=s.api)
        assert long_search.status_code == 422
        assert long_search.json()["error"]["fields"] == {"query.text": "Maximaal 100 tekens."}
        page_login(http, s.holder, PASSWORD)
        for path in ("/aanbod", "/bestellingen/weborders", "/beheer-studenten", "/docenten-plus"):
            for page in (str(HUGE), "²", "-3", "x"):
                shown = http.get(path, params={"pagina": page})
                assert shown.status_code == 200, (path, page)
        # Search terms on pages are cleaned, never an error.
        shown = http.get("/aanbod", params={"tekst": "thea\x00ter" + "x" * 500})
        assert shown.status_code == 200


def test_405_answers_carry_allow(setting: Setting) -> None:
    with setting.portal.client() as http:
        for method, path, allowed in (
            ("DELETE", "/api/v1/schools", "GET, POST"),
            ("PATCH", "/api/v1/provider/weborders", "GET, POST"),
            ("PUT", "/inloggen", "GET, POST"),
            ("POST", "/api/v1/me", "GET"),
        ):
            reply = http.request(method, path)
            assert reply.status_code == 405, (method, path)
            assert reply.headers["allow"] == allowed, (method, path)
        assert http.request("DELETE", "/api/v1/schools").json()["error"]["code"] == (
            "method_not_allowed"
        )


def test_the_openapi_documents_every_status_an_operation_answers(setting: Setting) -> None:
    with setting.portal.client() as http:
        document = http.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    seen = 0
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            statuses = set(operation["responses"])
            where = f"{method.upper()} {path}"
            assert "503" in statuses, where
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= statuses, where
            if "{" in path:
                assert {"404", "422"} <= statuses, where
            if operation.get("security"):
                assert "401" in statuses, where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, where
            seen += 1
    assert seen > 40
    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "429"} <= set(login)


def test_an_admin_is_held_to_the_same_rules(setting: Setting) -> None:
    portal = setting.portal
    admin = {"Authorization": f"Bearer {portal.admin_token()}"}
    school = {
        "settings": {
            "name": "Grens\x00College",
            "brin_codes": ["25LG"],
            "locations": ["x" * 201],
            "duo_student_count": 10,
        },
        "budget_holder": {"name": "Bea", "email": "bea@grens.test"},
    }
    with portal.client() as http:
        reply = http.post("/api/v1/schools", json=school, headers=admin)
        assert reply.status_code == 422, reply.text
        fields = reply.json()["error"]["fields"]
        assert "onzichtbaar stuurteken" in fields["settings.name"]
        assert fields["settings.locations.0"] == "Maximaal 200 tekens."
        payment = {"amount_cents": 10**15, "paid_on": "2026-03-02", "payment_reference": "a\vb"}
        reply = http.post(f"/api/v1/invoices/{uuid.uuid4()}/payments", json=payment, headers=admin)
        assert reply.status_code == 422
        assert set(reply.json()["error"]["fields"]) == {"amount_cents", "payment_reference"}
        # The page form (menu Aanbieders): the form again, with the message by the field.
        page_login(http, portal.admin_email, portal.admin_password)
        form = http.get("/beheer/aanbieders")
        posted = http.post(
            "/beheer/aanbieders",
            data={
                "naam": "Theater\vNoord",
                "kvk": "12345670",
                "contactpersoon": "Piet",
                "email": "piet@theater.test",
                "csrf_token": csrf_from(form.text),
            },
        )
        assert posted.status_code == 422 and "onzichtbaar stuurteken (teken 8)" in posted.text
