"""Weborders through the gateway (R-WEB-1..6, R-ROLE-2/3/4/6, R-DOSSIER-1): the provider API
with API keys, Aanbieders for CJP admins, Bestellingen > Weborders / Schooltoer / Exports, Aanbod
and the Cultuurkaart-dossier, against the real weborders, budget, roster and accounts services
over the real broker (in this process, SQLite).

Budget reaches school A the way the invoicing service delivers it: an InvoicePaid event on the
broker. The module has a RabbitMQ virtual host of its own, like test_roster_portal.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ck_accounts.passwords import hash_password
from ck_accounts.tables import users
from ck_budget.app import build as build_budget
from ck_budget.settings import get_settings as budget_settings
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated
from ck_contracts.messaging import utcnow
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.roster import RosterKind
from ck_contracts.weborders import Ops
from ck_roster.app import build as build_roster
from ck_roster.app import get_settings as roster_settings
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, publish_event
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.clocks import MONDAY
from ck_testkit.rosters import student_xlsx
from ck_weborders.app import build as build_weborders
from ck_weborders.settings import get_settings as weborders_settings
from openpyxl import load_workbook
from sqlalchemy import insert

Stack = Any  # the `stack` fixture of conftest.py

DOCENT_EMAIL = "docent-plus@weborders-a.example"
DOCENT_PASSWORD = "een lang docentwachtwoord"
FUTURE = (MONDAY.date() + timedelta(days=40)).isoformat()


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host for this module alone (see the module's docstring)."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-weborders") as url:
        yield url


@dataclass
class ProviderKeys:
    provider_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class World:
    stack: Stack
    a: ProviderKeys
    b: ProviderKeys


@asynccontextmanager
async def logged_in(stack: Stack, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        response = await stack.page_login(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def holder(stack: Stack, key: str = "a") -> Any:
    school = stack.schools[key]
    return logged_in(stack, school.email, school.password)


def admin(stack: Stack) -> Any:
    return logged_in(stack, stack.admin_email, stack.admin_password)


async def _known(stack: Stack, service: str, op: str, payload: dict[str, Any], school: Any) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)

    async def known() -> bool:
        reply = await stack.rpc.call(service, op, payload, actor=actor)
        assert reply.ok or (reply.error and reply.error.code == "not_found"), reply.error
        return bool(reply.ok)

    assert await eventually(known, 30), f"{service} does not know the school"


async def register_provider(stack: Stack, name: str, kvk: str) -> ProviderKeys:
    """Menu Aanbieders: register, then "nieuwe API-sleutel" (the key is shown once)."""
    async with admin(stack) as client:
        page = await client.get("/beheer/aanbieders")
        assert page.status_code == 200, page.text
        done = await client.post(
            "/beheer/aanbieders",
            data={
                "naam": name,
                "kvk": kvk,
                "contactpersoon": "Anna Aanbieder",
                "email": f"info@{kvk}.example",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert done.status_code == 303, done.text
        location = done.headers["location"]
        provider_id = location.split("/")[-1].split("?")[0]
        detail = await client.get(location)
        assert "Geef de aanbieder nu een API-sleutel" in detail.text
        issued = await client.post(
            f"/beheer/aanbieders/{provider_id}/sleutels",
            data={"csrf_token": stack.csrf_of(detail.text)},
        )
        assert issued.status_code == 200, issued.text
        found = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert found, issued.text
        return ProviderKeys(provider_id, found.group(1))


async def _add_docent_plus(stack: Stack, school_id: uuid.UUID) -> None:
    """A Docent+ user, written into the accounts service's table as menu Docenten+ does."""
    async with stack.runtime.db.transaction() as session:
        await session.execute(
            insert(users).values(
                id=uuid.uuid4(),
                email=DOCENT_EMAIL,
                name="Dirk Docent",
                role=Role.DOCENT_PLUS,
                school_id=school_id,
                password_hash=await hash_password(DOCENT_PASSWORD),
                active=True,
                created_at=utcnow(),
            )
        )


async def credit(stack: Stack, school_id: uuid.UUID, collective: int, individual: int = 0) -> None:
    """A paid invoice, as the invoicing service announces it (R-BUDGET-5)."""
    await publish_event(
        stack.amqp_url,
        InvoicePaid(
            school_id=school_id,
            invoice_id=uuid.uuid4(),
            order_id=uuid.uuid4(),
            number=f"2270{uuid.uuid4().int % 10_000:04d}",
            collective_budget_cents=collective,
            individual_budget_cents=individual,
            paid_on=MONDAY.date(),
        ),
    )


