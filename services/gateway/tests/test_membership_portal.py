"""Inviting, exporting and activating (R-MEMBER-2..4) through the gateway's pages and JSON API,
against the real accounts, roster and membership services over the real broker.

The module gets a RabbitMQ virtual host of its own (as test_roster_portal.py does): the roster
and membership services learn schools from this module's SchoolRegistered events only.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aio_pika
import httpx
import pytest
from ck_contracts.messaging import event_queue
from ck_contracts.notifier import EmailsRequested
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import Ops
from ck_gateway.app import create_app
from ck_membership import domain
from ck_membership.app import build as build_membership
from ck_membership.settings import get_settings as membership_settings
from ck_roster.app import build as build_roster
from ck_roster.app import get_settings as roster_settings
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.jobs import follow_job
from ck_testkit.rosters import STUDENT_HEADER
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook

Stack = Any  # the `stack` fixture of conftest.py
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ADDRESS_LIMIT = domain.DEFAULT_LIMITS.address
STUDENT_DETAILS = {
    "voornaam": "Sanne",
    "achternaam": "de Boer",
    "email": "sanne@voorbeeld.example",
    "geboortedatum": "2006-05-17",
}


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-membership") as url:
        yield url


async def _wait_until_known(stack: Stack, school: Any, timeout: float = 30) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)
    payload = {"school_id": str(school.school_id), "kind": "students"}
    async with asyncio.timeout(timeout):
        while True:
            reply = await stack.rpc.call("roster", Ops.LIST.name, payload, actor=actor)
            if reply.ok:
                return
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def mstack(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    data: Path = tmp_path_factory.mktemp("membership")
    roster = ServiceRuntime(
        build_roster(
            roster_settings(
                amqp_url=amqp_url, database_url=f"sqlite+aiosqlite:///{data / 'roster.sqlite3'}"
            )
        )
    )
    membership = ServiceRuntime(
        build_membership(
            membership_settings(
                amqp_url=amqp_url,
                database_url=f"sqlite+aiosqlite:///{data / 'membership.sqlite3'}",
                portal_url="http://testserver",
            )
        )
    )
    await roster.start()
    await membership.start()
    try:
        for school in stack.schools.values():
            await _wait_until_known(stack, school)
        await asyncio.sleep(0.5)  # membership consumes the same SchoolRegistered events
        yield stack
    finally:
        await membership.stop()
        await roster.stop()


# --- helpers ----------------------------------------------------------------------------------
def workbook(rows: list[tuple[Any, ...]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(STUDENT_HEADER))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def student(i: int, *, email: bool = True, klas: str = "") -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "voornaam": f"Student{i}",
        "achternaam": f"Achternaam{i:03d}",
        "email": f"student{i}@leerling.example" if email else "",
        "mobiel nummer": "",
        "locatienaam": "Hoofdlocatie",
        "studiejaar": 1 + i % 4,
        "opleiding": "Mediavormgeving",
        "klas": klas or f"MV{2 - i % 2}A",  # odd: MV1A, even: MV2A
        "BRIN": "01AB",
    }
    return tuple(values[h] for h in STUDENT_HEADER)


@asynccontextmanager
async def budget_holder(stack: Stack, key: str) -> AsyncIterator[httpx.AsyncClient]:
    school = stack.schools[key]
    async with stack.client() as client:
        response = await stack.page_login(client, school.email, school.password)
        assert response.status_code == 303, response.text
        yield client


async def upload(client: httpx.AsyncClient, stack: Stack, rows: list[tuple[Any, ...]]) -> None:
    page = await client.get("/beheer-studenten/upload")
    response = await client.post(
        "/beheer-studenten/upload",
        data={"csrf_token": stack.csrf_of(page.text), "bevestigd": "ja"},
        files={"bestand": ("leerlingen.xlsx", workbook(rows), XLSX)},
    )
    done = await follow_job(client, response)  # the job's progress page until it is done
    assert done.status_code == 200, done.text
    assert "De upload is afgerond." in done.text


def person_ids(html: str) -> dict[str, str]:
    """achternaam -> person id, from the invite list's checkboxes."""
    rows = re.findall(
        r'<td>(Achternaam\d+)</td>.*?name="persoon" value="([0-9a-f-]{36})"', html, re.S
    )
    return dict(rows)


