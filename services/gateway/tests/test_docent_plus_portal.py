"""Menu Docenten+ and the rights of a Docent+ user (R-ROLE-2, R-ROSTER-7), through the gateway's
pages and JSON API, against the real accounts and roster services over the real broker.

Memberships are made active by publishing the membership service's MembershipActivated events
(the roster's status column and the accounts service's projection both consume them), so this
module does not need the membership service itself. The module has a RabbitMQ virtual host of
its own, like test_roster_portal.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ck_accounts.tables import teacher_memberships
from ck_contracts.membership import EndReason, MembershipActivated, MembershipEnded
from ck_contracts.roles import ROLE_PERMISSIONS, Actor, Permission, Role
from ck_contracts.roster import Ops, RosterKind
from ck_roster.app import build as build_roster
from ck_roster.app import get_settings as roster_settings
from ck_runtime.service import ServiceRuntime
from ck_testkit import clocks, eventually, publish_event
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.rosters import STUDENT_HEADER, TEACHER_HEADER
from openpyxl import Workbook
from sqlalchemy import func, select

Stack = Any  # the `stack` fixture of conftest.py

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCENT_PASSWORD = "een lang docentwachtwoord"
FORBIDDEN = "U heeft geen toegang tot deze gegevens."

# voornaam, achternaam, email, active membership?
TEACHERS: dict[str, tuple[str, str, str, bool]] = {
    "anna": ("Anna", "Aalders", "anna@docent-a.example", True),
    "bram": ("Bram", "Bakker", "bram@docent-a.example", True),
    "cor": ("Cor", "Cornelissen", "", True),  # no e-mail address
    "dewi": ("Dewi", "Dekker", "dewi@docent-a.example", False),  # invited, not active
    "eva": ("Eva", "Evers", "budgethouder-a@school-a.example", True),  # the holder's address
    "fleur": ("Fleur", "Frans", "fleur@docent-a.example", True),
    "gijs": ("Gijs", "Groen", "gijs@docent-a.example", True),
}


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host for this module alone (see the module's docstring)."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-docentplus") as url:
        yield url


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _wait_until_roster_knows(stack: Stack, school: Any) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)
    payload = {"school_id": str(school.school_id), "kind": "teachers"}

    async def known() -> bool:
        return bool((await stack.rpc.call("roster", Ops.LIST.name, payload, actor=actor)).ok)

    assert await eventually(known, 30)


async def _until(check: Any, deadline: float = 20) -> None:
    assert await eventually(check, deadline)


class Teachers:
    """person_id per key, after the upload."""

    def __init__(self, ids: dict[str, uuid.UUID]) -> None:
        self.ids = ids

    def __getitem__(self, key: str) -> uuid.UUID:
        return self.ids[key]


async def _activate(stack: Stack, school_id: uuid.UUID, person_id: uuid.UUID) -> None:
    await publish_event(
        stack.amqp_url,
        MembershipActivated(
            school_id=school_id,
            person_id=person_id,
            kind=RosterKind.TEACHERS,
            card_number=f"CJP{person_id.hex[:8]}",
        ),
    )


@pytest.fixture(scope="module")
async def dstack(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, Teachers]]:
    """The roster service beside accounts, school A's teacher roster uploaded and all but one
    teacher's membership active."""
    data: Path = tmp_path_factory.mktemp("roster")
    settings = roster_settings(
        amqp_url=amqp_url, database_url=f"sqlite+aiosqlite:///{data / 'roster.sqlite3'}"
    )
    runtime = ServiceRuntime(build_roster(settings))
    await runtime.start()
    try:
        a = stack.schools["a"]
        for school in stack.schools.values():
            await _wait_until_roster_knows(stack, school)
        token = await stack.api_token(a.email, a.password)
        rows = [(v, n, e, "", "Hoofdlocatie", "Muziek") for v, n, e, _ in TEACHERS.values()]
        base = f"/api/v1/schools/{a.school_id}/roster/teachers"
        async with stack.client() as client:
            done = await client.post(
                f"{base}/upload",
                headers=bearer(token),
                data={"confirmed": "true"},
                files={"file": ("docenten.xlsx", workbook(TEACHER_HEADER, rows), XLSX)},
            )
            assert done.status_code == 200, done.text
            listed = await client.get(f"{base}/people", headers=bearer(token))
        by_first = {p["voornaam"]: uuid.UUID(p["person_id"]) for p in listed.json()["items"]}
        ids = {key: by_first[t[0]] for key, t in TEACHERS.items()}
        active = [ids[k] for k, t in TEACHERS.items() if t[3]]
        for person_id in active:
            await _activate(stack, a.school_id, person_id)

        async def projected() -> bool:
            async with stack.runtime.db.read() as session:
                query = select(func.count()).select_from(teacher_memberships)
                count = (await session.execute(query.where(teacher_memberships.c.active))).scalar()
            async with stack.client() as client:
                page = await client.get(
                    f"{base}/people", headers=bearer(token), params={"status": "actief"}
                )
            return count == len(active) and page.json()["total"] == len(active)

        await _until(projected)
        yield stack, Teachers(ids)
    finally:
        await runtime.stop()


