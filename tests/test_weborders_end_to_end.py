"""Weborders through every process (R-WEB-1/2/5, R-ROLE-3/4/6): a CJP admin registers two
providers and issues their API keys in menu Aanbieders; provider A creates a weborder with its
key (a retry with the same Idempotency-Key gives the same weborder); the school gets budget
(order, early approval by the admin, payment recorded); the budget holder approves the weborder
in the portal; the balance and Bestellingen > Overzicht show the debit and the export holds it;
a second weborder larger than the balance is refused with the budget's reason; provider B does
not see provider A's weborder and school B does not see school A's.

Every service, the gateway and the SMTP server are their own processes (the session's
`portal` fixture, SQLite), over the real broker.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from ck_testkit import clocks
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    showing,
    wait_for,
)
from ck_testkit.portal import Portal, csrf_from
from ck_testkit.rosters import student_rows, student_xlsx
from openpyxl import load_workbook

T = TypeVar("T")
PASSWORD = "een lang wachtwoord voor weborders"
FUTURE = (clocks.today() + timedelta(days=30)).isoformat()


def kvk(tag: str, n: int) -> str:
    return f"{(int(tag, 16) * 10 + n) % 10**8:08d}"


def cells_of(xlsx: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    return [
        str(c)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for c in row
        if c is not None
    ]


def weborder(school_number: int, amount_cents: int, activity: str) -> dict[str, Any]:
    return {
        "school_number": school_number,
        "activity": activity,
        "activity_date": FUTURE,
        "participants": 24,
        "amount_cents": amount_cents,
        "provider_reference": "THEATER-0042",
        "docent_plus_email": "docent@weborder-college.test",
    }


def approve_in_portal(http: httpx.Client, weborder_id: str) -> str:
    page = http.get("/bestellingen/weborders")
    assert weborder_id in page.text, "the weborder is not listed"
    done = http.post(
        f"/bestellingen/weborders/{weborder_id}/goedkeuren",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303, done.text
    location = done.headers["location"]

    def decided() -> str | None:
        shown = http.get(location).text
        return shown if "Ververs de pagina" not in shown else None

    return wait_for(decided, 20, "the budget's answer")


def test_weborder_from_provider_key_to_debit_export_and_isolation(portal: Portal) -> None:
    tag = uuid.uuid4().hex[:6]
    holder_a, holder_b = f"bea-{tag}@weborder-a.test", f"bob-{tag}@weborder-b.test"
    school_a = school_with_password(portal, f"Weborder College {tag}", holder_a, PASSWORD)
    school_b = school_with_password(portal, f"Ander College {tag}", holder_b, PASSWORD)
    number_a = int(school_a["school_number"])  # type: ignore[arg-type]
    with portal.client() as admin, portal.client() as http, portal.client() as api:
        page_login(admin, portal.admin_email, portal.admin_password)
        provider_a, key_a = register_provider(admin, f"Theater Noord {tag}", kvk(tag, 1))
        _provider_b, key_b = register_provider(admin, f"Museum Zuid {tag}", kvk(tag, 2))
        auth_a = {"Authorization": f"Bearer {key_a}"}
        auth_b = {"Authorization": f"Bearer {key_b}"}

        # R-WEB-1: a weborder with the school number. The weborders service learns the school
        # through the broker; a retry with the same Idempotency-Key is always safe.
        idem = str(uuid.uuid4())
        body = weborder(number_a, 15000, "Voorstelling Hamlet met nagesprek")

        def created() -> httpx.Response | None:
            reply = api.post(
                "/api/v1/provider/weborders", json=body, headers={**auth_a, "Idempotency-Key": idem}
            )
            return reply if reply.status_code == 201 else None

        first = wait_for(created, what="the weborders service knows the school")
        replay = api.post(
            "/api/v1/provider/weborders", json=body, headers={**auth_a, "Idempotency-Key": idem}
        )
        assert replay.status_code == 201, replay.text
        weborder_id = first.json()["weborder_id"]
        assert replay.json()["weborder_id"] == weborder_id
        assert first.json()["provider_id"] == provider_a
        assert first.json()["status"] == "ingediend"
        unknown = api.post(
            "/api/v1/provider/weborders", json={**body, "school_number": 99_999_990}, headers=auth_a
        )
        assert unknown.status_code == 422, unknown.text

        # The school gets budget: order, early approval by CJP, payment recorded (R-BUDGET-5).
        page_login(http, holder_a, PASSWORD)
        order_budget(http, collective=10)  # 10 x 21,00 collective budget; invoice 105,00
        admin_approves_and_records_payment(admin, str(school_a["school_id"]), "105,00")
        wait_for(
            showing(http, "/bestellingen/overzicht", "€ 210,00"),
            what="the collective budget credited",
        )

        # R-WEB-2: the budget holder approves; the balance is debited.
        listed = http.get("/bestellingen/weborders")
        assert "Voorstelling Hamlet" in listed.text and listed.text.count(weborder_id) >= 1
        shown = approve_in_portal(http, weborder_id)
        assert "is goedgekeurd: € 150,00 afgeschreven" in shown, shown
        overview = http.get("/bestellingen/overzicht").text
        saldo = re.search(r'id="saldo">([^<]+)<', overview)
        assert saldo and saldo.group(1) == "€ 60,00"
        assert "€ -150,00" in overview and "Hamlet" in overview
        status = api.get(f"/api/v1/provider/weborders/{weborder_id}", headers=auth_a)
        assert status.json()["status"] == "goedgekeurd"

        # R-WEB-5: the export holds the weborder.
        export = http.get("/bestellingen/exports/bestedingen.xlsx")
        assert export.status_code == 200
        assert any("Hamlet" in c for c in cells_of(export.content))

        # A second weborder larger than the balance: refused, with the reason, nothing debited.
        big = api.post(
            "/api/v1/provider/weborders",
            json=weborder(number_a, 10000, "Dansvoorstelling Bolero"),
            headers=auth_a,
        )
        assert big.status_code == 201, big.text
        refused = approve_in_portal(http, big.json()["weborder_id"])
        assert 'id="geweigerd"' in refused and "Er is niets afgeschreven" in refused, refused
        assert "Geweigerd" in refused
        saldo = re.search(r'id="saldo">([^<]+)<', http.get("/bestellingen/overzicht").text)
        assert saldo and saldo.group(1) == "€ 60,00"
        seen = api.get(f"/api/v1/provider/weborders/{big.json()['weborder_id']}", headers=auth_a)
        assert seen.json()["status"] == "geweigerd" and seen.json()["reason"]

        # R-ROLE-6: provider B and school B see none of it.
        assert (
            api.get(f"/api/v1/provider/weborders/{weborder_id}", headers=auth_b).status_code == 404
        )
        assert weborder_id not in api.get("/api/v1/provider/weborders", headers=auth_b).text
    with portal.client() as other:
        page_login(other, holder_b, PASSWORD)
        page = other.get("/bestellingen/weborders")
        assert page.status_code == 200
        assert weborder_id not in page.text and "Hamlet" not in page.text
        export_b = other.get("/bestellingen/exports/bestedingen.xlsx")
        assert export_b.status_code == 200
        assert not any("Hamlet" in c for c in cells_of(export_b.content))
    assert school_b["school_id"] != school_a["school_id"]


def test_the_school_json_api_for_spending(portal: Portal) -> None:
    """The Bestellingen operations through /api/v1/schools/{id}/... (R-WEB-2..5, R-DOSSIER-1)."""
    tag = uuid.uuid4().hex[:6]
    holder, other = f"api-{tag}@spending-a.test", f"api-{tag}@spending-b.test"
    school = school_with_password(portal, f"Api College {tag}", holder, PASSWORD)
    school_with_password(portal, f"Buur College {tag}", other, PASSWORD)
    base = f"/api/v1/schools/{school['school_id']}"
    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        _provider, key = register_provider(admin, f"Filmhuis {tag}", kvk(tag, 3))

        def token(email: str) -> dict[str, str]:
            reply = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            return {"Authorization": f"Bearer {reply.json()['token']}"}

        api, stranger = token(holder), token(other)
        body = weborder(int(school["school_number"]), 2500, "Filmklas documentaire")  # type: ignore[arg-type]

        def created() -> httpx.Response | None:
            reply = http.post(
                "/api/v1/provider/weborders", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            return reply if reply.status_code == 201 else None

        weborder_id = wait_for(created, what="the school is known").json()["weborder_id"]
        listed = http.get(f"{base}/weborders", headers=api)
        assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text
        assert http.get(f"{base}/weborders", headers=stranger).status_code == 403

        decision = f"{base}/weborders/{weborder_id}/decision"
        no_reason = http.post(decision, headers=api, json={"approve": False})
        assert no_reason.status_code == 422, no_reason.text
        rejected = http.post(decision, headers=api, json={"approve": False, "reason": "Te duur"})
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "afgekeurd" and rejected.json()["reason"] == "Te duur"

        # Schooltoer without any budget: ordered, then refused by the budget service.
        trip = {
            "travel_date": FUTURE,
            "from_place": "Zwolle",
            "to_place": "Amsterdam",
            "travellers": 20,
            "amount_cents": 30000,
        }
        ordered = http.post(f"{base}/schooltoer", headers=api, json=trip)
        assert ordered.status_code == 201, ordered.text

        def refused() -> dict[str, Any] | None:
            orders = http.get(f"{base}/schooltoer", headers=api).json()
            return orders[0] if orders and orders[0]["status"] == "geweigerd" else None

        assert "saldo" in wait_for(refused, what="the budget's refusal")["reason"].lower()

        # The dossier (R-DOSSIER-1) is for the school's own students: an uploaded roster's
        # people reach the weborders service through the roster's events; an id that is not on
        # the roster is refused.
        uploaded = http.post(
            f"{base}/roster/students/upload",
            headers=api,
            data={"confirmed": "true"},
            files={"file": ("leerlingen.xlsx", student_xlsx(student_rows(3, seed=5)))},
        )
        assert uploaded.status_code == 200, uploaded.text
        people = http.get(f"{base}/roster/students/people", headers=api).json()["items"]
        person = people[0]["person_id"]
        stranger_id = str(uuid.uuid4())
        refused = http.post(
            f"{base}/dossier/{stranger_id}/notes", headers=api, json={"text": "Niet van ons"}
        )
        assert refused.status_code == 404, refused.text
        assert http.get(f"{base}/dossier/{stranger_id}", headers=api).status_code == 404

        def noted() -> httpx.Response | None:
            text = {"text": "Enthousiast over film"}
            reply = http.post(f"{base}/dossier/{person}/notes", headers=api, json=text)
            return reply if reply.status_code == 201 else None

        wait_for(noted, what="the uploaded students known to the dossier")
        dossier = http.get(f"{base}/dossier/{person}", headers=api).json()
        assert [e["text"] for e in dossier["entries"]] == ["Enthousiast over film"]
        assert http.get(f"{base}/dossier/{person}", headers=stranger).status_code == 403
        assert http.get(f"{base}/offer", headers=api).status_code == 200
        export = http.get(f"{base}/spending.xlsx", headers=api)
        assert export.status_code == 200 and export.content[:2] == b"PK"


# --- issue 13: the weborder lifecycle ------------------------------------------------------------
def test_refused_for_balance_topped_up_approved_again_and_participants_in_the_dossier(
    portal: Portal,
) -> None:
    """A weborder refused for lack of balance; the school orders budget, CJP approves and
    records the payment; "opnieuw goedkeuren" debits it once (the ledger shows one debit and
    the right balance); the students the school marks have the activity in their dossier."""
    tag = uuid.uuid4().hex[:6]
    holder = f"lc-{tag}@levensloop.test"
    school = school_with_password(portal, f"Levensloop College {tag}", holder, PASSWORD)
    school_id = str(school["school_id"])
    base = f"/api/v1/schools/{school_id}"
    with portal.client() as admin, portal.client() as http, portal.client() as api:
        page_login(admin, portal.admin_email, portal.admin_password)
        _provider, key = register_provider(admin, f"Dansgezelschap {tag}", kvk(tag, 4))
        auth = {"Authorization": f"Bearer {key}"}
        page_login(http, holder, PASSWORD)
        token = api.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
        school_api = {"Authorization": f"Bearer {token.json()['token']}"}
        uploaded = api.post(
            f"{base}/roster/students/upload",
            headers=school_api,
            data={"confirmed": "true"},
            files={"file": ("leerlingen.xlsx", student_xlsx(student_rows(2, seed=13)))},
        )
        assert uploaded.status_code == 200, uploaded.text
        people = api.get(f"{base}/roster/students/people", headers=school_api).json()["items"]
        took_part, stayed_home = people[0]["person_id"], people[1]["person_id"]

        body = weborder(int(school["school_number"]), 2000, "Dansvoorstelling Levensloop")  # type: ignore[arg-type]

        def created() -> httpx.Response | None:
            reply = api.post("/api/v1/provider/weborders", json=body, headers=auth)
            return reply if reply.status_code == 201 else None

        weborder_id = wait_for(created, what="the school is known").json()["weborder_id"]

        # No budget yet: the approval is refused, with the catalogue's Dutch and a way back.
        refused = approve_in_portal(http, weborder_id)
        assert 'id="geweigerd"' in refused and "Het saldo is te laag" in refused, refused
        assert f"/bestellingen/weborders/{weborder_id}/opnieuw-goedkeuren" in refused
        seen = api.get(f"/api/v1/provider/weborders/{weborder_id}", headers=auth).json()
        assert seen["status"] == "geweigerd" and seen["refusal_code"] == "insufficient_balance"

        # The top-up: an order of 1 student with contribution (EUR 21,00), approved and paid.
        order_budget(http, collective=1)
        admin_approves_and_records_payment(admin, school_id, "10,50")
        wait_for(showing(http, "/bestellingen/overzicht", "€ 21,00"), what="the budget credited")

        # "opnieuw goedkeuren": the same saga once more, debited once.
        page = http.get("/bestellingen/weborders")
        again = http.post(
            f"/bestellingen/weborders/{weborder_id}/opnieuw-goedkeuren",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert again.status_code == 303, again.text

        def approved() -> dict[str, Any] | None:
            got = api.get(f"/api/v1/provider/weborders/{weborder_id}", headers=auth).json()
            return got if got["status"] == "goedgekeurd" else None

        assert wait_for(approved, 20, "the second approval")["attempt"] == 2
        twice = api.post(f"{base}/weborders/{weborder_id}/reapproval", headers=school_api)
        assert twice.status_code == 409, twice.text
        ledger = api.get(f"{base}/budget/ledger", headers=school_api).json()
        assert ledger["balance_cents"] == 100
        debits = [e for e in ledger["entries"] if "Levensloop" in e["description"]]
        assert [e["amount_cents"] for e in debits] == [-2000]
        assert sum(e["amount_cents"] for e in ledger["entries"]) == ledger["balance_cents"]

        # Participants: the school marks one student; the activity is in her dossier only.
        def marked() -> httpx.Response | None:
            reply = api.post(
                f"{base}/weborders/{weborder_id}/participants",
                headers=school_api,
                json={"add": [took_part]},
            )
            return reply if reply.status_code == 200 else None

        assert wait_for(marked, what="the students known to weborders").json()[
            "participant_ids"
        ] == [took_part]
        dossier = api.get(f"{base}/dossier/{took_part}", headers=school_api).json()
        assert [e["kind"] for e in dossier["entries"]] == ["activiteit"]
        assert "Dansvoorstelling Levensloop" in dossier["entries"][0]["text"]
        other = api.get(f"{base}/dossier/{stayed_home}", headers=school_api).json()
        assert other["entries"] == []
        shown = http.get(f"/dossier/{took_part}")
        assert "Dansvoorstelling Levensloop" in shown.text
