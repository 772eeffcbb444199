"""The provider portal through the gateway (issue 13): a CJP admin invites provider users from
Aanbieders (mail with a password link, as for budget holders), they log in on the same page and
land on /aanbieder; weborders (filters, create with the API's rules and idempotency, cancel),
the offer (create, edit, withdraw), offer requests answered with a prefilled weborder, card
payments and API keys (shown once, last use, revoke). Provider A never reaches provider B's
things; budget holders cannot open /aanbieder and providers cannot open school pages.

Real accounts, weborders and budget services over the real broker (in this process, SQLite),
on a RabbitMQ virtual host of this module's own.
"""

from __future__ import annotations

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
from ck_budget.app import build as build_budget
from ck_budget.settings import get_settings as budget_settings
from ck_contracts.budget import CardPaymentMade
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated
from ck_contracts.money import format_euro
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import RosterKind
from ck_contracts.weborders import Ops
from ck_invoicing.app import build as build_invoicing
from ck_invoicing.settings import get_settings as invoicing_settings
from ck_runtime.clock import ManualClock
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, publish_event
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.clocks import MONDAY
from ck_weborders.app import build as build_weborders
from ck_weborders.settings import get_settings as weborders_settings

Stack = Any  # the `stack` fixture of conftest.py

PASSWORD = "een lang aanbiederswachtwoord"
FUTURE = (MONDAY.date() + timedelta(days=40)).strftime("%d-%m-%Y")


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-provider-portal") as url:
        yield url


@dataclass
class ProviderUser:
    provider_id: str
    name: str
    email: str
    key: str  # an API key issued by the CJP admin


@dataclass
class World:
    stack: Stack
    a: ProviderUser
    b: ProviderUser
    payout_clock: ManualClock  # the invoicing service's: closes payout periods when moved


