"""Beheer studenten/docenten (R-ROSTER-1..7, R-ROLE-1/2) through the gateway's pages and JSON
API, against the real roster and accounts services over the real broker.

The module gets a RabbitMQ virtual host of its own: the roster service learns schools from the
accounts service's SchoolRegistered events, and events of other modules' schools (same school
numbers, other ids) must not reach it.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from ck_accounts.passwords import hash_password
from ck_accounts.tables import users
from ck_contracts.messaging import utcnow
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import Ops
from ck_roster.app import build as build_roster
from ck_roster.app import get_settings as roster_settings
from ck_runtime.service import ServiceRuntime
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.jobs import follow_job
from ck_testkit.rosters import STUDENT_HEADER, TEACHER_HEADER
from openpyxl import Workbook, load_workbook
from sqlalchemy import insert

Stack = Any  # the `stack` fixture of conftest.py

DOCENT_EMAIL = "docent-plus@school-a.example"
DOCENT_PASSWORD = "een lang docentwachtwoord"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host for this module alone (see the module's docstring)."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-roster") as url:
        yield url


async def _wait_until_roster_knows(stack: Stack, school: Any, timeout: float = 30) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)
    payload = {"school_id": str(school.school_id), "kind": "students"}
    async with asyncio.timeout(timeout):
        while True:
            reply = await stack.rpc.call("roster", Ops.LIST.name, payload, actor=actor)
            if reply.ok:
                return
            assert reply.error is not None and reply.error.code == "not_found", reply.error
            await asyncio.sleep(0.2)


async def _add_docent_plus(stack: Stack, school_id: uuid.UUID) -> None:
    """Docent+ accounts are granted in a later part (menu Docenten+); here the user is written
    into the accounts service's own table, as that part will."""
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