def codes(html: str) -> dict[str, str]:
    """achternaam -> activatiecode, from the list."""
    return {
        name: code
        for name, code in re.findall(
            r'<td>(Achternaam\d+)</td>.*?<td class="code">([^<]*)</td>', html, re.S
        )
    }


async def wait_for_codes(
    client: httpx.AsyncClient, names: set[str], path: str = "/beheer-studenten", timeout: float = 20
) -> dict[str, str]:
    async with asyncio.timeout(timeout):
        while True:
            found = codes((await client.get(path)).text)
            if all(found.get(n) for n in names):
                return found
            await asyncio.sleep(0.2)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def public_client(stack: Stack, address: str) -> httpx.AsyncClient:
    """A visitor without a session, from an address of its own (the throttle is per client)."""
    transport = httpx.ASGITransport(app=stack.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def activate_page(
    client: httpx.AsyncClient, stack: Stack, code: str, **changes: str
) -> httpx.Response:
    form = await client.get(f"/activeren?code={code}")
    data = {
        "code": code,
        "voornaam": "Sanne",
        "achternaam": "de Boer",
        "email": "sanne@voorbeeld.example",
        "geboortedatum": "2006-05-17",
        "csrf_token": stack.csrf_of(form.text),
        **changes,
    }
    return await client.post("/activeren", data=data)


# --- invite pages -----------------------------------------------------------------------------
async def test_invite_ticked_people_then_the_filter_then_see_status_and_codes(
    mstack: Stack,
) -> None:
    async with budget_holder(mstack, "a") as client:
        await upload(client, mstack, [student(i, email=i != 3) for i in range(1, 7)])
        listing = await client.get("/beheer-studenten")
        assert 'href="/beheer-studenten/uitnodigen">studenten uitnodigen</a>' in listing.text
        assert "export excel" in listing.text
        assert '<th scope="col">Activatiecode</th>' in listing.text

        page = await client.get("/beheer-studenten/uitnodigen?klas=MV1A")
        assert page.status_code == 200
        assert "verstuur uitnodiging" in page.text
        assert 'name="hele_pagina"' in page.text
        assert "alle 3 personen die aan het filter voldoen" in page.text
        assert '<script src="/static/select-all.js" defer></script>' in page.text
        ids = person_ids(page.text)
        assert set(ids) == {"Achternaam001", "Achternaam003", "Achternaam005"}

        # Nothing ticked: a Dutch message, the filter kept.
        token = mstack.csrf_of(page.text)
        empty = await client.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": token, "keuze": "aangevinkt", "klas": "MV1A"},
        )
        assert empty.status_code == 422
        assert "Vink eerst aan wie een uitnodiging krijgt" in empty.text
        assert 'value="MV1A"' in empty.text

        # Two ticked people.
        sent = await client.post(
            "/beheer-studenten/uitnodigen",
            data={
                "csrf_token": token,
                "keuze": "aangevinkt",
                "klas": "MV1A",
                "persoon": [ids["Achternaam001"], ids["Achternaam003"]],
            },
        )
        assert sent.status_code == 303
        location = sent.headers["location"]
        # Issue 14: the answer is the invitation run's progress page.
        assert re.fullmatch(r"/beheer-studenten/uitnodigingen/[0-9a-f-]{36}", location)
        done = await client.get(location)
        assert "2 uitnodigingen worden verstuurd." in done.text

        found = await wait_for_codes(client, {"Achternaam001", "Achternaam003"})
        assert not found.get("Achternaam002")
        listing = await client.get("/beheer-studenten?status=uitnodiging_verzonden")
        assert "Totaal: <strong>2 studenten</strong>" in listing.text

        # Everyone matching the filter (MV2A: 2, 4, 6), however many pages.
        page = await client.get("/beheer-studenten/uitnodigen?klas=MV2A")
        sent = await client.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": mstack.csrf_of(page.text), "keuze": "filter", "klas": "MV2A"},
        )
        assert (
            "3 uitnodigingen worden verstuurd." in (await client.get(sent.headers["location"])).text
        )
        await wait_for_codes(client, {"Achternaam002", "Achternaam004", "Achternaam006"})