@asynccontextmanager
async def logged_in(stack: Stack, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        response = await stack.page_login(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def provider(world: World, which: str = "a") -> Any:
    user = world.a if which == "a" else world.b
    return logged_in(world.stack, user.email, PASSWORD)


def holder(stack: Stack, key: str = "a") -> Any:
    school = stack.schools[key]
    return logged_in(stack, school.email, school.password)


def admin(stack: Stack) -> Any:
    return logged_in(stack, stack.admin_email, stack.admin_password)


async def register_and_invite(stack: Stack, name: str, kvk: str, user_email: str) -> ProviderUser:
    """Aanbieders: register, issue a key, invite a user; the user sets a password by the link."""
    async with admin(stack) as client:
        page = await client.get("/beheer/aanbieders")
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
        provider_id = done.headers["location"].split("/")[-1].split("?")[0]
        detail = await client.get(f"/beheer/aanbieders/{provider_id}")
        issued = await client.post(
            f"/beheer/aanbieders/{provider_id}/sleutels",
            data={"csrf_token": stack.csrf_of(detail.text)},
        )
        key = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert key, issued.text
        # A typing error first: the form comes back with the Dutch message and the input.
        bad = await client.post(
            f"/beheer/aanbieders/{provider_id}/gebruikers",
            data={"naam": "Piet", "email": "geen-adres", "csrf_token": stack.csrf_of(detail.text)},
        )
        assert bad.status_code == 422, bad.text
        assert "Vul een geldig e-mailadres in" in bad.text and 'value="geen-adres"' in bad.text
        invited = await client.post(
            f"/beheer/aanbieders/{provider_id}/gebruikers",
            data={
                "naam": f"Piet {name}",
                "email": user_email,
                "csrf_token": stack.csrf_of(detail.text),
            },
        )
        assert invited.status_code == 303, invited.text
        shown = await client.get(invited.headers["location"])
        assert "De uitnodiging is verstuurd" in shown.text and user_email in shown.text
        again = await client.post(
            f"/beheer/aanbieders/{provider_id}/gebruikers",
            data={"naam": "Piet", "email": user_email, "csrf_token": stack.csrf_of(detail.text)},
        )
        assert again.status_code == 422 and "hoort al bij een account" in again.text
    token = await stack.mailbox.link_token(user_email)
    async with stack.client() as client:
        page = await client.get(f"/wachtwoord-instellen?token={token}")
        assert page.status_code == 200, page.text
        done = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert done.status_code == 200, done.text
    return ProviderUser(provider_id, name, user_email, key.group(1))


@pytest.fixture(scope="module")
async def world(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    data: Path = tmp_path_factory.mktemp("provider-portal")
    payout_clock = ManualClock(MONDAY)
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
        ServiceRuntime(  # reimbursement statements (payouts), closed on payout_clock
            build_invoicing(
                invoicing_settings(
                    amqp_url=amqp_url,
                    database_url=f"sqlite+aiosqlite:///{data / 'invoicing.sqlite3'}",
                    payout_poll_seconds=0.1,
                ),
                clock=payout_clock,
            )
        ),
    ]
    started: list[ServiceRuntime] = []
    try:
        for runtime in runtimes:
            await runtime.start()
            started.append(runtime)
        for school in stack.schools.values():
            await _known_everywhere(stack, school.school_id)
        a = await register_and_invite(stack, "Poppodium Testdam", "11112222", "piet@podium.example")
        b = await register_and_invite(stack, "Museum Testdam", "33334444", "mia@museum.example")
        yield World(stack, a, b, payout_clock)
    finally:
        for runtime in reversed(started):
            await runtime.stop()


async def _known_everywhere(stack: Stack, school_id: uuid.UUID) -> None:
    """Weborders and budget have the school from SchoolRegistered (eventually)."""
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school_id)
    ref = {"school_id": str(school_id)}
    for service, op in (("weborders", Ops.WEBORDER_LIST), ("budget", BudgetOps.LEDGER)):

        async def known(service: str = service, name: str = op.name) -> bool:
            reply = await stack.rpc.call(service, name, ref, actor=actor)
            return bool(reply.ok)

        assert await eventually(known, 30), f"{service} does not know the school"


def weborder_form(stack: Stack, csrf: str, **changes: str) -> dict[str, str]:
    form = {
        "schoolnummer": str(stack.schools["a"].school_number),
        "activiteit": "Workshop popmuziek",
        "datum": FUTURE,
        "deelnemers": "24",
        "bedrag": "360,00",
        "referentie": "POP-1",
        "sleutel": uuid.uuid4().hex,
        "csrf_token": csrf,
    }
    form.update(changes)
    return form


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="weborder-([0-9a-f-]+)">', html)


async def test_a_provider_user_lands_on_its_portal_with_its_own_menu(world: World) -> None:
    async with world.stack.client() as client:
        login = await world.stack.page_login(client, world.a.email, PASSWORD)
        assert login.status_code == 303
        home = await client.get(login.headers["location"])
        assert home.status_code == 303 and home.headers["location"] == "/aanbieder"
        page = await client.get("/aanbieder")
        assert page.status_code == 200, page.text
        assert "Poppodium Testdam" in page.text  # the provider's name in the header
        for part in ("/aanbieder/aanbod", "/aanbieder/aanvragen", "/aanbieder/api-sleutels"):
            assert f'href="{part}"' in page.text
        assert 'href="/bestellingen"' not in page.text
        # The address the provider's mails link to shows the same list.
        alias = await client.get("/aanbieder/weborders?status=ingediend")
        assert alias.status_code == 303
        assert alias.headers["location"] == "/aanbieder?status=ingediend"


async def test_roles_stay_in_their_own_portal(world: World) -> None:
    stack = world.stack
    async with provider(world) as client:
        for path in (
            "/bestellingen/weborders",
            "/instellingen",
            "/aanbod",
            "/beheer-studenten",
            "/beheer/aanbieders",
        ):
            response = await client.get(path)
            assert response.status_code == 403, (path, response.status_code)
    async with holder(stack) as client:
        for path in ("/aanbieder", "/aanbieder/aanbod", "/aanbieder/api-sleutels"):
            response = await client.get(path)
            assert response.status_code == 403, path
            assert "Poppodium" not in response.text
    async with admin(stack) as client:
        assert (await client.get("/aanbieder")).status_code == 403
    async with stack.client() as client:
        anonymous = await client.get("/aanbieder")
        assert anonymous.status_code == 303 and "/inloggen" in anonymous.headers["location"]


async def test_a_weborder_made_in_the_portal_keeps_the_apis_rules(world: World) -> None:
    stack = world.stack
    async with provider(world) as client:
        form = await client.get("/aanbieder/weborders/nieuw")
        csrf = stack.csrf_of(form.text)
        wrong = await client.post(
            "/aanbieder/weborders",
            data=weborder_form(stack, csrf, schoolnummer="abc", bedrag="veel", activiteit=""),
        )
        assert wrong.status_code == 422
        assert "Vul het CJP schoolnummer" in wrong.text and "Vul een bedrag in" in wrong.text
        assert 'value="veel"' in wrong.text and 'value="POP-1"' in wrong.text  # kept
        unknown = await client.post(
            "/aanbieder/weborders", data=weborder_form(stack, csrf, schoolnummer="99999")
        )
        assert unknown.status_code == 422 and 'value="99999"' in unknown.text
        body = weborder_form(stack, csrf)
        made = await client.post("/aanbieder/weborders", data=body)
        assert made.status_code == 303, made.text
        twice = await client.post("/aanbieder/weborders", data=body)  # a double submit
        assert twice.status_code == 303
        listing = await client.get("/aanbieder")
        assert "De weborder is aangemaakt" not in listing.text  # only after the redirect
        shown = await client.get("/aanbieder?gedaan=aangemaakt")
        assert "De weborder is aangemaakt" in shown.text
        assert len(rows(shown.text)) == 1  # one weborder for the double submit
    # The school sees it, from the same service, as the API's weborders.
    async with holder(stack) as client:
        school_page = await client.get("/bestellingen/weborders")
        assert "Workshop popmuziek" in school_page.text and "Poppodium Testdam" in school_page.text
    async with stack.client() as client:
        api = await client.get(
            "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {world.a.key}"}
        )
        assert [w["activity"] for w in api.json()["items"]].count("Workshop popmuziek") == 1