async def balance(stack: Stack, key: str = "a") -> int:
    school = stack.schools[key]
    token = await stack.api_token(school.email, school.password)
    async with stack.client() as client:
        ledger = await client.get(
            f"/api/v1/schools/{school.school_id}/budget/ledger",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert ledger.status_code == 200, ledger.text
    return int(ledger.json()["balance_cents"])


@pytest.fixture(scope="module")
async def world(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    data: Path = tmp_path_factory.mktemp("weborders")
    runtimes = [
        ServiceRuntime(
            build_weborders(
                weborders_settings(
                    amqp_url=amqp_url,
                    data_dir=str(data),
                    database_url=f"sqlite+aiosqlite:///{data / 'weborders.sqlite3'}",
                    api_key_pepper="test-pepper",
                )
            )
        ),
        ServiceRuntime(
            build_budget(
                budget_settings(
                    amqp_url=amqp_url,
                    database_url=f"sqlite+aiosqlite:///{data / 'budget.sqlite3'}",
                )
            )
        ),
        ServiceRuntime(
            build_roster(
                roster_settings(
                    amqp_url=amqp_url,
                    database_url=f"sqlite+aiosqlite:///{data / 'roster.sqlite3'}",
                )
            )
        ),
    ]
    started: list[ServiceRuntime] = []
    try:
        for runtime in runtimes:
            await runtime.start()
            started.append(runtime)
        for school in stack.schools.values():
            ref = {"school_id": str(school.school_id)}
            await _known(stack, "weborders", Ops.WEBORDER_LIST.name, ref, school)
            await _known(stack, "budget", BudgetOps.LEDGER.name, ref, school)
            await _known(stack, "roster", RosterOps.LIST.name, {**ref, "kind": "students"}, school)
        await _add_docent_plus(stack, stack.schools["a"].school_id)
        a = await register_provider(stack, "Stadsschouwburg Testdam", "12345678")
        b = await register_provider(stack, "Filmhuis Testdam", "87654321")
        yield World(stack, a, b)
    finally:
        for runtime in reversed(started):
            await runtime.stop()


def weborder_body(stack: Stack, amount_cents: int, activity: str, key: str = "a") -> dict[str, Any]:
    return {
        "school_number": stack.schools[key].school_number,
        "activity": activity,
        "activity_date": FUTURE,
        "participants": 25,
        "amount_cents": amount_cents,
        "provider_reference": f"REF-{activity[:10]}",
    }


async def create(world: World, body: dict[str, Any], idem: str = "", provider: str = "a") -> Any:
    keys = world.a if provider == "a" else world.b
    headers = dict(keys.headers)
    if idem:
        headers["Idempotency-Key"] = idem
    async with world.stack.client() as client:
        return await client.post("/api/v1/provider/weborders", json=body, headers=headers)


def row_of(html: str, weborder_id: str) -> str:
    match = re.search(rf'<tr id="weborder-{weborder_id}">(.*?)</tr>', html, re.S)
    assert match, "the weborder is not in the list"
    return match.group(1)


async def approve(client: httpx.AsyncClient, stack: Stack, weborder_id: str) -> httpx.Response:
    page = await client.get("/bestellingen/weborders")
    done = await client.post(
        f"/bestellingen/weborders/{weborder_id}/goedkeuren",
        data={"csrf_token": stack.csrf_of(page.text)},
    )
    assert done.status_code == 303, done.text
    return await client.get(done.headers["location"])


# --- Aanbieders (CJP admin) -----------------------------------------------------------------
async def test_the_key_is_shown_once_and_listed_by_prefix_and_revocable(world: World) -> None:
    stack = world.stack
    async with admin(stack) as client:
        listed = await client.get("/beheer/aanbieders")
        assert "Stadsschouwburg Testdam" in listed.text and "Filmhuis Testdam" in listed.text
        detail = await client.get(f"/beheer/aanbieders/{world.a.provider_id}")
        assert world.a.key not in detail.text  # never shown again
        assert world.a.key[:12] in detail.text  # recognisable by its prefix
        # A second key, revoked: it stops working at once.
        issued = await client.post(
            f"/beheer/aanbieders/{world.a.provider_id}/sleutels",
            data={"csrf_token": stack.csrf_of(detail.text)},
        )
        second = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert second
        revoke = re.findall(r'href="(/beheer/aanbieders/[^"]+/intrekken)"', issued.text)
        assert len(revoke) == 2
        body = weborder_body(stack, 1000, "Sleuteltest")
        headers = {"Authorization": f"Bearer {second.group(1)}"}
        async with stack.client() as api:
            assert (await api.get("/api/v1/provider/weborders", headers=headers)).status_code == 200
        prefix = re.escape(second.group(1)[:12])
        prefix_row = re.search(rf'{prefix}\.\.\..*?href="([^"]+/intrekken)"', issued.text, re.S)
        assert prefix_row
        # "intrekken" asks first (issue 14): the link's page names the key; the key still works.
        asked = await client.get(prefix_row.group(1))
        assert asked.status_code == 200
        assert "Weet u het zeker?" in asked.text
        assert f"De API-sleutel {second.group(1)[:12]}... van " in asked.text
        async with stack.client() as api:
            assert (await api.get("/api/v1/provider/weborders", headers=headers)).status_code == 200
        done = await client.post(
            prefix_row.group(1), data={"csrf_token": stack.csrf_of(asked.text)}
        )
        assert done.status_code == 303, done.text
        assert "ingetrokken op" in (await client.get(done.headers["location"])).text
        async with stack.client() as api:
            refused = await api.post("/api/v1/provider/weborders", json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        # A wrong KvK number is shown in Dutch, with what was typed.
        page = await client.get("/beheer/aanbieders")
        wrong = await client.post(
            "/beheer/aanbieders",
            data={
                "naam": "Museum",
                "kvk": "123",
                "contactpersoon": "X",
                "email": "x@y.nl",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert wrong.status_code == 422 and "Een KvK-nummer bestaat uit 8 cijfers" in wrong.text
        assert 'value="Museum"' in wrong.text


async def test_only_cjp_admins_manage_providers(world: World) -> None:
    async with holder(world.stack) as client:
        assert (await client.get("/beheer/aanbieders")).status_code == 403
        assert (await client.get(f"/beheer/aanbieders/{world.a.provider_id}")).status_code == 403


# --- the provider API -------------------------------------------------------------------------
async def test_weborders_are_idempotent_and_only_for_known_schools(world: World) -> None:
    stack = world.stack
    body = weborder_body(stack, 4500, "Workshop idempotent")
    idem = str(uuid.uuid4())
    first = await create(world, body, idem)
    assert first.status_code == 201, first.text
    replay = await create(world, body, idem)
    assert replay.status_code == 201, replay.text
    assert replay.json()["weborder_id"] == first.json()["weborder_id"]
    assert first.json()["status"] == "ingediend"
    other = await create(world, {**body, "amount_cents": 4600}, idem)
    assert other.status_code == 409, other.text
    unknown = await create(world, {**body, "school_number": 99_999_998})
    assert unknown.status_code == 422
    assert "school_number" in unknown.json()["error"]["fields"]
    async with stack.client() as client:
        own = await client.get(
            "/api/v1/provider/weborders",
            params={"status": "ingediend", "page_size": 500},
            headers=world.a.headers,
        )
    ids = [w["weborder_id"] for w in own.json()["items"]]
    assert ids.count(first.json()["weborder_id"]) == 1


async def test_providers_and_schools_see_only_their_own(world: World) -> None:
    stack = world.stack
    made = await create(world, weborder_body(stack, 2000, "Alleen voor A"))
    weborder_id = made.json()["weborder_id"]
    async with stack.client() as client:
        mine = await client.get(
            f"/api/v1/provider/weborders/{weborder_id}", headers=world.a.headers
        )
        theirs = await client.get(
            f"/api/v1/provider/weborders/{weborder_id}", headers=world.b.headers
        )
        b_list = await client.get("/api/v1/provider/weborders", headers=world.b.headers)
    assert mine.status_code == 200 and mine.json()["provider_name"] == "Stadsschouwburg Testdam"
    assert theirs.status_code == 404
    assert weborder_id not in b_list.text
    async with holder(stack, "b") as client:
        page = await client.get("/bestellingen/weborders")
    assert page.status_code == 200 and weborder_id not in page.text
    async with holder(stack, "a") as client:
        page = await client.get("/bestellingen/weborders")
    assert "Alleen voor A" in row_of(page.text, weborder_id)
    # The provider withdraws it before the school decides.
    async with stack.client() as client:
        cancelled = await client.post(
            f"/api/v1/provider/weborders/{weborder_id}/cancel", headers=world.a.headers
        )
        again = await client.post(
            f"/api/v1/provider/weborders/{weborder_id}/cancel", headers=world.a.headers
        )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "geannuleerd"
    assert again.status_code == 409


# --- Bestellingen > Weborders (R-WEB-2) ------------------------------------------------------
async def test_approval_debits_and_a_too_large_one_is_refused_with_the_reason(
    world: World,
) -> None:
    stack = world.stack
    school_id = stack.schools["a"].school_id
    before = await balance(stack)
    await credit(stack, school_id, 21000)

    async def credited() -> bool:
        return await balance(stack) == before + 21000

    assert await eventually(credited, 20)
    fits = (await create(world, weborder_body(stack, 15000, "Voorstelling De Storm"))).json()
    too_big = (await create(world, weborder_body(stack, before + 21000, "Te groot"))).json()
    async with holder(stack) as client:
        shown = await approve(client, stack, fits["weborder_id"])
        assert "is goedgekeurd: € 150,00 afgeschreven" in shown.text, shown.text
        assert "Goedgekeurd" in row_of(shown.text, fits["weborder_id"])
        refused = await approve(client, stack, too_big["weborder_id"])
        assert 'id="geweigerd"' in refused.text, refused.text
        assert "Er is niets afgeschreven" in refused.text
        assert "Geweigerd" in row_of(refused.text, too_big["weborder_id"])
        assert await balance(stack) == before + 6000
        overview = await client.get("/bestellingen/overzicht")
        assert "€ -150,00" in overview.text and "De Storm" in overview.text
        # Approving twice is not possible.
        page = await client.get("/bestellingen/weborders")
        twice = await client.post(
            f"/bestellingen/weborders/{fits['weborder_id']}/goedkeuren",
            data={"csrf_token": stack.csrf_of(page.text)},
        )
        assert twice.status_code == 409

        # Cancel the approval with a reason: the amount comes back.
        empty = await client.post(
            f"/bestellingen/weborders/{fits['weborder_id']}/annuleren",
            data={"reden": " ", "csrf_token": stack.csrf_of(page.text)},
        )
        assert empty.status_code == 422 and "Vul een reden in voor het annuleren" in empty.text
        done = await client.post(
            f"/bestellingen/weborders/{fits['weborder_id']}/annuleren",
            data={"reden": "Voorstelling gaat niet door", "csrf_token": stack.csrf_of(page.text)},
        )
        assert done.status_code == 303, done.text

    async def returned() -> bool:
        return await balance(stack) == before + 21000

    assert await eventually(returned, 20)
    async with stack.client() as client:
        seen = await client.get(
            f"/api/v1/provider/weborders/{too_big['weborder_id']}", headers=world.a.headers
        )
    assert seen.json()["status"] == "geweigerd" and seen.json()["reason"]


async def test_reject_needs_a_reason_which_the_provider_sees(world: World) -> None:
    stack = world.stack
    made = (await create(world, weborder_body(stack, 3000, "Te laat aangevraagd"))).json()
    async with holder(stack) as client:
        page = await client.get("/bestellingen/weborders")
        path = f"/bestellingen/weborders/{made['weborder_id']}/afkeuren"
        assert f'<form method="get" action="{path}"' in page.text
        # The row's form asks first (issue 14): without a reason it says so at once ...
        empty = await client.get(path, params={"reden": ""})
        assert empty.status_code == 422
        assert "Vul een reden in voor het afkeuren." in empty.text
        empty = await client.post(path, data={"reden": "", "csrf_token": stack.csrf_of(page.text)})
        assert empty.status_code == 422
        assert "Vul een reden in voor het afkeuren." in empty.text
        # ... with one, it names the weborder and the reason, and changes nothing yet.
        asked = await client.get(path, params={"reden": "Geen budget voor dit jaar"})
        assert asked.status_code == 200
        assert "Weet u het zeker?" in asked.text
        assert "Weborder &#39;Te laat aangevraagd&#39; van " in asked.text
        assert "wordt afgekeurd" in asked.text and "€ 30,00" in asked.text
        assert "De aanbieder ziet de reden: Geen budget voor dit jaar" in asked.text
        assert 'name="reden" value="Geen budget voor dit jaar"' in asked.text
        async with stack.client() as api:
            before = await api.get(
                f"/api/v1/provider/weborders/{made['weborder_id']}", headers=world.a.headers
            )
        assert before.json()["status"] == "ingediend"
        done = await client.post(
            path,
            data={"reden": "Geen budget voor dit jaar", "csrf_token": stack.csrf_of(asked.text)},
        )
        assert done.status_code == 303
    async with stack.client() as client:
        seen = await client.get(
            f"/api/v1/provider/weborders/{made['weborder_id']}", headers=world.a.headers
        )
    assert seen.json()["status"] == "afgekeurd"
    assert seen.json()["reason"] == "Geen budget voor dit jaar"


async def test_another_schools_weborder_and_budget_order_answer_404_and_change_nothing(
    world: World,
) -> None:
    """Issue 10: school B's budget holder names school A's weborder or budget order in an HTML
    action: 404, no success message, and A's weborder and order are as they were."""
    stack = world.stack
    a = stack.schools["a"]
    made = (await create(world, weborder_body(stack, 2500, "Niet van B"))).json()
    weborder_id = made["weborder_id"]
    token = await stack.api_token(a.email, a.password)
    async with stack.client() as client:
        placed = await client.post(
            f"/api/v1/schools/{a.school_id}/budget/orders",
            headers={"Authorization": f"Bearer {token}"},
            json={"collective_students": 1, "individual_students": 0, "reference": "niet van B"},
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]

    async with holder(stack, "b") as client:
        page = await client.get("/bestellingen/weborders")
        csrf = stack.csrf_of(page.text)
        base = f"/bestellingen/weborders/{weborder_id}"
        answers = {
            "goedkeuren": await client.post(f"{base}/goedkeuren", data={"csrf_token": csrf}),
            "afkeuren": await client.post(
                f"{base}/afkeuren", data={"reden": "gekaapt", "csrf_token": csrf}
            ),
            "annuleren": await client.post(
                f"{base}/annuleren", data={"reden": "gekaapt", "csrf_token": csrf}
            ),
            "bestelling annuleren": await client.post(
                f"/producten/bestellingen/{order_id}/annuleren", data={"csrf_token": csrf}
            ),
        }
        # The confirmation pages do not name another school's weborder or order either.
        asks = {
            "afkeuren?": await client.get(f"{base}/afkeuren", params={"reden": "gekaapt"}),
            "annuleren?": await client.get(f"/producten/bestellingen/{order_id}/annuleren"),
        }
    for what, ask in asks.items():
        assert ask.status_code == 303, (what, ask.text)
        assert "Weet u het zeker?" not in ask.text, what
    for what, answer in answers.items():
        assert answer.status_code == 404, (what, answer.text)
        for success in ("is goedgekeurd", "is afgekeurd", "is geannuleerd", "alert-ok"):
            assert success not in answer.text, (what, success)

    async with stack.client() as client:
        seen = await client.get(
            f"/api/v1/provider/weborders/{weborder_id}", headers=world.a.headers
        )
        orders = await client.get(
            f"/api/v1/schools/{a.school_id}/budget/orders",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert seen.json()["status"] == "ingediend"
    (order,) = [o for o in orders.json()["items"] if o["order_id"] == order_id]
    assert order["status"] == "in_bezwaartermijn"


async def test_cancelling_a_budget_order_asks_first(world: World) -> None:
    """Issue 14: "annuleren" of an order links to "Weet u het zeker?", which names the order and
    changes nothing; the page's form (POST with CSRF) cancels."""
    stack = world.stack
    a = stack.schools["a"]
    token = await stack.api_token(a.email, a.password)
    async with stack.client() as client:
        placed = await client.post(
            f"/api/v1/schools/{a.school_id}/budget/orders",
            headers={"Authorization": f"Bearer {token}"},
            json={"collective_students": 2, "individual_students": 0, "reference": "vraag eerst"},
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    path = f"/producten/bestellingen/{order_id}/annuleren"

    async def status() -> str:
        async with stack.client() as client:
            orders = await client.get(
                f"/api/v1/schools/{a.school_id}/budget/orders",
                headers={"Authorization": f"Bearer {token}"},
            )
        (order,) = [o for o in orders.json()["items"] if o["order_id"] == order_id]
        return str(order["status"])

    async with holder(stack) as client:
        listing = await client.get("/producten")
        assert f'href="{path}"' in listing.text
        asked = await client.get(path)
        assert asked.status_code == 200
        assert "Weet u het zeker?" in asked.text
        assert "(referentie vraag eerst: 2 studenten met bijdrage" in asked.text
        assert "wordt geannuleerd" in asked.text
        assert await status() == "in_bezwaartermijn"
        done = await client.post(path, data={"csrf_token": stack.csrf_of(asked.text)})
        assert done.status_code == 303, done.text
        assert "De bestelling is geannuleerd." in (await client.get(done.headers["location"])).text
        again = await client.get(path)  # nothing left to cancel: back to the list
        assert again.status_code == 303
    assert await status() == "geannuleerd"


# --- Docent+ (R-ROLE-2) and Aanbod (R-WEB-3) ---------------------------------------------------
async def test_docent_plus_browses_and_requests_but_cannot_approve_or_order(world: World) -> None:
    stack = world.stack
    async with stack.client() as client:
        published = await client.post(
            "/api/v1/provider/offerings",
            headers=world.a.headers,
            json={
                "title": "Improvisatietheater op school",
                "description": "Twee uur spelen.",
                "discipline": "theater",
                "city": "Testdam",
                "price_cents": 750,
            },
        )
    assert published.status_code == 201, published.text
    offering_id = published.json()["offering_id"]
    made = (await create(world, weborder_body(stack, 1000, "Docent kijkt mee"))).json()
    async with logged_in(stack, DOCENT_EMAIL, DOCENT_PASSWORD) as client:
        home = await client.get("/")
        assert 'href="/aanbod"' in home.text
        offer = await client.get("/aanbod", params={"tekst": "improvisatie"})
        assert offer.status_code == 200 and "Improvisatietheater op school" in offer.text
        assert "aanvraag versturen" in offer.text
        empty = await client.post(
            f"/aanbod/{offering_id}/aanvragen",
            data={"bericht": "", "csrf_token": stack.csrf_of(offer.text)},
        )
        assert empty.status_code == 422 and "Schrijf een bericht aan de aanbieder." in empty.text
        sent = await client.post(
            f"/aanbod/{offering_id}/aanvragen",
            data={
                "bericht": "Graag op 14 maart, 2 klassen.",
                "csrf_token": stack.csrf_of(offer.text),
            },
        )
        assert sent.status_code == 303, sent.text
        assert "Uw aanvraag is verstuurd" in (await client.get(sent.headers["location"])).text

        listed = await client.get("/bestellingen/weborders")
        assert listed.status_code == 200
        assert "goedkeuren" not in row_of(listed.text, made["weborder_id"])
        token = stack.csrf_of(listed.text)
        for path in (
            f"/bestellingen/weborders/{made['weborder_id']}/goedkeuren",
            f"/bestellingen/weborders/{made['weborder_id']}/afkeuren",
        ):
            answer = await client.post(path, data={"reden": "x", "csrf_token": token})
            assert answer.status_code == 403, path
        toer = await client.get("/bestellingen/schooltoer")
        assert "Alleen de budgethouder kan Schooltoer-tickets bestellen." in toer.text
        ordered = await client.post(
            "/bestellingen/schooltoer",
            data={
                "datum": FUTURE,
                "van": "A",
                "naar": "B",
                "reizigers": "2",
                "bedrag": "10",
                "csrf_token": token,
            },
        )
        assert ordered.status_code == 403
    async with stack.client() as client:
        requests = await client.get("/api/v1/provider/requests", headers=world.a.headers)
        none_for_b = await client.get("/api/v1/provider/requests", headers=world.b.headers)
    found = [r for r in requests.json()["items"] if r["offering_id"] == offering_id]
    assert found and found[0]["requested_by"] == "Dirk Docent"
    assert found[0]["message"] == "Graag op 14 maart, 2 klassen."
    assert none_for_b.json()["items"] == []
    # The provider changes its offering (PUT).
    async with stack.client() as client:
        changed = await client.put(
            f"/api/v1/provider/offerings/{offering_id}",
            headers=world.a.headers,
            json={"title": "Improvisatietheater", "price_cents": 800},
        )
        foreign = await client.put(
            f"/api/v1/provider/offerings/{offering_id}",
            headers=world.b.headers,
            json={"title": "Gekaapt", "price_cents": 1},
        )
    assert changed.status_code == 200 and changed.json()["price_cents"] == 800
    assert foreign.status_code == 404


# --- Schooltoer (R-WEB-4) and Exports (R-WEB-5) -----------------------------------------------
async def test_a_past_travel_date_is_refused_on_the_api_as_on_the_page(world: World) -> None:
    """The rule lived only in the form; the weborders service checks it now (with the stack's
    clock, the Dutch day), so the JSON API answers the same code and words as the page."""
    stack = world.stack
    school = stack.schools["a"]
    yesterday = (MONDAY.date() - timedelta(days=1)).isoformat()
    token = {"Authorization": f"Bearer {await stack.api_token(school.email, school.password)}"}
    order = {
        "travel_date": yesterday,
        "from_place": "Utrecht",
        "to_place": "Rotterdam",
        "travellers": 30,
        "amount_cents": 1250,
    }
    path = f"/api/v1/schools/{school.school_id}/schooltoer"
    async with stack.client() as client:
        refused = await client.post(path, headers=token, json=order)
        listed = await client.get(path, headers=token)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "travel_date_in_past"
    assert error["message"] == "De reisdatum ligt in het verleden."
    assert error["params"]["travel_date"] == yesterday
    assert error["field_codes"]["travel_date"]["code"] == "travel_date_in_past"
    assert all(o["travel_date"] != yesterday for o in listed.json())
    async with holder(stack) as client:
        page = await client.get("/bestellingen/schooltoer")
        shown = await client.post(
            "/bestellingen/schooltoer",
            data={
                "datum": yesterday,
                "van": "Utrecht",
                "naar": "Rotterdam",
                "reizigers": "30",
                "bedrag": "12,50",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
    assert shown.status_code == 422 and "De reisdatum ligt in het verleden." in shown.text


async def test_schooltoer_is_debited_and_everything_is_in_the_export(world: World) -> None:
    stack = world.stack
    await credit(stack, stack.schools["a"].school_id, 5000)
    made = (await create(world, weborder_body(stack, 1234, '=HYPERLINK("x")'))).json()
    async with holder(stack) as client:
        page = await client.get("/bestellingen/schooltoer")
        token = stack.csrf_of(page.text)
        wrong = await client.post(
            "/bestellingen/schooltoer",
            data={
                "datum": FUTURE,
                "van": "Utrecht",
                "naar": "",
                "reizigers": "0",
                "bedrag": "veel",
                "csrf_token": token,
            },
        )
        assert wrong.status_code == 422
        assert "Vul de bestemming in." in wrong.text and 'value="Utrecht"' in wrong.text
        done = await client.post(
            "/bestellingen/schooltoer",
            data={
                "datum": FUTURE,
                "van": "Utrecht",
                "naar": "Rotterdam",
                "reizigers": "30",
                "bedrag": "12,50",
                "csrf_token": token,
            },
        )
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"])
        assert "Rotterdam" in shown.text and "€ 12,50" in shown.text
        approved = await approve(client, stack, made["weborder_id"])
        assert "afgeschreven" in approved.text, approved.text

        async def debited() -> bool:
            toer = await client.get("/bestellingen/schooltoer")
            return "Goedgekeurd" in toer.text

        assert await eventually(debited, 20)
        exports = await client.get("/bestellingen/exports")
        assert 'href="/bestellingen/exports/bestedingen.xlsx"' in exports.text
        for label in ("Overzicht", "Weborders", "Budget", "Schooltoer", "Exports"):
            assert f">{label}</a>" in exports.text
        download = await client.get("/bestellingen/exports/bestedingen.xlsx")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(download.content), read_only=True)
    cells = [
        str(c)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for c in row
        if c is not None
    ]
    assert any("Rotterdam" in c for c in cells)
    assert any("HYPERLINK" in c for c in cells)
    assert not any(c.startswith("=") for c in cells)  # neutralised (R-WEB-5)


# --- Cultuurkaart-dossier (R-DOSSIER-1) and card payments (R-WEB-6) ----------------------------
async def _student(stack: Stack) -> str:
    school = stack.schools["a"]
    token = await stack.api_token(school.email, school.password)
    async with stack.client() as client:
        added = await client.post(
            f"/api/v1/schools/{school.school_id}/roster/students/people",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "voornaam": "Sanne",
                "achternaam": "de Boer",
                "locatienaam": "Hoofdlocatie",
                "studiejaar": 2,
                "opleiding": "Media",
            },
        )
    assert added.status_code == 201, added.text
    person_id = str(added.json()["person_id"])
    await _on_weborders_roster(stack, school, person_id)
    return person_id


async def _on_weborders_roster(stack: Stack, school: Any, person_id: str) -> None:
    """Wait until the weborders service knows the student from the roster's events."""
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)
    ref = {"school_id": str(school.school_id), "person_id": person_id}

    async def known() -> bool:
        return bool((await stack.rpc.call("weborders", Ops.DOSSIER_GET.name, ref, actor=actor)).ok)

    assert await eventually(known, 30), "the weborders service does not know the student"


async def test_dossier_with_notes_for_teachers_of_the_school_only(world: World) -> None:
    stack = world.stack
    person_id = await _student(stack)
    async with holder(stack) as client:
        listed = await client.get("/beheer-studenten")
        assert f'href="/dossier/{person_id}"' in listed.text
        page = await client.get(f"/dossier/{person_id}")
        assert page.status_code == 200 and "Cultuurkaart-dossier van Sanne de Boer" in page.text
    async with logged_in(stack, DOCENT_EMAIL, DOCENT_PASSWORD) as client:
        page = await client.get(f"/dossier/{person_id}")
        empty = await client.post(
            f"/dossier/{person_id}/notities",
            data={"notitie": "", "csrf_token": stack.csrf_of(page.text)},
        )
        assert empty.status_code == 422
        done = await client.post(
            f"/dossier/{person_id}/notities",
            data={
                "notitie": "Vond de voorstelling indrukwekkend.",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"])
        assert "Vond de voorstelling indrukwekkend." in shown.text and "Dirk Docent" in shown.text
    async with holder(stack, "b") as client:
        other = await client.get(f"/dossier/{person_id}")
        assert other.status_code in (403, 404)
        assert "indrukwekkend" not in other.text


async def test_an_uploaded_roster_is_the_dossiers_list_of_students(world: World) -> None:
    """R-DOSSIER-1 (issue 10): the students of an upload reach the weborders service (the
    roster's RosterPeopleAdded events); the dossier takes notes for them and refuses another
    school's student or an id nobody has, on the API and on the page."""
    stack = world.stack
    a, b = stack.schools["a"], stack.schools["b"]
    rows = [
        ("Noor", "Visser", "", "", "Hoofdlocatie", 1, "Zorg", "", ""),
        ("Daan", "Smit", "", "", "Hoofdlocatie", 2, "ICT", "", ""),
    ]
    token_b = {"Authorization": f"Bearer {await stack.api_token(b.email, b.password)}"}
    token_a = {"Authorization": f"Bearer {await stack.api_token(a.email, a.password)}"}
    roster_b = f"/api/v1/schools/{b.school_id}/roster/students"
    async with stack.client() as client:
        uploaded = await client.post(
            f"{roster_b}/upload",
            headers=token_b,
            data={"confirmed": "true"},
            files={"file": ("leerlingen.xlsx", student_xlsx(rows))},
        )
        assert uploaded.status_code == 200, uploaded.text
        people = (await client.get(f"{roster_b}/people", headers=token_b)).json()["items"]
    ids = {p["voornaam"]: p["person_id"] for p in people}
    for person_id in ids.values():
        await _on_weborders_roster(stack, b, person_id)
    sanne = await _student(stack)  # school A's student
    note = {"text": "Goed gesprek over de voorstelling."}
    dossier_b = f"/api/v1/schools/{b.school_id}/dossier"
    async with stack.client() as client:
        own = await client.post(f"{dossier_b}/{ids['Noor']}/notes", headers=token_b, json=note)
        assert own.status_code == 201, own.text
        refused = {
            "A's student": await client.post(
                f"{dossier_b}/{sanne}/notes", headers=token_b, json=note
            ),
            "nobody": await client.post(
                f"{dossier_b}/{uuid.uuid4()}/notes", headers=token_b, json=note
            ),
            "read A's student": await client.get(f"{dossier_b}/{sanne}", headers=token_b),
            "A names B's student": await client.post(
                f"/api/v1/schools/{a.school_id}/dossier/{ids['Daan']}/notes",
                headers=token_a,
                json=note,
            ),
        }
        shown = await client.get(f"{dossier_b}/{ids['Noor']}", headers=token_b)
    for what, response in refused.items():
        assert response.status_code == 404, (what, response.text)
        # The service's reason is the API's code (issue 12); the same for every refusal.
        assert response.json()["error"]["code"] == "student_not_on_roster"
    assert [e["text"] for e in shown.json()["entries"]] == [note["text"]]
    async with holder(stack, "b") as client:
        page = await client.get(f"/dossier/{ids['Daan']}")
        assert page.status_code == 200, page.text
        posted = await client.post(
            f"/dossier/{sanne}/notities",
            data={"notitie": "Gekaapt", "csrf_token": stack.csrf_of(page.text)},
        )
    assert posted.status_code == 404
    assert "De notitie is bewaard" not in posted.text


async def test_card_payment_debits_the_students_budget_and_refuses_beyond_it(
    world: World,
) -> None:
    stack = world.stack
    school = stack.schools["a"]
    person_id = uuid.uuid4()
    card = f"CJP{person_id.hex[:10]}"
    await publish_event(
        stack.amqp_url,
        MembershipActivated(
            school_id=school.school_id,
            person_id=person_id,
            kind=RosterKind.STUDENTS,
            card_number=card,
        ),
    )
    await credit(stack, school.school_id, 0, individual=1050)
    token = await stack.api_token(school.email, school.password)

    async def allocated() -> bool:
        async with stack.client() as client:
            done = await client.post(
                f"/api/v1/schools/{school.school_id}/budget/allocations",
                headers={"Authorization": f"Bearer {token}"},
                json={"person_ids": [str(person_id)], "amount_cents_each": 1000},
            )
        return done.status_code == 200

    assert await eventually(allocated, 20)
    charge = {
        "card_number": card,
        "amount_cents": 600,
        "description": "Bioscoop",
        "provider_reference": "KASSA-1",
    }
    async with stack.client() as client:
        paid = await client.post(
            "/api/v1/provider/card-payments", headers=world.b.headers, json=charge
        )
        assert paid.status_code == 201, paid.text
        assert paid.json()["remaining_cents"] == 400
        too_much = await client.post(
            "/api/v1/provider/card-payments",
            headers=world.b.headers,
            json={**charge, "provider_reference": "KASSA-2"},
        )
        assert too_much.status_code == 409, too_much.text
        assert too_much.json()["error"]["message"]
        bad_key = await client.post(
            "/api/v1/provider/card-payments",
            headers={"Authorization": "Bearer ck_live_" + "x" * 40},
            json=charge,
        )
        assert bad_key.status_code == 401


# --- Exactly-once commands (issue 10, capability 5) -----------------------------------------
@asynccontextmanager
async def replies_lost(stack: Stack, marker: str, count: int) -> AsyncIterator[list[str]]:
    """The gateway loses the first `count` replies that mention `marker` (a dropped
    connection, a broker hiccup): its RPC client times out after a second and retries."""
    rpc = stack.rpc
    original, timeout = rpc._on_reply, rpc.timeout
    dropped: list[str] = []

    def on_reply(correlation_id: str, body: bytes) -> None:
        if len(dropped) < count and marker.encode() in body:
            dropped.append(correlation_id)
            return
        original(correlation_id, body)

    rpc._on_reply, rpc.timeout = on_reply, 1.0
    try:
        yield dropped
    finally:
        rpc._on_reply, rpc.timeout = original, timeout


async def test_a_lost_reply_is_answered_again_and_nothing_runs_twice(world: World) -> None:
    stack = world.stack
    school = stack.schools["a"]
    await credit(stack, school.school_id, 5000)
    before = await balance(stack)
    made = (await create(world, weborder_body(stack, 1200, "Verloren antwoord"))).json()
    other = (await create(world, weborder_body(stack, 1300, "Tweemaal verloren"))).json()
    token = await stack.api_token(school.email, school.password)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/schools/{school.school_id}/weborders/{{}}/decision"
    async with stack.client() as client:
        # The approval's reply is lost once: the gateway's retry gets the first answer.
        async with replies_lost(stack, made["weborder_id"], 1) as dropped:
            answer = await client.post(
                path.format(made["weborder_id"]), json={"approve": True}, headers=headers
            )
        assert dropped, "the reply was dropped"
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] in ("in_behandeling", "goedgekeurd")

        # Lost twice: the gateway answers 503; the client's retry with the same
        # Idempotency-Key gets the first answer, not "al goedgekeurd".
        idem = {**headers, "Idempotency-Key": f"goedkeuren-{other['weborder_id']}"}
        async with replies_lost(stack, other["weborder_id"], 2):
            lost = await client.post(
                path.format(other["weborder_id"]), json={"approve": True}, headers=idem
            )
        assert lost.status_code == 503, lost.text
        retried = await client.post(
            path.format(other["weborder_id"]), json={"approve": True}, headers=idem
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["weborder_id"] == other["weborder_id"]
        # The same key with another body is not a retry.
        misused = await client.post(
            path.format(other["weborder_id"]),
            json={"approve": False, "reason": "toch niet"},
            headers=idem,
        )
        assert misused.status_code == 409, misused.text

    async def settled() -> bool:
        return await balance(stack) == before - 2500

    assert await eventually(settled, 20), "each approval debited exactly once"
    async with stack.client() as client:
        ledger = await client.get(
            f"/api/v1/schools/{school.school_id}/budget/ledger", headers=headers
        )
        for weborder in (made, other):
            seen = await client.get(
                f"/api/v1/provider/weborders/{weborder['weborder_id']}", headers=world.a.headers
            )
            assert seen.json()["status"] == "goedgekeurd"
    debits = [
        e
        for e in ledger.json()["entries"]
        if "antwoord" in e["description"] or "verloren" in e["description"]
    ]
    assert len(debits) == 2, debits


# --- issue 13: the weborder lifecycle (re-approval, participants) ---------------------------------
async def _api(stack: Stack, key: str = "a") -> dict[str, str]:
    school = stack.schools[key]
    return {"Authorization": f"Bearer {await stack.api_token(school.email, school.password)}"}


async def _credited(stack: Stack, cents: int) -> None:
    before = await balance(stack)
    await credit(stack, stack.schools["a"].school_id, cents)

    async def arrived() -> bool:
        return await balance(stack) == before + cents

    assert await eventually(arrived, 20)


async def _status(world: World, weborder_id: str, wanted: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        async with world.stack.client() as client:
            got = await client.get(
                f"/api/v1/provider/weborders/{weborder_id}", headers=world.a.headers
            )
        found.update(got.json())
        return bool(found["status"] == wanted)

    assert await eventually(reached, 20), found
    return found


async def test_a_refusal_for_balance_is_approved_again_after_a_top_up(world: World) -> None:
    stack = world.stack
    school = stack.schools["a"]
    before = await balance(stack)
    amount = before + 4_321
    made = (await create(world, weborder_body(stack, amount, "Opera Carmen"))).json()
    weborder_id = made["weborder_id"]
    async with holder(stack) as client:
        refused = await approve(client, stack, weborder_id)
        row = row_of(refused.text, weborder_id)
        # The budget's code rendered from the gateway's catalogue (no Dutch from the budget).
        assert "Geweigerd" in row and "Het saldo is te laag: nodig" in row, row
        assert "opnieuw goedkeuren" in row
        assert "kunt u de weborder opnieuw goedkeuren" in refused.text
    seen = await _status(world, weborder_id, "geweigerd")
    assert seen["refusal_code"] == "insufficient_balance" and seen["reapprovable"] is True
    assert seen["reason"].startswith("Het saldo is te laag")
    await _credited(stack, 4_321)
    async with holder(stack) as client:
        page = await client.get("/bestellingen/weborders")
        done = await client.post(
            f"/bestellingen/weborders/{weborder_id}/opnieuw-goedkeuren",
            data={"csrf_token": stack.csrf_of(page.text)},
        )
        assert done.status_code == 303, done.text
    approved = await _status(world, weborder_id, "goedgekeurd")
    assert approved["attempt"] == 2 and approved["reason"] == ""
    assert await balance(stack) == 0
    api = await _api(stack)
    base = f"/api/v1/schools/{school.school_id}/weborders/{weborder_id}"
    async with stack.client() as client:
        again = await client.post(f"{base}/reapproval", headers=api)
        ledger = await client.get(f"/api/v1/schools/{school.school_id}/budget/ledger", headers=api)
        other = await client.post(f"{base}/reapproval", headers=await _api(stack, "b"))
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "weborder_not_refused"
    assert other.status_code == 403
    debits = [e for e in ledger.json()["entries"] if "Opera Carmen" in e["description"]]
    assert [e["amount_cents"] for e in debits] == [-amount]  # debited once


async def _named_student(stack: Stack, voornaam: str) -> str:
    school = stack.schools["a"]
    async with stack.client() as client:
        added = await client.post(
            f"/api/v1/schools/{school.school_id}/roster/students/people",
            headers=await _api(stack),
            json={
                "voornaam": voornaam,
                "achternaam": "Levensloop",
                "locatienaam": "Hoofdlocatie",
                "studiejaar": 1,
                "opleiding": "Dans",
                "klas": "DA1",
            },
        )
    assert added.status_code == 201, added.text
    person_id = str(added.json()["person_id"])
    await _on_weborders_roster(stack, school, person_id)
    return person_id


async def test_participants_from_the_roster_and_by_card_number_reach_the_dossier(
    world: World,
) -> None:
    stack = world.stack
    school = stack.schools["a"]
    ann, bram, cor = [await _named_student(stack, name) for name in ("Ann", "Bram", "Cor")]
    made = (await create(world, weborder_body(stack, 1_00, "Dansworkshop Bolero"))).json()
    weborder_id = made["weborder_id"]
    picker = f"/bestellingen/weborders/{weborder_id}/deelnemers"
    async with holder(stack) as client:
        page = await client.get(f"{picker}?achternaam=levensloop")
        assert page.status_code == 200, page.text
        for person in (ann, bram, cor):
            assert f'id="student-{person}"' in page.text
        saved = await client.post(
            picker,
            data={
                "csrf_token": stack.csrf_of(page.text),
                "achternaam": "levensloop",
                "getoond": [ann, bram, cor],
                "deelnemer": [ann],
            },
        )
        assert saved.status_code == 303, saved.text
        shown = await client.get(saved.headers["location"])
        assert "1 student(en) aangemerkt" in shown.text
        assert re.search(rf'value="{ann}" checked', shown.text)
        assert not re.search(rf'value="{bram}" checked', shown.text)
        tampered = await client.post(
            picker,
            data={"csrf_token": stack.csrf_of(page.text), "getoond": ["x"], "deelnemer": []},
        )
        assert tampered.status_code == 422
    async with logged_in(stack, DOCENT_EMAIL, DOCENT_PASSWORD) as client:
        assert (await client.get(picker)).status_code == 403
    # The school API: another school's or nobody's id refuses the whole change.
    api = await _api(stack)
    base = f"/api/v1/schools/{school.school_id}/weborders/{weborder_id}"
    async with stack.client() as client:
        stranger = await client.post(
            f"{base}/participants", headers=api, json={"add": [bram, str(uuid.uuid4())]}
        )
        assert stranger.status_code == 422, stranger.text
        assert stranger.json()["error"]["code"] == "participants_not_on_roster"
        got = await client.get(base, headers=api)
        assert got.json()["participant_ids"] == [ann]
    # The provider names Cor by card number; an unknown number is reported, nothing else lost.
    await publish_event(
        stack.amqp_url,
        MembershipActivated(
            school_id=school.school_id,
            person_id=uuid.UUID(cor),
            kind=RosterKind.STUDENTS,
            card_number="7777777777773",
        ),
    )
    named: dict[str, Any] = {}

    async def cor_named() -> bool:
        async with stack.client() as client:
            reply = await client.post(
                f"/api/v1/provider/weborders/{weborder_id}/participants",
                headers=world.a.headers,
                json={"card_numbers": ["0000000000000", "7777 7777 7777 3"]},
            )
        assert reply.status_code == 200, reply.text
        named.update(reply.json())
        return bool(named["results"][1]["outcome"] != "card_unknown")

    assert await eventually(cor_named, 20), named
    unknown, known = named["results"]
    assert unknown["outcome"] == "card_unknown" and "Onbekend CJP-kaartnummer" in unknown["message"]
    assert known["outcome"] in ("added", "already_named")
    async with stack.client() as client:
        theirs = await client.post(
            f"/api/v1/provider/weborders/{weborder_id}/participants",
            headers=world.b.headers,
            json={"card_numbers": ["7777777777773"]},
        )
    assert theirs.status_code == 404
    # Approved: the activity is in Ann's and Cor's dossier, not in Bram's.
    await _credited(stack, 1_00)
    async with holder(stack) as client:
        await approve(client, stack, weborder_id)
    await _status(world, weborder_id, "goedgekeurd")
    async with stack.client() as client:
        for person, expected in ((ann, True), (cor, True), (bram, False)):
            dossier = await client.get(
                f"/api/v1/schools/{school.school_id}/dossier/{person}", headers=api
            )
            texts = [e["text"] for e in dossier.json()["entries"]]
            assert any("Dansworkshop Bolero" in t for t in texts) is expected, (person, texts)