@pytest.fixture(scope="module")
async def rstack(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    data: Path = tmp_path_factory.mktemp("roster")
    settings = roster_settings(
        amqp_url=amqp_url, database_url=f"sqlite+aiosqlite:///{data / 'roster.sqlite3'}"
    )
    runtime = ServiceRuntime(build_roster(settings))
    await runtime.start()
    try:
        for school in stack.schools.values():
            await _wait_until_roster_knows(stack, school)
        await _add_docent_plus(stack, stack.schools["a"].school_id)
        yield stack
    finally:
        await runtime.stop()


# --- helpers ----------------------------------------------------------------------------------
def workbook(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def student(i: int, **changes: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "voornaam": f"Student{i}",
        "achternaam": f"Achternaam{i:03d}",
        "email": f"student{i}@leerling.example",
        "mobiel nummer": f"+316{10000000 + i}",
        "locatienaam": "Hoofdlocatie",
        "studiejaar": 1 + i % 4,
        "opleiding": "Mediavormgeving",
        "klas": f"MV{1 + i % 4}A",
        "BRIN": "01AB",
    }
    values.update(changes)
    return tuple(values[h] for h in STUDENT_HEADER)


def students(n: int) -> list[tuple[Any, ...]]:
    return [student(i) for i in range(1, n + 1)]


@asynccontextmanager
async def logged_in(stack: Stack, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        response = await stack.page_login(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def budget_holder(stack: Stack, key: str = "a") -> Any:
    school = stack.schools[key]
    return logged_in(stack, school.email, school.password)


async def post_file(
    client: httpx.AsyncClient,
    stack: Stack,
    path: str,
    content: bytes,
    *,
    form_page: str,
    confirmed: bool = False,
    filename: str = "leerlingen.xlsx",
) -> httpx.Response:
    page = await client.get(form_page)
    data = {"csrf_token": stack.csrf_of(page.text)}
    if confirmed:
        data["bevestigd"] = "ja"
    posted = await client.post(path, data=data, files={"bestand": (filename, content, XLSX)})
    return await follow_job(client, posted)  # the job's progress page until it is done


async def upload(
    client: httpx.AsyncClient, stack: Stack, content: bytes, base: str = "/beheer-studenten"
) -> httpx.Response:
    return await post_file(
        client, stack, f"{base}/upload", content, form_page=f"{base}/upload", confirmed=True
    )


def total_of(html: str) -> int:
    match = re.search(r"Totaal: <strong>(\d+) ", html)
    assert match, "the list shows no total"
    return int(match.group(1))


def surnames(html: str) -> list[str]:
    return re.findall(r"<td>(Achternaam\d+)</td>", html)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- pages ------------------------------------------------------------------------------------
async def test_empty_lists_with_the_buttons_of_the_manual(rstack: Stack) -> None:
    async with budget_holder(rstack, "b") as client:
        studenten = await client.get("/beheer-studenten")
        docenten = await client.get("/beheer-docenten")
    assert studenten.status_code == 200
    assert "nog niet beschikbaar" not in studenten.text
    for label in ("validatietool", "upload bestand", "student toevoegen", "Totaal: <strong>0"):
        assert label in studenten.text
    for header in ("Voornaam", "Achternaam", "E-mail", "Mobiel", "BRIN", "Leerjaar", "Klas"):
        assert f">{header}</a>" in studenten.text
    for status in ("Nieuw", "Uitnodiging verzonden", "Actief lidmaatschap"):
        assert status in studenten.text
    assert 'aria-current="page"' in studenten.text
    assert docenten.status_code == 200
    assert ">Afdeling</a>" in docenten.text and ">Locatie</a>" in docenten.text
    assert ">Leerjaar</a>" not in docenten.text
    assert "docent toevoegen" in docenten.text


async def test_template_download_is_the_xlsx_as_an_attachment(rstack: Stack) -> None:
    async with budget_holder(rstack) as client:
        tool = await client.get("/beheer-studenten/validatietool")
        leerlingen = await client.get("/beheer-studenten/template")
        docenten = await client.get("/beheer-docenten/template")
    assert tool.status_code == 200
    assert "download template" in tool.text and "valideer bestand" in tool.text
    assert leerlingen.status_code == 200
    assert leerlingen.headers["content-type"] == XLSX
    assert 'filename="template_leerlingen.xlsx"' in leerlingen.headers["content-disposition"]
    assert leerlingen.headers["content-disposition"].startswith("attachment")
    assert 'filename="template_docenten.xlsx"' in docenten.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(leerlingen.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:2] == ["voornaam", "achternaam"]


async def test_validation_red_lists_every_error_and_green_counts(rstack: Stack) -> None:
    bad = workbook(
        STUDENT_HEADER,
        [
            student(1, **{"mobiel nummer": "0612345678"}),
            student(2, studiejaar=9),
            student(3, email="student1@leerling.example"),
        ],
    )
    good = workbook(STUDENT_HEADER, students(3))
    tool = "/beheer-studenten/validatietool"
    async with budget_holder(rstack) as client:
        red = await post_file(client, rstack, tool, bad, form_page=tool)
        green = await post_file(client, rstack, tool, good, form_page=tool)
        nothing = await post_file(client, rstack, tool, b"", form_page=tool)
        listing = await client.get("/beheer-studenten")
    assert red.status_code == 200  # the job's page, showing its red report
    assert "alert-error" in red.text
    rows = re.findall(r'<tr><td class="number">(\d+)</td><td>([^<]*)</td><td>', red.text)
    assert ("2", "mobiel nummer") in rows
    assert ("3", "studiejaar") in rows
    assert any(row == "4" and column == "email" for row, column in rows)
    assert green.status_code == 200
    assert "alert-ok" in green.text
    assert "3 leerling(en) gevalideerd!" in green.text
    assert nothing.status_code == 422
    assert "Kies een .xls- of .xlsx-bestand." in nothing.text
    assert total_of(listing.text) == 0  # validating stores nothing


async def test_upload_needs_the_confirmation_and_never_applies_a_bad_file(
    rstack: Stack,
) -> None:
    async with budget_holder(rstack) as client:
        form = await client.get("/beheer-studenten/upload")
        unconfirmed = await post_file(
            client,
            rstack,
            "/beheer-studenten/upload",
            workbook(STUDENT_HEADER, students(2)),
            form_page="/beheer-studenten/upload",
        )
        bad = await upload(
            client, rstack, workbook(STUDENT_HEADER, [student(1, studiejaar=7), student(2)])
        )
        listing = await client.get("/beheer-studenten")
    assert "Het bestand bevat alle leerlingen die recht hebben op een CJP-lidmaatschap." in (
        form.text
    )
    assert ">afronden</button>" in form.text and "af afronden" not in form.text  # issue 14
    assert unconfirmed.status_code == 422
    assert "Er is niets gewijzigd." in unconfirmed.text
    assert bad.status_code == 200  # the job's page: failed, with its red report
    assert "alert-error" in bad.text and "studiejaar" in bad.text
    assert "De upload is afgerond." not in bad.text
    assert total_of(listing.text) == 0


async def test_upload_then_filter_sort_page_add_and_remove(rstack: Stack) -> None:
    async with budget_holder(rstack) as client:
        done = await upload(client, rstack, workbook(STUDENT_HEADER, students(60)))
        assert done.status_code == 200, done.text
        assert "De upload is afgerond." in done.text
        assert re.search(r'id="toegevoegd">60<', done.text)
        assert re.search(r'id="totaal">60<', done.text)

        first = await client.get("/beheer-studenten")
        assert total_of(first.text) == 60
        assert len(surnames(first.text)) == 50  # page size 50
        assert surnames(first.text)[0] == "Achternaam001"
        assert "Pagina 1 van 2" in first.text
        next_link = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert next_link
        second = await client.get(next_link.group(1).replace("&amp;", "&"))
        assert len(surnames(second.text)) == 10

        descending = await client.get("/beheer-studenten?sort=achternaam&richting=aflopend")
        assert surnames(descending.text)[0] == "Achternaam060"
        assert "Sorteer achternaam oplopend" in descending.text

        filtered = await client.get("/beheer-studenten?achternaam=achternaam05&status=nieuw")
        assert total_of(filtered.text) == 10
        assert set(surnames(filtered.text)) == {f"Achternaam05{i}" for i in range(10)}
        assert 'value="achternaam05"' in filtered.text
        none_active = await client.get("/beheer-studenten?status=actief")
        assert total_of(none_active.text) == 0
        bad_year = await client.get("/beheer-studenten?studiejaar=twee")
        assert "Vul bij leerjaar een heel getal in." in bad_year.text

        # A bad e-mail: the form comes back with the message and everything typed.
        page = await client.get("/beheer-studenten")
        form = {
            "csrf_token": rstack.csrf_of(page.text),
            "voornaam": "Nadia",
            "achternaam": "Toegevoegd",
            "email": "nadia-at-nergens",
            "mobiel": "+31687654321",
            "locatienaam": "Hoofdlocatie",
            "studiejaar": "2",
            "opleiding": "Mediavormgeving",
            "klas": "MV2A",
        }
        refused = await client.post("/beheer-studenten", data=form)
        assert refused.status_code == 422
        assert 'aria-invalid="true" aria-describedby="e-email"' in refused.text
        assert 'value="nadia-at-nergens"' in refused.text
        assert 'value="Toegevoegd"' in refused.text
        assert total_of(refused.text) == 60

        # One round of errors (issue 14): a blank required field, a studiejaar that is no
        # number, a bad e-mail and a bad mobiel number are all reported at once, each next to
        # its field, and nothing typed is lost.
        page = await client.get("/beheer-studenten")
        everything = {
            **form,
            "csrf_token": rstack.csrf_of(page.text),
            "achternaam": "",
            "studiejaar": "twee",
            "mobiel": "0612345678",
        }
        all_at_once = await client.post("/beheer-studenten", data=everything)
        assert all_at_once.status_code == 422
        for name in ("achternaam", "studiejaar", "email", "mobiel"):
            assert f'aria-invalid="true" aria-describedby="e-{name}"' in all_at_once.text, name
        assert "Beginnend met 06 is dus fout" in all_at_once.text
        assert 'value="nadia-at-nergens"' in all_at_once.text
        assert 'value="twee"' in all_at_once.text and 'value="0612345678"' in all_at_once.text
        assert total_of(all_at_once.text) == 60

        added = await client.post(
            "/beheer-studenten", data={**form, "email": "nadia@leerling.example"}
        )
        assert added.status_code == 303
        shown = await client.get(added.headers["location"])
        assert "De student is toegevoegd." in shown.text
        assert total_of(shown.text) == 61

        # "verwijderen" is a link to a page that asks first (issue 14): following it changes
        # nothing; the confirmation's form (POST with its CSRF token) removes.
        one = await client.get("/beheer-studenten?achternaam=Achternaam007")
        link = re.search(r'href="(/beheer-studenten/[0-9a-f-]+/verwijderen)"', one.text)
        assert link
        asked = await client.get(link.group(1))
        assert asked.status_code == 200
        assert "Weet u het zeker?" in asked.text
        assert "Achternaam007 wordt verwijderd uit Beheer studenten." in asked.text
        assert "lidmaatschap" not in asked.text  # not active: no membership ends
        assert f'action="{link.group(1)}"' in asked.text
        still = await client.get("/beheer-studenten?achternaam=Achternaam007")
        assert total_of(still.text) == 1
        missing_token = await client.post(link.group(1))
        assert missing_token.status_code == 403
        removed = await client.post(link.group(1), data={"csrf_token": rstack.csrf_of(asked.text)})
        assert removed.status_code == 303
        after = await client.get(removed.headers["location"])
        assert "De student is verwijderd." in after.text
        assert total_of(after.text) == 60
        gone = await client.get("/beheer-studenten?achternaam=Achternaam007")
        assert total_of(gone.text) == 0

        # A second upload replaces the whole roster: kept, added, removed.
        again = await upload(client, rstack, workbook(STUDENT_HEADER, students(55)))
        assert re.search(r'id="behouden">54<', again.text)  # 1..55 minus the removed 7
        assert re.search(r'id="toegevoegd">1<', again.text)
        assert re.search(r'id="verwijderd">6<', again.text)  # 56..60 and Nadia


async def test_docent_plus_sees_the_list_read_only(rstack: Stack) -> None:
    async with logged_in(rstack, DOCENT_EMAIL, DOCENT_PASSWORD) as client:
        listing = await client.get("/beheer-studenten")
        tool = await client.get("/beheer-studenten/validatietool")
        upload_form = await client.get("/beheer-studenten/upload")
        template = await client.get("/beheer-studenten/template")
        token = rstack.csrf_of(listing.text)
        posted = await client.post(
            "/beheer-studenten/upload",
            data={"csrf_token": token, "bevestigd": "ja"},
            files={"bestand": ("x.xlsx", workbook(STUDENT_HEADER, students(1)), XLSX)},
        )
        add = await client.post(
            "/beheer-studenten", data={"csrf_token": token, "voornaam": "X", "achternaam": "Y"}
        )
        remove = await client.post(
            f"/beheer-studenten/{uuid.uuid4()}/verwijderen", data={"csrf_token": token}
        )
        ask_remove = await client.get(f"/beheer-studenten/{uuid.uuid4()}/verwijderen")
    assert listing.status_code == 200
    assert "alleen de budgethouder" in listing.text
    for absent in ("upload bestand", "student toevoegen", "/verwijderen"):
        assert absent not in listing.text
    for response in (tool, upload_form, template, posted, add, remove, ask_remove):
        assert response.status_code == 403
        assert "U heeft geen toegang tot deze gegevens." in response.text


async def test_upload_bodies_get_the_larger_limit_only_on_upload_routes(rstack: Stack) -> None:
    async with budget_holder(rstack, "b") as client:
        tool = await client.get("/beheer-studenten/validatietool")
        token = rstack.csrf_of(tool.text)
        # 2 MB is over the general 1 MB limit but fine for a roster file: the service reads it.
        not_a_sheet = await follow_job(
            client,
            await client.post(
                "/beheer-studenten/validatietool",
                data={"csrf_token": token},
                files={"bestand": ("groot.xlsx", b"x" * (2 * 1024 * 1024), XLSX)},
            ),
        )
        too_big = await client.post(
            "/beheer-studenten/validatietool",
            data={"csrf_token": token},
            files={"bestand": ("te-groot.xlsx", b"x" * (13 * 1024 * 1024), XLSX)},
        )
        settings = await client.post("/instellingen", data={"name": "x" * (2 * 1024 * 1024)})
    assert not_a_sheet.status_code == 200  # the job's page, with the red report
    assert "alert-error" in not_a_sheet.text
    assert too_big.status_code == 413
    assert "maximaal 12 MB" in too_big.text
    assert settings.status_code == 413
    assert "maximaal 1 MB" in settings.text


# --- JSON API ---------------------------------------------------------------------------------
async def test_api_template_validate_upload_list_add_remove(rstack: Stack) -> None:
    b = rstack.schools["b"]
    token = await rstack.api_token(b.email, b.password)
    base = f"/api/v1/schools/{b.school_id}/roster/teachers"
    teachers = [
        ("Tom", "Docent1", "tom@school-b.example", "", "Enschede", "Muziek"),
        ("Tara", "Docent2", "", "+31611111111", "Enschede", "Dans"),
        ("Timo", "Docent3", "timo@school-b.example", "", "Hengelo", "Muziek"),
    ]
    good = workbook(TEACHER_HEADER, teachers)
    bad = workbook(TEACHER_HEADER, [*teachers, ("", "Zonder voornaam", "", "0611", "X", "")])
    async with rstack.client() as client:
        headers = bearer(token)
        template = await client.get(f"{base}/template", headers=headers)
        assert template.status_code == 200
        assert 'filename="template_docenten.xlsx"' in template.headers["content-disposition"]

        green = await client.post(
            f"{base}/validate", headers=headers, files={"file": ("d.xlsx", good, XLSX)}
        )
        assert green.status_code == 200
        assert green.json()["ok"] is True and green.json()["count"] == 3
        assert green.json()["reason"] == "roster.file.valid_teachers"
        assert green.json()["message"] == "3 docent(en) gevalideerd!"
        red = await client.post(
            f"{base}/validate", headers=headers, files={"file": ("d.xlsx", bad, XLSX)}
        )
        assert red.status_code == 200
        report = red.json()
        assert report["ok"] is False
        assert all(e["reason"].startswith("roster.") and e["message"] for e in report["errors"])
        assert {(e["row"], e["column"]) for e in report["errors"]} >= {
            (5, "voornaam"),
            (5, "mobiel nummer"),
        }

        unconfirmed = await client.post(
            f"{base}/upload", headers=headers, files={"file": ("d.xlsx", good, XLSX)}
        )
        assert unconfirmed.status_code == 422
        assert "confirmed" in unconfirmed.json()["error"]["fields"]
        refused = await client.post(
            f"{base}/upload",
            headers=headers,
            data={"confirmed": "true"},
            files={"file": ("d.xlsx", bad, XLSX)},
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "roster.file.has_errors"
        assert refused.json()["error"]["message"].startswith("Het bestand bevat ")
        assert any(key.startswith("rij 5") for key in refused.json()["error"]["fields"])
        codes = refused.json()["error"]["field_codes"]
        assert {c["code"] for key, c in codes.items() if key.startswith("rij 5")} >= {
            "roster.cell.required",
            "roster.cell.mobiel_06",
        }
        done = await client.post(
            f"{base}/upload",
            headers=headers,
            data={"confirmed": "true"},
            files={"file": ("d.xlsx", good, XLSX)},
        )
        assert done.status_code == 200, done.text
        assert done.json()["added"] == 3 and done.json()["total"] == 3

        muziek = await client.get(
            f"{base}/people",
            headers=headers,
            params={"afdeling": "muz", "sort": "voornaam", "descending": "true"},
        )
        assert muziek.status_code == 200
        body = muziek.json()
        assert body["total"] == 2
        assert [p["voornaam"] for p in body["items"]] == ["Tom", "Timo"]
        assert all(p["status"] == "nieuw" for p in body["items"])
        paged = await client.get(f"{base}/people", headers=headers, params={"page_size": 1})
        assert paged.json()["total"] == 3 and len(paged.json()["items"]) == 1

        bad_add = await client.post(
            f"{base}/people",
            headers=headers,
            json={"voornaam": "Bo", "achternaam": "Fout", "email": "bo@", "locatienaam": "X"},
        )
        assert bad_add.status_code == 422
        assert bad_add.json()["error"]["fields"]
        added = await client.post(
            f"{base}/people",
            headers=headers,
            json={"voornaam": "Bo", "achternaam": "Goed", "locatienaam": "Enschede"},
        )
        assert added.status_code == 201
        person_id = added.json()["person_id"]
        removed = await client.delete(f"{base}/people/{person_id}", headers=headers)
        assert removed.status_code == 204
        again = await client.delete(f"{base}/people/{person_id}", headers=headers)
        assert again.status_code == 404
        after = await client.get(f"{base}/people", headers=headers)
        assert after.json()["total"] == 3


async def test_api_roles_and_tenants(rstack: Stack) -> None:
    a, b = rstack.schools["a"], rstack.schools["b"]
    token_a = await rstack.api_token(a.email, a.password)
    token_docent = await rstack.api_token(DOCENT_EMAIL, DOCENT_PASSWORD)
    file = {"file": ("x.xlsx", workbook(STUDENT_HEADER, students(1)), XLSX)}
    other = f"/api/v1/schools/{b.school_id}/roster/students"
    own = f"/api/v1/schools/{a.school_id}/roster/students"
    async with rstack.client() as client:
        forbidden = [
            await client.get(f"{other}/people", headers=bearer(token_a)),
            await client.get(f"{other}/template", headers=bearer(token_a)),
            await client.post(f"{other}/validate", headers=bearer(token_a), files=file),
            await client.delete(f"{other}/people/{uuid.uuid4()}", headers=bearer(token_a)),
            await client.post(
                f"{own}/upload",
                headers=bearer(token_docent),
                data={"confirmed": "true"},
                files=file,
            ),
            await client.post(
                f"{own}/people", headers=bearer(token_docent), json={"voornaam": "X"}
            ),
        ]
        docent_list = await client.get(f"{own}/people", headers=bearer(token_docent))
        anonymous = await client.get(f"{own}/people")
        wrong_kind = await client.get(
            f"/api/v1/schools/{a.school_id}/roster/ouders/people", headers=bearer(token_a)
        )
    for response in forbidden:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    assert docent_list.status_code == 200
    assert anonymous.status_code == 401
    assert wrong_kind.status_code == 422


async def test_the_roster_service_also_refuses_another_school(rstack: Stack) -> None:
    """Defence in depth: with the gateway's check bypassed, roster still says no."""
    a, b = rstack.schools["a"], rstack.schools["b"]
    actor_a = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=a.school_id)
    reply = await rstack.rpc.call(
        "roster", Ops.LIST.name, {"school_id": str(b.school_id), "kind": "students"}, actor=actor_a
    )
    assert not reply.ok
    assert reply.error is not None and reply.error.code == "forbidden"


async def test_the_api_documents_the_roster_routes_with_examples(rstack: Stack) -> None:
    async with rstack.client() as client:
        spec = (await client.get("/api/openapi.json")).json()
    paths = spec["paths"]
    base = "/api/v1/schools/{school_id}/roster/{kind}"
    for path in ("/template", "/validate", "/upload", "/people", "/people/{person_id}"):
        assert base + path in paths
    validate = paths[base + "/validate"]["post"]
    assert "examples" in validate["responses"]["200"]["content"]["application/json"]
    assert "multipart/form-data" in validate["requestBody"]["content"]