async def test_filters_and_cancelling_only_ones_own_weborders(world: World) -> None:
    stack = world.stack
    async with provider(world) as client:
        csrf = stack.csrf_of((await client.get("/aanbieder/weborders/nieuw")).text)
        for school, activity in (("a", "Filter A"), ("b", "Filter B")):
            number = str(stack.schools[school].school_number)
            done = await client.post(
                "/aanbieder/weborders",
                data=weborder_form(stack, csrf, schoolnummer=number, activiteit=activity),
            )
            assert done.status_code == 303, done.text
        only_b = await client.get(f"/aanbieder?school={stack.schools['b'].school_number}")
        assert "Filter B" in only_b.text and "Filter A" not in only_b.text
        none = await client.get("/aanbieder?van=01-01-2099")
        assert "Geen weborders die aan deze filters voldoen" in none.text
        bad = await client.get("/aanbieder?van=morgen")
        assert "Vul een datum in" in bad.text and 'value="morgen"' in bad.text
        listing = await client.get("/aanbieder?status=ingediend")
        target = next(
            wid
            for wid in rows(listing.text)
            if "Filter A" in listing.text.split(f'id="weborder-{wid}"')[1].split("</tr>")[0]
        )
    async with provider(world, "b") as client:
        theirs = await client.get("/aanbieder")
        assert "Filter A" not in theirs.text and target not in theirs.text
        refused = await client.post(
            f"/aanbieder/weborders/{target}/annuleren",
            data={"csrf_token": stack.csrf_of(theirs.text)},
        )
        assert refused.status_code == 404
    async with provider(world) as client:
        page = await client.get("/aanbieder")
        cancelled = await client.post(
            f"/aanbieder/weborders/{target}/annuleren",
            data={"csrf_token": stack.csrf_of(page.text)},
        )
        assert cancelled.status_code == 303
        after = await client.get("/aanbieder?status=geannuleerd")
        assert target in rows(after.text)
        again = await client.post(
            f"/aanbieder/weborders/{target}/annuleren",
            data={"csrf_token": stack.csrf_of(page.text)},
        )
        assert again.status_code == 409 and "kan niet meer worden geannuleerd" in again.text


async def test_the_offer_is_created_edited_and_withdrawn_by_its_provider_only(
    world: World,
) -> None:
    stack = world.stack
    async with provider(world) as client:
        page = await client.get("/aanbieder/aanbod")
        csrf = stack.csrf_of(page.text)
        empty = await client.post(
            "/aanbieder/aanbod", data={"titel": "", "prijs": "gratis", "csrf_token": csrf}
        )
        assert empty.status_code == 422 and "Vul de titel" in empty.text
        assert 'value="gratis"' in empty.text
        added = await client.post(
            "/aanbieder/aanbod",
            data={
                "titel": "Rockworkshop",
                "omschrijving": "Twee uur spelen in een band.",
                "discipline": "muziek",
                "plaats": "Testdam",
                "prijs": "15,00",
                "csrf_token": csrf,
            },
        )
        assert added.status_code == 303, added.text
        listed = await client.get("/aanbieder/aanbod")
        offering_id = re.search(r'id="aanbod-([0-9a-f-]+)"', listed.text)
        assert offering_id and "€ 15,00" in listed.text
        oid = offering_id.group(1)
        edit = await client.get(f"/aanbieder/aanbod/{oid}")
        assert 'value="Rockworkshop"' in edit.text
    async with provider(world, "b") as client:
        theirs = await client.get("/aanbieder/aanbod")
        assert "Rockworkshop" not in theirs.text
        assert (await client.get(f"/aanbieder/aanbod/{oid}")).status_code == 404
        csrf_b = stack.csrf_of(theirs.text)
        hijack = await client.post(
            f"/aanbieder/aanbod/{oid}",
            data={"titel": "Gekaapt", "prijs": "1", "csrf_token": csrf_b},
        )
        assert hijack.status_code == 404
        withdraw = await client.post(
            f"/aanbieder/aanbod/{oid}/intrekken", data={"csrf_token": csrf_b}
        )
        assert withdraw.status_code == 404
    async with holder(stack) as client:
        found = await client.get("/aanbod?tekst=rockworkshop")
        assert "Rockworkshop" in found.text and "Gekaapt" not in found.text
    async with provider(world) as client:
        csrf = stack.csrf_of((await client.get("/aanbieder/aanbod")).text)
        changed = await client.post(
            f"/aanbieder/aanbod/{oid}",
            data={"titel": "Rockworkshop XL", "prijs": "17,50", "csrf_token": csrf},
        )
        assert changed.status_code == 303, changed.text
        withdrawn = await client.post(
            f"/aanbieder/aanbod/{oid}/intrekken", data={"csrf_token": csrf}
        )
        assert withdrawn.status_code == 303
        after = await client.get(withdrawn.headers["location"])
        assert "Het aanbod is ingetrokken" in after.text and "ingetrokken op" in after.text
    async with holder(stack) as client:
        gone = await client.get("/aanbod?tekst=rockworkshop")
        assert "Rockworkshop" not in gone.text