async def test_the_header_box_means_the_whole_page_without_scripts(mstack: Stack) -> None:
    async with budget_holder(mstack, "b") as client:
        await upload(client, mstack, [student(i) for i in range(1, 5)])
        page = await client.get("/beheer-studenten/uitnodigen")
        page_ids = re.findall(r'name="pagina_id" value="([0-9a-f-]{36})"', page.text)
        assert len(page_ids) == 4
        sent = await client.post(
            "/beheer-studenten/uitnodigen",
            data={
                "csrf_token": mstack.csrf_of(page.text),
                "keuze": "aangevinkt",
                "hele_pagina": "ja",
                "pagina_id": page_ids,
            },
        )
        assert sent.status_code == 303
        shown = await client.get(sent.headers["location"])
        assert "4 uitnodigingen worden verstuurd." in shown.text
        # Counts in a link made by anyone else are not shown (no reflected text or numbers).
        unsealed = "/beheer-studenten/uitnodigen?gedaan=uitgenodigd&aantal=5000&al_actief=0"
        assert "uitnodigingen worden verstuurd" not in (await client.get(unsealed)).text
        # Without its CSRF token the form does nothing.
        refused = await client.post("/beheer-studenten/uitnodigen", data={"keuze": "filter"})
        assert refused.status_code == 403


async def test_export_excel_has_the_filter_status_and_codes(mstack: Stack) -> None:
    async with budget_holder(mstack, "a") as client:
        await wait_for_codes(client, {"Achternaam001"})
        response = await client.get("/beheer-studenten/export?klas=MV1A")
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    school = mstack.schools["a"]
    assert re.search(
        rf'attachment; filename="studenten_{school.school_number}_\d{{4}}-\d\d-\d\d\.xlsx"',
        response.headers["content-disposition"],
    )
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][-2:] == ("Status", "Activatiecode")
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"Achternaam001", "Achternaam003", "Achternaam005"}
    assert by_name["Achternaam001"][-2] == "Uitnodiging verzonden"
    assert by_name["Achternaam001"][-1]
    assert by_name["Achternaam001"][5] == 2  # leerjaar: a number


# --- activation -------------------------------------------------------------------------------
async def test_activation_page_keeps_input_and_shows_dutch_errors(mstack: Stack) -> None:
    async with public_client(mstack, "10.1.0.1") as client:
        page = await client.get("/activeren?code=ABCD-EFGH-JKMN")
        assert page.status_code == 200
        assert 'value="ABCD-EFGH-JKMN"' in page.text
        missing = await activate_page(
            client, mstack, "", voornaam="", email="geen-adres", geboortedatum="31-13-2006"
        )
        assert missing.status_code == 422
        assert "Vul de activatiecode in." in missing.text
        assert "Vul je voornaam in." in missing.text
        assert "Vul een geldig e-mailadres in" in missing.text
        assert "Vul je geboortedatum in als dag-maand-jaar" in missing.text
        assert 'value="geen-adres"' in missing.text
        assert 'value="de Boer"' in missing.text
        assert 'value="31-13-2006"' in missing.text

        # One round (issue 14): a malformed code (the service's rule) with the page's own.
        malformed = await activate_page(client, mstack, "ABC", email="geen-adres")
        assert malformed.status_code == 422
        assert "Een activatiecode bestaat uit 12 letters en cijfers" in malformed.text
        assert 'id="e-code"' in malformed.text and 'id="e-email"' in malformed.text
        assert 'value="ABC"' in malformed.text

        wrong = await activate_page(client, mstack, "ABCD-EFGH-JKMN")
        assert wrong.status_code == 422
        assert "Deze activatiecode is onbekend" in wrong.text
        assert 'id="e-code"' in wrong.text  # next to the field
        assert 'value="sanne@voorbeeld.example"' in wrong.text

        no_token = await client.post("/activeren", data={"code": "ABCD-EFGH-JKMN"})
        assert no_token.status_code == 403