@asynccontextmanager
async def logged_in(stack: Stack, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        response = await stack.page_login(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def budget_holder(stack: Stack, key: str = "a") -> Any:
    school = stack.schools[key]
    return logged_in(stack, school.email, school.password)


async def press(client: httpx.AsyncClient, stack: Stack, person_id: uuid.UUID, what: str) -> Any:
    """Press "toegang geven" (what="geven") or "toegang intrekken" on the Docenten+ page."""
    page = await client.get("/docenten-plus")
    return await client.post(
        f"/docenten-plus/{person_id}/toegang-{what}", data={"csrf_token": stack.csrf_of(page.text)}
    )


def row_of(html: str, person_id: uuid.UUID) -> str:
    match = re.search(rf'<tr id="docent-{person_id}">(.*?)</tr>', html, re.S)
    assert match, "the teacher is not in the list"
    return match.group(1)


async def set_password_from_mail(stack: Stack, email: str) -> None:
    """The teacher follows the link of the docent_plus_access mail and sets a password."""
    token = await stack.mailbox.link_token(email)
    async with stack.client() as client:
        page = await client.get(f"/wachtwoord-instellen?token={token}")
        assert page.status_code == 200, page.text
        done = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": DOCENT_PASSWORD,
                "password_repeat": DOCENT_PASSWORD,
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert done.status_code == 200, done.text


async def grant_and_activate(stack: Stack, person_id: uuid.UUID, email: str) -> None:
    stack.mailbox._by_recipient.pop(email, None)  # a mail of an earlier grant is used up
    async with budget_holder(stack) as client:
        granted = await press(client, stack, person_id, "geven")
        assert granted.status_code == 303, granted.text
    await set_password_from_mail(stack, email)


# --- the budget holder's page -----------------------------------------------------------------
async def test_the_page_lists_active_teachers_with_their_access(dstack: Any) -> None:
    stack, teachers = dstack
    async with budget_holder(stack) as client:
        page = await client.get("/docenten-plus")
    assert page.status_code == 200
    assert "nog niet beschikbaar" not in page.text
    assert 'href="/docenten-plus" aria-current="page"' in page.text
    for key, (first, _last, _email, active) in TEACHERS.items():
        if active:
            assert "toegang geven" in row_of(page.text, teachers[key])
            assert first in page.text
        else:
            assert f'id="docent-{teachers[key]}"' not in page.text  # only active memberships
    assert "geen e-mailadres" in row_of(page.text, teachers["cor"])


async def test_grant_then_revoke_on_the_page(dstack: Any) -> None:
    stack, teachers = dstack
    anna = teachers["anna"]
    async with budget_holder(stack) as client:
        no_token = await client.post(f"/docenten-plus/{anna}/toegang-geven")
        assert no_token.status_code == 403
        granted = await press(client, stack, anna, "geven")
        assert granted.status_code == 303
        shown = await client.get(granted.headers["location"])
        assert "Docent+-toegang is gegeven." in shown.text
        assert re.search(r"Ja, sinds \d\d-\d\d-\d{4}", row_of(shown.text, anna))
        assert "toegang intrekken" in row_of(shown.text, anna)
        twice = await press(client, stack, anna, "geven")  # a second click changes nothing
        assert twice.status_code == 303

    await set_password_from_mail(stack, "anna@docent-a.example")
    async with stack.client() as docent:
        assert (
            await stack.page_login(docent, "anna@docent-a.example", DOCENT_PASSWORD)
        ).status_code == 303
        home = await docent.get("/")
        assert home.status_code == 200 and "Anna Aalders" in home.text
        api_token = await stack.api_token("anna@docent-a.example", DOCENT_PASSWORD)

        async with budget_holder(stack) as client:
            # "toegang intrekken" links to a page that asks first (issue 14) and changes nothing.
            listing = await client.get("/docenten-plus")
            assert f'href="/docenten-plus/{anna}/toegang-intrekken"' in row_of(listing.text, anna)
            asked = await client.get(f"/docenten-plus/{anna}/toegang-intrekken")
            assert asked.status_code == 200
            assert "Weet u het zeker?" in asked.text
            assert "Anna Aalders verliest de Docent+-toegang" in asked.text
            assert (await docent.get("/")).status_code == 200  # still logged in
            revoked = await press(client, stack, anna, "intrekken")
            assert revoked.status_code == 303
            shown = await client.get(revoked.headers["location"])
            assert "Docent+-toegang is ingetrokken." in shown.text
            assert "toegang geven" in row_of(shown.text, anna)
            again = await press(client, stack, anna, "intrekken")
            assert again.status_code == 404  # already revoked: nothing matched, no success
            assert "Deze docent heeft geen Docent+-toegang." in again.text
            assert "is ingetrokken" not in again.text
            nothing = await client.get(f"/docenten-plus/{anna}/toegang-intrekken")
            assert nothing.status_code == 404
            assert "Weet u het zeker?" not in nothing.text

        # Every session ends at once: the page session and the API token.
        after = await docent.get("/")
        assert after.status_code == 303 and after.headers["location"].startswith("/inloggen")
        async with stack.client() as api:
            me = await api.get("/api/v1/me", headers=bearer(api_token))
        assert me.status_code == 401
        relogin = await stack.page_login(docent, "anna@docent-a.example", DOCENT_PASSWORD)
        assert relogin.status_code != 303


async def test_a_teacher_without_email_gets_a_clear_message(dstack: Any) -> None:
    stack, teachers = dstack
    async with budget_holder(stack) as client:
        response = await press(client, stack, teachers["cor"], "geven")
    assert response.status_code == 422
    assert "Deze docent heeft geen e-mailadres in de docentenlijst" in response.text
    assert "toegang geven" in row_of(response.text, teachers["cor"])


async def test_an_address_of_another_account_and_an_inactive_teacher_are_refused(
    dstack: Any,
) -> None:
    stack, teachers = dstack
    async with budget_holder(stack) as client:
        taken = await press(client, stack, teachers["eva"], "geven")
        inactive = await press(client, stack, teachers["dewi"], "geven")
        unknown = await press(client, stack, uuid.uuid4(), "geven")
    assert taken.status_code == 409
    assert "hoort al bij een ander account" in taken.text
    assert inactive.status_code == 409
    assert "geen actief CJP-lidmaatschap" in inactive.text
    assert unknown.status_code == 404


async def test_removing_the_teacher_from_the_roster_ends_the_access(dstack: Any) -> None:
    """R-ROSTER-7: the roster's PersonRemoved reaches accounts, which ends every session."""
    stack, teachers = dstack
    a = stack.schools["a"]
    await grant_and_activate(stack, teachers["bram"], "bram@docent-a.example")
    token = await stack.api_token("bram@docent-a.example", DOCENT_PASSWORD)
    holder = await stack.api_token(a.email, a.password)
    async with stack.client() as client:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        removed = await client.delete(
            f"/api/v1/schools/{a.school_id}/roster/teachers/people/{teachers['bram']}",
            headers=bearer(holder),
        )
        assert removed.status_code == 204

        async def logged_out() -> bool:
            response = await client.get("/api/v1/me", headers=bearer(token))
            return response.status_code == 401

        await _until(logged_out)
        listed = await client.get("/api/v1/docent-plus", headers=bearer(holder))
    assert str(teachers["bram"]) not in listed.text


async def test_the_end_of_the_membership_ends_the_access(dstack: Any) -> None:
    stack, teachers = dstack
    a = stack.schools["a"]
    await grant_and_activate(stack, teachers["fleur"], "fleur@docent-a.example")
    token = await stack.api_token("fleur@docent-a.example", DOCENT_PASSWORD)
    await publish_event(
        stack.amqp_url,
        MembershipEnded(
            school_id=a.school_id,
            person_id=teachers["fleur"],
            kind=RosterKind.TEACHERS,
            reason=EndReason.ENDED_BY_CJP,
            occurred_at=clocks.now() + timedelta(seconds=1),
        ),
    )
    async with stack.client() as client:

        async def logged_out() -> bool:
            response = await client.get("/api/v1/me", headers=bearer(token))
            return response.status_code == 401

        await _until(logged_out)


# --- the JSON API -----------------------------------------------------------------------------
async def test_api_list_grant_revoke(dstack: Any) -> None:
    stack, teachers = dstack
    a, b = stack.schools["a"], stack.schools["b"]
    holder = bearer(await stack.api_token(a.email, a.password))
    other = bearer(await stack.api_token(b.email, b.password))
    gijs = str(teachers["gijs"])
    async with stack.client() as client:
        granted = await client.post("/api/v1/docent-plus", headers=holder, json={"person_id": gijs})
        assert granted.status_code == 201, granted.text
        assert granted.json()["email"] == "gijs@docent-a.example"
        assert granted.json()["name"] == "Gijs Groen"
        listed = await client.get("/api/v1/docent-plus", headers=holder)
        assert gijs in [i["person_id"] for i in listed.json()["items"]]
        explicit = await client.get(
            "/api/v1/docent-plus", headers=holder, params={"school_id": str(a.school_id)}
        )
        assert explicit.json() == listed.json()

        no_email = await client.post(
            "/api/v1/docent-plus", headers=holder, json={"person_id": str(teachers["cor"])}
        )
        assert no_email.status_code == 422
        assert "email" in no_email.json()["error"]["fields"]
        inactive = await client.post(
            "/api/v1/docent-plus", headers=holder, json={"person_id": str(teachers["dewi"])}
        )
        assert inactive.status_code == 409
        assert "actief CJP-lidmaatschap" in inactive.json()["error"]["message"]

        # Another school's budget holder: not for school A, and A's teacher is not B's.
        cross = [
            await client.get(
                "/api/v1/docent-plus", headers=other, params={"school_id": str(a.school_id)}
            ),
            await client.post(
                "/api/v1/docent-plus",
                headers=other,
                json={"person_id": gijs, "school_id": str(a.school_id)},
            ),
            await client.delete(
                f"/api/v1/docent-plus/{gijs}", headers=other, params={"school_id": str(a.school_id)}
            ),
        ]
        for response in cross:
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"
        not_theirs = await client.post(
            "/api/v1/docent-plus", headers=other, json={"person_id": gijs}
        )
        assert not_theirs.status_code == 404

        revoked = await client.delete(f"/api/v1/docent-plus/{gijs}", headers=holder)
        assert revoked.status_code == 204
        again = await client.delete(f"/api/v1/docent-plus/{gijs}", headers=holder)
        assert again.status_code == 404
        anonymous = await client.get("/api/v1/docent-plus")
        assert anonymous.status_code == 401
        spec = (await client.get("/api/openapi.json")).json()
    assert "/api/v1/docent-plus" in spec["paths"]
    assert "/api/v1/docent-plus/{person_id}" in spec["paths"]


# --- what a Docent+ may and may not do (R-ROLE-2) ---------------------------------------------
def test_the_docent_plus_role_holds_exactly_the_rights_of_r_role_2() -> None:
    assert ROLE_PERMISSIONS[Role.DOCENT_PLUS] == {
        Permission.VIEW_SCHOOL,
        Permission.VIEW_ROSTER,
        Permission.INVITE_MEMBERS,
        Permission.BROWSE_OFFER,
        Permission.REQUEST_OFFER,
        # The Cultuurkaart-dossier: teachers follow their students (R-DOSSIER-1).
        Permission.VIEW_DOSSIER,
        Permission.WRITE_DOSSIER_NOTE,
    }
    docent = Actor(user_id=uuid.uuid4(), role=Role.DOCENT_PLUS, school_id=uuid.uuid4())
    for permission in (
        Permission.ORDER_BUDGET,
        Permission.UPLOAD_ROSTER,
        Permission.APPROVE_WEBORDERS,
        Permission.EDIT_SETTINGS,
        Permission.MANAGE_DOCENT_PLUS,
        Permission.ASSIGN_BUDGET,
    ):
        assert not docent.may(permission, docent.school_id), permission


async def test_a_docent_plus_may_see_students_and_nothing_that_is_the_budget_holders(
    dstack: Any,
) -> None:
    """Each forbidden action answers 403 (not only a hidden menu item), on pages and API."""
    stack, teachers = dstack
    a = stack.schools["a"]
    email = "anna@docent-a.example"
    await grant_and_activate(stack, teachers["anna"], email)
    file = workbook(STUDENT_HEADER, [("S", "T", "", "", "Hoofdlocatie", 1, "Media", "", "")])
    settings = {"name": "Gekaapt", "brin_codes": ["01AB"], "duo_student_count": 1}
    async with logged_in(stack, email, DOCENT_PASSWORD) as docent:
        home = await docent.get("/")
        menu = re.findall(r'<li><a href="([^"]+)"', home.text)
        assert "/beheer-studenten" in menu and "/instellingen" in menu
        assert "/docenten-plus" not in menu and "/producten" not in menu
        assert "/beheer-docenten" not in menu
        students = await docent.get("/beheer-studenten")
        assert students.status_code == 200
        settings_page = await docent.get("/instellingen")
        assert settings_page.status_code == 200
        assert "Opslaan" not in settings_page.text  # read-only
        token = stack.csrf_of(students.text)
        forbidden = {
            "Docenten+": await docent.get("/docenten-plus"),
            "grant": await docent.post(
                f"/docenten-plus/{teachers['gijs']}/toegang-geven", data={"csrf_token": token}
            ),
            "revoke": await docent.post(
                f"/docenten-plus/{teachers['anna']}/toegang-intrekken",
                data={"csrf_token": token},
            ),
            "Producten (budget bestellen)": await docent.get("/producten"),
            "upload studenten": await docent.post(
                "/beheer-studenten/upload",
                data={"csrf_token": token, "bevestigd": "ja"},
                files={"bestand": ("s.xlsx", file, XLSX)},
            ),
            "upload docenten": await docent.post(
                "/beheer-docenten/upload",
                data={"csrf_token": token, "bevestigd": "ja"},
                files={"bestand": ("d.xlsx", file, XLSX)},
            ),
            "Instellingen wijzigen": await docent.post(
                "/instellingen", data={"csrf_token": token, "name": "Gekaapt"}
            ),
        }
    for what, response in forbidden.items():
        assert response.status_code == 403, what
        assert FORBIDDEN in response.text, what

    api_token = bearer(await stack.api_token(email, DOCENT_PASSWORD))
    roster = f"/api/v1/schools/{a.school_id}/roster"
    async with stack.client() as client:
        allowed = await client.get(f"{roster}/students/people", headers=api_token)
        assert allowed.status_code == 200
        api_forbidden = {
            "list Docent+": await client.get("/api/v1/docent-plus", headers=api_token),
            "grant Docent+": await client.post(
                "/api/v1/docent-plus", headers=api_token, json={"person_id": str(uuid.uuid4())}
            ),
            "revoke Docent+": await client.delete(
                f"/api/v1/docent-plus/{teachers['anna']}", headers=api_token
            ),
            "upload": await client.post(
                f"{roster}/students/upload",
                headers=api_token,
                data={"confirmed": "true"},
                files={"file": ("s.xlsx", file, XLSX)},
            ),
            "settings": await client.put(
                f"/api/v1/schools/{a.school_id}/settings", headers=api_token, json=settings
            ),
        }
    for what, response in api_forbidden.items():
        assert response.status_code == 403, what
        assert response.json()["error"]["code"] == "forbidden", what

    # The services say no too, with the gateway's check bypassed.
    me = await stack.rpc.call(
        "accounts", "auth.login", {"email": email, "password": DOCENT_PASSWORD}
    )
    docent_actor = Actor.model_validate(me.result["actor"])
    for service, op, payload in (
        ("accounts", "docent_plus.list", {"school_id": str(a.school_id)}),
        (
            "accounts",
            "docent_plus.grant",
            {
                "school_id": str(a.school_id),
                "person_id": str(teachers["gijs"]),
                "name": "G",
                "email": "g@x.example",
            },
        ),
        ("accounts", "school.update", {"school_id": str(a.school_id), "settings": settings}),
        (
            "roster",
            Ops.UPLOAD.name,
            {
                "school_id": str(a.school_id),
                "kind": "students",
                "filename": "s.xlsx",
                "content_b64": "",
                "confirmed": True,
            },
        ),
    ):
        reply = await stack.rpc.call(service, op, payload, actor=docent_actor)
        assert reply.error is not None and reply.error.code == "forbidden", op


# --- another school's person ids (issue 10: no success message when nothing changed) ---------
async def test_another_schools_person_ids_change_nothing_and_say_so(dstack: Any) -> None:
    """School B's budget holder names school A's teacher: revoking Docent+ and removing the
    person answer 404 on the pages and the API, with no success message, and A's teacher keeps
    the access and the roster entry. A's own student list does not remove a teacher either."""
    stack, teachers = dstack
    a, b = stack.schools["a"], stack.schools["b"]
    gijs = teachers["gijs"]
    holder_a = bearer(await stack.api_token(a.email, a.password))
    async with stack.client() as client:
        listed = await client.get("/api/v1/docent-plus", headers=holder_a)
    if str(gijs) not in [i["person_id"] for i in listed.json()["items"]]:
        await grant_and_activate(stack, gijs, "gijs@docent-a.example")
    docent = bearer(await stack.api_token("gijs@docent-a.example", DOCENT_PASSWORD))

    async with budget_holder(stack, "b") as client:
        revoke = await press(client, stack, gijs, "intrekken")
        teachers_page = await client.get("/beheer-docenten")
        remove = await client.post(
            f"/beheer-docenten/{gijs}/verwijderen",
            data={"csrf_token": stack.csrf_of(teachers_page.text)},
        )
    assert revoke.status_code == 404, revoke.text
    assert "Deze docent heeft geen Docent+-toegang." in revoke.text
    assert "ingetrokken" not in revoke.text
    assert remove.status_code == 404, remove.text
    assert "verwijderd" not in remove.text
    async with budget_holder(stack, "a") as client:
        students_page = await client.get("/beheer-studenten")
        wrong_list = await client.post(
            f"/beheer-studenten/{gijs}/verwijderen",
            data={"csrf_token": stack.csrf_of(students_page.text)},
        )
    assert wrong_list.status_code == 404, wrong_list.text
    assert "verwijderd" not in wrong_list.text

    holder_b = bearer(await stack.api_token(b.email, b.password))
    async with stack.client() as client:
        api_revoke = await client.delete(f"/api/v1/docent-plus/{gijs}", headers=holder_b)
        api_remove = await client.delete(
            f"/api/v1/schools/{b.school_id}/roster/teachers/people/{gijs}", headers=holder_b
        )
        assert api_revoke.status_code == 404 and api_remove.status_code == 404
        # Nothing changed at school A.
        assert (await client.get("/api/v1/me", headers=docent)).status_code == 200
        access = await client.get("/api/v1/docent-plus", headers=holder_a)
        assert str(gijs) in [i["person_id"] for i in access.json()["items"]]
        roster = await client.get(
            f"/api/v1/schools/{a.school_id}/roster/teachers/people", headers=holder_a
        )
        assert str(gijs) in [p["person_id"] for p in roster.json()["items"]]