async def test_a_teachers_request_is_answered_with_a_prefilled_weborder(world: World) -> None:
    stack = world.stack
    async with stack.client() as client:
        published = await client.post(
            "/api/v1/provider/offerings",
            headers={"Authorization": f"Bearer {world.a.key}"},
            json={"title": "Dansles hiphop", "price_cents": 900},
        )
        assert published.status_code == 201, published.text
    oid = published.json()["offering_id"]
    async with holder(stack) as client:
        page = await client.get("/aanbod?tekst=hiphop")
        asked = await client.post(
            f"/aanbod/{oid}/aanvragen",
            data={"bericht": "Kan dit op 3 maart?", "csrf_token": stack.csrf_of(page.text)},
        )
        assert asked.status_code == 303, asked.text
    async with provider(world) as client:
        requests = await client.get("/aanbieder/aanvragen")
        assert "Kan dit op 3 maart?" in requests.text and "Dansles hiphop" in requests.text
        link = re.search(r'href="(/aanbieder/weborders/nieuw\?aanvraag=[0-9a-f-]+)"', requests.text)
        assert link and "beantwoorden met een weborder" in requests.text
        form = await client.get(link.group(1))
        assert form.status_code == 200
        number = str(stack.schools["a"].school_number)
        assert f'value="{number}"' in form.text and 'value="Dansles hiphop"' in form.text
        assert f'value="{oid}"' in form.text and 'value="9,00"' in form.text
        values = dict(re.findall(r'<input[^>]*? name="(\w+)"[^>]*? value="([^"]*)"', form.text))
        values.update(datum=FUTURE, deelnemers="20", bedrag="180,00")
        made = await client.post("/aanbieder/weborders", data=values)
        assert made.status_code == 303, made.text
    async with provider(world, "b") as client:
        assert "Dansles hiphop" not in (await client.get("/aanbieder/aanvragen")).text
        assert (await client.get(link.group(1))).status_code == 404
    async with stack.client() as client:
        api = await client.get(
            "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {world.a.key}"}
        )
        answer = next(w for w in api.json()["items"] if w["activity"] == "Dansles hiphop")
        assert answer["offering_id"] == oid and answer["request_id"]


async def test_api_keys_are_shown_once_used_and_revoked_by_their_provider_only(
    world: World,
) -> None:
    stack = world.stack
    async with provider(world) as client:
        page = await client.get("/aanbieder/api-sleutels")
        assert world.a.key[:12] in page.text  # the key CJP issued is listed too
        issued = await client.post(
            "/aanbieder/api-sleutels", data={"csrf_token": stack.csrf_of(page.text)}
        )
        found = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert found, issued.text
        secret = found.group(1)
        again = await client.get("/aanbieder/api-sleutels")
        assert secret not in again.text and secret[:12] in again.text  # shown once
    key_id = re.search(
        rf'<tr id="sleutel-([0-9a-f-]+)">\s*<td class="code">{re.escape(secret[:12])}', again.text
    )
    assert key_id

    def row(html: str) -> str:
        return html.split(f'id="sleutel-{key_id.group(1)}"')[1].split("</tr>")[0]

    assert "nog niet" in row(again.text)
    async with stack.client() as client:
        used = await client.get(
            "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {secret}"}
        )
        assert used.status_code == 200
    async with provider(world) as client:
        page = await client.get("/aanbieder/api-sleutels")
        assert "nog niet" not in row(page.text)  # its last use is shown
    async with provider(world, "b") as client:
        theirs = await client.get("/aanbieder/api-sleutels")
        assert secret[:12] not in theirs.text
        asked = await client.get(f"/aanbieder/api-sleutels/{key_id.group(1)}/intrekken")
        assert asked.status_code == 303  # another provider's key: no confirmation page
        assert asked.headers["location"] == "/aanbieder/api-sleutels"
        refused = await client.post(
            f"/aanbieder/api-sleutels/{key_id.group(1)}/intrekken",
            data={"csrf_token": stack.csrf_of(theirs.text)},
        )
        assert refused.status_code == 404
    async with provider(world) as client:
        page = await client.get("/aanbieder/api-sleutels")
        # the list links to a confirmation page (issue 14); the GET changes nothing
        link = f"/aanbieder/api-sleutels/{key_id.group(1)}/intrekken"
        assert f'href="{link}"' in row(page.text)
        asked = await client.get(link)
        assert asked.status_code == 200
        assert "Weet u het zeker?" in asked.text and f"{secret[:12]}..." in asked.text
        assert "actief" in row((await client.get("/aanbieder/api-sleutels")).text)
        revoked = await client.post(link, data={"csrf_token": stack.csrf_of(asked.text)})
        assert revoked.status_code == 303
        after = await client.get("/aanbieder/api-sleutels")
        assert "ingetrokken op" in row(after.text)
    async with stack.client() as client:
        dead = await client.get(
            "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {secret}"}
        )
        assert dead.status_code == 401