async def test_activate_with_a_code_from_the_list_once(mstack: Stack) -> None:
    async with budget_holder(mstack, "a") as client:
        found = await wait_for_codes(client, {"Achternaam003"})  # the one without e-mail
    code = found["Achternaam003"]
    async with public_client(mstack, "10.1.0.2") as client:
        done = await activate_page(client, mstack, code, geboortedatum="17-05-2006")
        assert done.status_code == 200, done.text
        assert "Je CJP is geactiveerd" in done.text
        card = re.search(r'id="kaartnummer">([^<]+)<', done.text)
        assert card and card.group(1).strip()
        assert mstack.schools["a"].name in done.text
        again = await activate_page(client, mstack, code)
        assert again.status_code == 422
        assert "Deze activatiecode is al gebruikt." in again.text
    async with budget_holder(mstack, "a") as client:
        async with asyncio.timeout(20):
            while True:
                listing = await client.get("/beheer-studenten?achternaam=Achternaam003")
                if "Actief lidmaatschap</td>" in listing.text:
                    break
                await asyncio.sleep(0.2)
        # Active members are left alone by a new invitation.
        page = await client.get("/beheer-studenten/uitnodigen?klas=MV1A")
        sent = await client.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": mstack.csrf_of(page.text), "keuze": "filter", "klas": "MV1A"},
        )
        done = await client.get(sent.headers["location"])
        assert "2 uitnodigingen worden verstuurd; 1 persoon heeft al een actief" in done.text