async def test_card_payments_are_listed_for_their_provider_only(world: World) -> None:
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
    await publish_event(
        stack.amqp_url,
        InvoicePaid(
            school_id=school.school_id,
            invoice_id=uuid.uuid4(),
            order_id=uuid.uuid4(),
            number=f"2270{uuid.uuid4().int % 10_000:04d}",
            collective_budget_cents=0,
            individual_budget_cents=2000,
            paid_on=MONDAY.date(),
        ),
    )
    token = await stack.api_token(school.email, school.password)

    async def allocated() -> bool:
        async with stack.client() as client:
            done = await client.post(
                f"/api/v1/schools/{school.school_id}/budget/allocations",
                headers={"Authorization": f"Bearer {token}"},
                json={"person_ids": [str(person_id)], "amount_cents_each": 1500},
            )
        return done.status_code == 200

    assert await eventually(allocated, 20)
    async with stack.client() as client:
        paid = await client.post(
            "/api/v1/provider/card-payments",
            headers={"Authorization": f"Bearer {world.a.key}"},
            json={
                "card_number": card,
                "amount_cents": 650,
                "description": "Concertkaartje De Vrolijke Noot",
                "provider_reference": "KASSA-77",
            },
        )
        assert paid.status_code == 201, paid.text
        listed = await client.get(
            "/api/v1/provider/card-payments", headers={"Authorization": f"Bearer {world.a.key}"}
        )
        assert listed.status_code == 200 and listed.json()["total_cents"] == 650
        other = await client.get(
            "/api/v1/provider/card-payments", headers={"Authorization": f"Bearer {world.b.key}"}
        )
        assert other.json()["total"] == 0
    async with provider(world) as client:
        page = await client.get("/aanbieder/kaartbetalingen")
        assert "Concertkaartje De Vrolijke Noot" in page.text and "€ 6,50" in page.text
        assert "KASSA-77" in page.text and card not in page.text
    async with provider(world, "b") as client:
        page = await client.get("/aanbieder/kaartbetalingen")
        assert "Concertkaartje" not in page.text
        assert "Er zijn nog geen kaartbetalingen" in page.text


# --- Uitbetalingen (issue 13, capability 4) ------------------------------------------------------
async def test_statements_are_listed_and_downloaded_by_their_provider_only(world: World) -> None:
    """Card payments for A and B become statements when the invoicing clock passes a period
    end; A's portal and API list A's statements only, with the PDF; B's PDF is 404 for A."""
    stack = world.stack
    school = stack.schools["b"]
    paid_at = world.payout_clock.now()
    for provider_id, amount, text in (
        (world.a.provider_id, 1100, "Rondleiding A"),
        (world.a.provider_id, 900, "Workshop A"),
        (world.b.provider_id, 4200, "Voorstelling B"),
    ):
        await publish_event(
            stack.amqp_url,
            CardPaymentMade(
                school_id=school.school_id,
                payment_id=uuid.uuid4(),
                person_id=uuid.uuid4(),
                provider_id=uuid.UUID(provider_id),
                amount_cents=amount,
                description=text,
                paid_at=paid_at,
            ),
        )
    world.payout_clock.advance(timedelta(days=4))  # past Thursday 00:00 and its hour's delay

    async def statement_of(user: ProviderUser, text: str) -> dict[str, Any] | None:
        async with stack.client() as client:
            listed = await client.get(
                "/api/v1/provider/statements", headers={"Authorization": f"Bearer {user.key}"}
            )
            assert listed.status_code == 200, listed.text
            for item in listed.json()["items"]:
                one = await client.get(
                    f"/api/v1/provider/statements/{item['statement_id']}",
                    headers={"Authorization": f"Bearer {user.key}"},
                )
                if any(line["description"] == text for line in one.json()["lines"]):
                    return dict(one.json())
        return None

    found: dict[str, Any] = {}

    async def both() -> bool:
        found["a"] = await statement_of(world.a, "Rondleiding A")
        found["b"] = await statement_of(world.b, "Voorstelling B")
        return found["a"] is not None and found["b"] is not None

    assert await eventually(both, 30)
    mine, theirs = found["a"], found["b"]
    assert mine["provider_id"] == world.a.provider_id
    texts = {line["description"] for line in mine["lines"]}
    assert {"Rondleiding A", "Workshop A"} <= texts and "Voorstelling B" not in texts
    assert theirs["total_cents"] == 4200 and theirs["status"] == "open"
    async with provider(world) as client:
        page = await client.get("/aanbieder/uitbetalingen")
        assert page.status_code == 200
        assert mine["number"] in page.text and theirs["number"] not in page.text
        assert 'href="/aanbieder/uitbetalingen"' in page.text  # in the provider menu
        pdf = await client.get(f"/aanbieder/uitbetalingen/{mine['statement_id']}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        other = await client.get(f"/aanbieder/uitbetalingen/{theirs['statement_id']}/pdf")
        assert other.status_code == 404
        paid_only = await client.get("/aanbieder/uitbetalingen?status=betaald")
        assert mine["number"] not in paid_only.text  # nothing paid yet
    async with stack.client() as client:
        key = {"Authorization": f"Bearer {world.a.key}"}
        api_pdf = await client.get(
            f"/api/v1/provider/statements/{mine['statement_id']}/pdf", headers=key
        )
        assert api_pdf.status_code == 200 and api_pdf.content.startswith(b"%PDF")
        for path in ("", "/pdf"):
            refused = await client.get(
                f"/api/v1/provider/statements/{theirs['statement_id']}{path}", headers=key
            )
            assert refused.status_code == 404, path
    async with holder(stack) as client:  # a school user has no provider portal
        assert (await client.get("/aanbieder/uitbetalingen")).status_code == 403


async def test_every_provider_portal_form_reports_every_error_at_once(world: World) -> None:
    """Issue 14 (one round of errors): a blank field and a value beyond the contract's limits
    (or an address that breaks accounts' rule) are reported together, next to their fields,
    with what was typed kept."""
    stack = world.stack
    long_reference, long_city = "R" * 101, "Plaats" * 20
    async with provider(world) as client:
        form = await client.get("/aanbieder/weborders/nieuw")
        csrf = stack.csrf_of(form.text)
        weborder = await client.post(
            "/aanbieder/weborders",
            data=weborder_form(stack, csrf, activiteit="", referentie=long_reference),
        )
        page = await client.get("/aanbieder/aanbod")
        csrf = stack.csrf_of(page.text)
        offering = {"titel": "", "plaats": long_city, "prijs": "12,50", "csrf_token": csrf}
        added = await client.post("/aanbieder/aanbod", data=offering)
    assert weborder.status_code == 422
    assert "Vul de activiteit in." in weborder.text and "Maximaal 100 tekens." in weborder.text
    assert f'value="{long_reference}"' in weborder.text and 'value="24"' in weborder.text
    assert added.status_code == 422
    assert "Vul de titel van het aanbod in." in added.text and "Maximaal 100 tekens." in added.text
    assert f'value="{long_city}"' in added.text and 'value="12,50"' in added.text
    async with admin(stack) as client:
        detail = await client.get(f"/beheer/aanbieders/{world.a.provider_id}")
        csrf = stack.csrf_of(detail.text)
        invite = await client.post(
            f"/beheer/aanbieders/{world.a.provider_id}/gebruikers",
            data={"naam": "", "email": "piet@podium", "csrf_token": csrf},
        )
        too_long = await client.post(
            f"/beheer/aanbieders/{world.a.provider_id}/gebruikers",
            data={"naam": "P" * 201, "email": "geen-adres", "csrf_token": csrf},
        )
    assert invite.status_code == 422
    assert "Vul de naam van de gebruiker in." in invite.text
    assert "met @ en een punt in het domein" in invite.text  # accounts' rule, same round
    assert 'value="piet@podium"' in invite.text
    assert too_long.status_code == 422
    assert "Maximaal 200 tekens." in too_long.text and "Vul een geldig e-mailadres" in too_long.text
    assert f'value="{"P" * 201}"' in too_long.text


# --- Uitbetalingen for the CJP admin (issue 13, capability 4: /beheer/uitbetalingen) -----------
async def _statement_with(stack: Stack, user: ProviderUser, text: str) -> dict[str, Any] | None:
    """The provider's statement (through its API) holding a line with this description."""
    key = {"Authorization": f"Bearer {user.key}"}
    async with stack.client() as client:
        listed = await client.get("/api/v1/provider/statements", headers=key)
        assert listed.status_code == 200, listed.text
        for item in listed.json()["items"]:
            one = await client.get(
                f"/api/v1/provider/statements/{item['statement_id']}", headers=key
            )
            if any(line["description"] == text for line in one.json()["lines"]):
                return dict(one.json())
    return None


def _row_of(page: str, number: str) -> str:
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, re.S)
    return next((row for row in rows if number in row), "")