async def test_guessing_is_throttled_with_a_clear_message(mstack: Stack) -> None:
    """One address guessing codes with many prefixes reaches the address's limit; a new
    X-Forwarded-For with every guess changes nothing, as no proxy is trusted here."""
    async with public_client(mstack, "10.1.0.3") as client:
        for i in range(ADDRESS_LIMIT):
            guess = await client.post(
                "/api/v1/activations",
                json={**STUDENT_DETAILS, "code": domain.display_code(domain.new_code())},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            assert guess.status_code == 422, guess.text
        blocked = await activate_page(client, mstack, domain.display_code(domain.new_code()))
    assert blocked.status_code == 429
    assert "Te veel pogingen" in blocked.text
    assert "persoonlijke link uit je uitnodigingsmail" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert 'value="sanne@voorbeeld.example"' in blocked.text
    # Another address is not held up.
    async with public_client(mstack, "10.1.0.4") as client:
        other = await activate_page(client, mstack, domain.display_code(domain.new_code()))
        assert other.status_code == 422


# --- JSON API ---------------------------------------------------------------------------------
async def test_api_invite_export_and_activate(mstack: Stack) -> None:
    a, b = mstack.schools["a"], mstack.schools["b"]
    token_a = await mstack.api_token(a.email, a.password)
    own = f"/api/v1/schools/{a.school_id}/roster/students"
    other = f"/api/v1/schools/{b.school_id}/roster/students"
    async with mstack.client() as client:
        invited = await client.post(
            f"{own}/invitations", headers=bearer(token_a), json={"filter": {"klas": "MV2A"}}
        )
        assert invited.status_code == 202, invited.text
        assert invited.json()["requested"] == 3
        assert invited.json()["skipped_active"] == 0
        nobody = await client.post(f"{own}/invitations", headers=bearer(token_a), json={})
        assert nobody.status_code == 422
        assert "selection" in nobody.json()["error"]["fields"]
        forbidden = [
            await client.post(f"{other}/invitations", headers=bearer(token_a), json={"all": True}),
            await client.get(f"{other}/export", headers=bearer(token_a)),
        ]
        for response in forbidden:
            assert response.status_code == 403
        anonymous = await client.post(f"{own}/invitations", json={"all": True})
        assert anonymous.status_code == 401

        export = await client.get(f"{own}/export?klas=MV2A", headers=bearer(token_a))
        assert export.status_code == 200
        sheet = load_workbook(io.BytesIO(export.content), read_only=True).active
        assert sheet is not None
        rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
        assert len(rows) == 4
        code = str(rows[1][-1])

        bad = await client.post("/api/v1/activations", json={"code": code})
        assert bad.status_code == 422
        wrong = await client.post(
            "/api/v1/activations",
            json={
                "code": "ABCD-EFGH-JKMN",
                "voornaam": "Sam",
                "achternaam": "Jansen",
                "email": "sam@voorbeeld.example",
                "geboortedatum": "2005-01-02",
            },
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["fields"]["code"].startswith("Deze activatiecode")
        ok = await client.post(
            "/api/v1/activations",
            json={
                "code": code,
                "voornaam": "Sam",
                "achternaam": "Jansen",
                "email": "sam@voorbeeld.example",
                "geboortedatum": "2005-01-02",
            },
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["card_number"]
        assert ok.json()["school_name"] == a.name
        assert ok.json()["kind"] == "students"


async def test_the_api_documents_invitations_export_and_activations(mstack: Stack) -> None:
    async with mstack.client() as client:
        spec = (await client.get("/api/openapi.json")).json()
    paths = spec["paths"]
    base = "/api/v1/schools/{school_id}/roster/{kind}"
    invite = paths[base + "/invitations"]["post"]
    assert set(invite["requestBody"]["content"]["application/json"]["examples"]) == {
        "iedereen",
        "aangevinkt",
        "filter",
    }
    assert "202" in invite["responses"]
    assert XLSX in paths[base + "/export"]["get"]["responses"]["200"]["content"]
    activations = paths["/api/v1/activations"]["post"]
    assert "examples" in activations["requestBody"]["content"]["application/json"]
    assert "429" in activations["responses"]
    assert not any(p.startswith("/activeren") or "uitnodigen" in p for p in paths)


# --- throttles through a trusted proxy; the personal link ----------------------------------------
INGRESS = "10.9.0.5"  # the ingress in front of the portal
SCHOOL_NAT = "198.51.100.77"  # the school's one public address


@asynccontextmanager
async def gateway_behind_ingress(stack: Stack) -> AsyncIterator[FastAPI]:
    """A gateway that trusts the ingress (GATEWAY_TRUSTED_PROXIES), with an RPC client of its
    own that waits long enough for a whole class at once on this shared 2-core machine."""
    settings = stack.app.state.settings.model_copy(
        update={"trusted_proxies": "10.9.0.0/16", "rpc_timeout": 60.0}
    )
    app = create_app(settings, RpcClient(stack.amqp_url, timeout=60))
    async with app.router.lifespan_context(app):
        yield app


def behind(app: FastAPI, forwarded_for: str) -> httpx.AsyncClient:
    """A visitor whose requests reach the portal through the ingress."""
    transport = httpx.ASGITransport(app=app, client=(INGRESS, 40000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"X-Forwarded-For": forwarded_for},
    )


async def invitation_links(stack: Stack, emails: set[str], timeout: float = 30) -> dict[str, str]:
    """e-mail -> the personal link of the invitation mail (from the notifier's queue: the
    notifier does not run here)."""
    found: dict[str, str] = {}
    connection = await aio_pika.connect(stack.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(event_queue("notifier", "email"), passive=True)
        async with asyncio.timeout(timeout):
            while not emails <= set(found):
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.2)
                    continue
                body = json.loads(message.body)
                if body.get("type") == EmailsRequested.routing_key:
                    for mail in body["mails"]:
                        found[mail["to"]] = mail["context"]["link"]
    finally:
        await connection.close()
    return found


def mistyped(code: str) -> str:
    """The code with one character after the first group changed."""
    chars = list(code)
    chars[-1] = "0" if chars[-1] != "0" else "1"
    return "".join(chars)


async def test_a_class_behind_one_address_activates_and_a_personal_link_beats_the_throttle(
    mstack: Stack,
) -> None:
    """200 students of one school activate at once, all from the school's one address behind
    the ingress; one in ten first types the code wrong. Then someone at that address guesses
    until it is held up: a typed code waits, the personal links of the mail still work, and
    another address behind the same ingress is not held up."""
    school = mstack.schools["b"]
    token = await mstack.api_token(school.email, school.password)
    own = f"/api/v1/schools/{school.school_id}/roster/students"
    count = 203
    async with budget_holder(mstack, "b") as client:
        await upload(client, mstack, [student(i) for i in range(101, 101 + count)])
        invited = await client.post(f"{own}/invitations", headers=bearer(token), json={"all": True})
        assert invited.status_code == 202, invited.text
        async with asyncio.timeout(30):
            while True:
                export = await client.get(f"{own}/export", headers=bearer(token))
                sheet = load_workbook(io.BytesIO(export.content), read_only=True).active
                assert sheet is not None
                header, *rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
                if len(rows) == count and all(r[-1] for r in rows):
                    break
                await asyncio.sleep(0.3)
    email_at = header.index("E-mail")
    code_of = {str(r[email_at]): str(r[-1]) for r in rows}
    links = await invitation_links(mstack, set(code_of))
    emails = sorted(code_of)
    class_emails, late = emails[:200], emails[200:]

    async with gateway_behind_ingress(mstack) as app, behind(app, SCHOOL_NAT) as school_nat:

        async def activate(email: str, code: str, sleutel: str = "") -> httpx.Response:
            body = {**STUDENT_DETAILS, "email": email, "code": code}
            if sleutel:
                body["sleutel"] = sleutel
            return await school_nat.post("/api/v1/activations", json=body)

        async def pupil(n: int, email: str) -> httpx.Response:
            if n % 10 == 0:
                wrong = await activate(email, mistyped(code_of[email]))
                assert wrong.status_code == 422, wrong.text
            return await activate(email, code_of[email])

        replies = await asyncio.gather(*(pupil(n, e) for n, e in enumerate(class_emails)))
        assert [r.status_code for r in replies] == [200] * 200, [
            r.text for r in replies if r.status_code != 200
        ]
        assert len({r.json()["card_number"] for r in replies}) == 200

        # Someone at the school guesses until the address is held up (20 typos counted).
        for _ in range(ADDRESS_LIMIT - 20):
            guess = await activate("gok@voorbeeld.example", domain.display_code(domain.new_code()))
            assert guess.status_code == 422
        typed = await activate(late[0], code_of[late[0]])
        assert typed.status_code == 429
        # The personal link of the mail: the page keeps its sleutel and activates.
        query = parse_qs(urlsplit(links[late[1]]).query)
        assert query["code"] == [code_of[late[1]]]
        form = await school_nat.get(f"/activeren?{urlsplit(links[late[1]]).query}")
        assert f'name="sleutel" value="{query["sleutel"][0]}"' in form.text
        done = await activate_page(
            school_nat,
            mstack,
            code_of[late[1]],
            email=late[1],
            csrf_token=mstack.csrf_of(form.text),
            sleutel=query["sleutel"][0],
        )
        assert done.status_code == 200, done.text
        assert "Je CJP is geactiveerd" in done.text
        # The API with the sleutel, too; a sleutel of another invitation does not help.
        other_key = parse_qs(urlsplit(links[late[1]]).query)["sleutel"][0]
        assert (await activate(late[2], code_of[late[2]], other_key)).status_code == 429
        own_key = parse_qs(urlsplit(links[late[2]]).query)["sleutel"][0]
        assert (await activate(late[2], code_of[late[2]], own_key)).status_code == 200

    # Another client behind the same ingress is not held up.
    async with gateway_behind_ingress(mstack) as app, behind(app, "198.51.100.78") as home:
        body = {**STUDENT_DETAILS, "email": late[0], "code": code_of[late[0]]}
        assert (await home.post("/api/v1/activations", json=body)).status_code == 200