async def test_admin_lists_filters_reads_downloads_and_marks_statements_paid(
    world: World,
) -> None:
    """Card payments for A and B become statements when invoicing's clock passes a period
    end. The CJP admin lists them at /beheer/uitbetalingen, filters on provider and on paid,
    opens one with its lines, downloads its PDF and marks it paid with the CSRF form (a bad
    date comes back with the message and what was typed); the list and the provider API then
    show it paid. A budget holder and a provider user get 403 on every one of these pages."""
    stack = world.stack
    tag = uuid.uuid4().hex[:6]
    school = stack.schools["a"]
    texts = {"a": f"Concert A {tag}", "b": f"Expositie B {tag}"}
    paid_at = world.payout_clock.now()
    for user, amount, text in (
        (world.a, 1500, texts["a"]),
        (world.a, 500, f"Toegift A {tag}"),
        (world.b, 3300, texts["b"]),
    ):
        await publish_event(
            stack.amqp_url,
            CardPaymentMade(
                school_id=school.school_id,
                payment_id=uuid.uuid4(),
                person_id=uuid.uuid4(),
                provider_id=uuid.UUID(user.provider_id),
                amount_cents=amount,
                description=text,
                paid_at=paid_at,
            ),
        )
    # Invoicing must hold the lines before the clock passes the period end, or they would
    # wait for the period after.
    found: dict[str, Any] = {}

    async def both() -> bool:
        found["a"] = await _statement_with(stack, world.a, texts["a"])
        found["b"] = await _statement_with(stack, world.b, texts["b"])
        return found["a"] is not None and found["b"] is not None

    for _ in range(3):  # a line that came in after a closing lands on the next period's
        world.payout_clock.advance(timedelta(days=4))
        if await eventually(both, 15):
            break
    assert found["a"] and found["b"], found
    mine, theirs = found["a"], found["b"]
    assert mine["provider_id"] == world.a.provider_id and mine["status"] == "open"

    async with admin(stack) as client:
        # The list: both providers' statements, with the provider's name, count and total.
        listed = await client.get("/beheer/uitbetalingen")
        assert listed.status_code == 200, listed.text
        assert 'href="/beheer/uitbetalingen"' in listed.text  # in the admin menu
        row = _row_of(listed.text, mine["number"])
        assert row and "Poppodium Testdam" in row and "Open" in row, listed.text
        assert f"/beheer/uitbetalingen/{mine['statement_id']}" in row
        assert theirs["number"] in listed.text

        # Filters: one provider; paid or open.
        only_a = await client.get(
            "/beheer/uitbetalingen", params={"aanbieder": world.a.provider_id}
        )
        assert only_a.status_code == 200
        assert mine["number"] in only_a.text and theirs["number"] not in only_a.text
        only_b = await client.get(
            "/beheer/uitbetalingen", params={"aanbieder": world.b.provider_id}
        )
        assert theirs["number"] in only_b.text and mine["number"] not in only_b.text
        paid = await client.get("/beheer/uitbetalingen", params={"status": "betaald"})
        assert paid.status_code == 200 and mine["number"] not in paid.text
        still_open = await client.get("/beheer/uitbetalingen", params={"status": "open"})
        assert mine["number"] in still_open.text
        bad = await client.get("/beheer/uitbetalingen", params={"aanbieder": "geen-aanbieder"})
        assert bad.status_code == 422 and "Kies een aanbieder uit de lijst." in bad.text

        # One statement: its lines, total and the form to record the payment.
        page = await client.get(f"/beheer/uitbetalingen/{mine['statement_id']}")
        assert page.status_code == 200, page.text
        assert f"Uitbetalingsoverzicht {mine['number']}" in page.text
        assert texts["a"] in page.text and f"Toegift A {tag}" in page.text
        assert texts["b"] not in page.text and "Poppodium Testdam" in page.text
        assert format_euro(mine["total_cents"]) in page.text
        assert f"/beheer/uitbetalingen/{mine['statement_id']}/betaald" in page.text

        pdf = await client.get(f"/beheer/uitbetalingen/{mine['statement_id']}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        unknown = await client.get(f"/beheer/uitbetalingen/{uuid.uuid4()}")
        assert unknown.status_code == 404

        # Mark paid: a bad date first (the form keeps what was typed), no CSRF token refused.
        action = f"/beheer/uitbetalingen/{mine['statement_id']}/betaald"
        typo = await client.post(
            action,
            data={
                "datum": "31-02-gisteren",
                "kenmerk": f"BANK-{tag}",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert typo.status_code == 422, typo.text
        assert "Vul een datum in als jjjj-mm-dd." in typo.text
        assert 'value="31-02-gisteren"' in typo.text and f'value="BANK-{tag}"' in typo.text
        forged = await client.post(action, data={"datum": mine["period_end"][:10]})
        assert forged.status_code == 403
        still = await client.get(f"/beheer/uitbetalingen/{mine['statement_id']}")
        assert "markeer als betaald" in still.text  # neither attempt changed it
        paid_on = mine["period_end"][:10]  # a day the payout clock has passed
        done = await client.post(
            action,
            data={
                "datum": paid_on,
                "kenmerk": f"BANK-{tag}",
                "csrf_token": stack.csrf_of(still.text),
            },
        )
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"])
        assert "Het uitbetalingsoverzicht is als betaald gemarkeerd." in shown.text
        day = f"{paid_on[8:10]}-{paid_on[5:7]}-{paid_on[:4]}"
        assert f"betaald op {day}" in _row_of(shown.text, mine["number"])
        paid = await client.get("/beheer/uitbetalingen", params={"status": "betaald"})
        assert mine["number"] in paid.text and theirs["number"] not in paid.text
        open_now = await client.get("/beheer/uitbetalingen", params={"status": "open"})
        assert mine["number"] not in open_now.text and theirs["number"] in open_now.text
        detail = await client.get(f"/beheer/uitbetalingen/{mine['statement_id']}")
        assert f"betaald op {day} (BANK-{tag})" in detail.text
        assert "markeer als betaald" not in detail.text
        # Marking it again (a double click, a second admin) changes nothing.
        again = await client.post(
            action,
            data={
                "datum": "2020-01-02",
                "kenmerk": "ANDERS",
                "csrf_token": stack.csrf_of(detail.text),
            },
        )
        assert again.status_code == 303, again.text
        detail = await client.get(f"/beheer/uitbetalingen/{mine['statement_id']}")
        assert f"betaald op {day} (BANK-{tag})" in detail.text and "ANDERS" not in detail.text

    # The provider sees it paid through its API; the other statement stays open.
    async with stack.client() as client:
        key = {"Authorization": f"Bearer {world.a.key}"}
        one = await client.get(f"/api/v1/provider/statements/{mine['statement_id']}", headers=key)
        assert one.json()["status"] == "betaald" and one.json()["paid_on"] == paid_on
        assert one.json()["payment_reference"] == f"BANK-{tag}"
        listed_paid = await client.get("/api/v1/provider/statements?paid=true", headers=key)
        assert mine["statement_id"] in {s["statement_id"] for s in listed_paid.json()["items"]}
        b_key = {"Authorization": f"Bearer {world.b.key}"}
        other = await client.get(
            f"/api/v1/provider/statements/{theirs['statement_id']}", headers=b_key
        )
        assert other.json()["status"] == "open"

    # Neither a budget holder nor a provider user reaches the admin's pages.
    for outsider, home in (
        (holder(stack), "/bestellingen/overzicht"),
        (provider(world, "b"), "/aanbieder"),
    ):
        async with outsider as client:
            csrf = stack.csrf_of((await client.get(home)).text)  # a valid token of this session
            for path in (
                "/beheer/uitbetalingen",
                f"/beheer/uitbetalingen?aanbieder={world.a.provider_id}",
                f"/beheer/uitbetalingen/{theirs['statement_id']}",
                f"/beheer/uitbetalingen/{theirs['statement_id']}/pdf",
            ):
                refused = await client.get(path)
                assert refused.status_code in (403, 404), (path, refused.status_code)
                assert theirs["number"] not in refused.text
            posted = await client.post(
                f"/beheer/uitbetalingen/{theirs['statement_id']}/betaald",
                data={"datum": paid_on, "csrf_token": csrf},
            )
            assert posted.status_code in (403, 404), posted.status_code
    async with stack.client() as client:
        b_key = {"Authorization": f"Bearer {world.b.key}"}
        other = await client.get(
            f"/api/v1/provider/statements/{theirs['statement_id']}", headers=b_key
        )
        assert other.json()["status"] == "open"  # still open after the outsiders' attempts
