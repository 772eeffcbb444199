"""Inviting and activating through every process (R-MEMBER-1..5, R-ROSTER-7, manual 3.3/3.4).

A budget holder uploads a student roster and invites everyone through the portal; a student
reads the invitation mail from the SMTP sink, follows its link and activates; the list shows
Actief lidmaatschap and the codes. The alternative process: students without an e-mail get a
code only, the school exports the list to Excel and hands the code out, the student activates
on /activeren. A used code and a code of a removed person are refused in Dutch.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from ck_testkit.browser import CHROMIUM
from ck_testkit.jobs import follow_job_sync
from ck_testkit.portal import Portal, csrf_from, mail_text
from ck_testkit.rosters import STUDENT_HEADER
from openpyxl import Workbook, load_workbook

T = TypeVar("T")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOLDER = "lotte@lumen.test"
PASSWORD = "een lang wachtwoord voor Lumen"


def eventually(probe: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (found := probe()) is not None:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


def path_of(link: str) -> str:
    """A link from a mail, on this test's portal (the service may know another host name)."""
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def roster_file() -> bytes:
    """Three students with an e-mail address, three anonymous ones (manual 3.4)."""
    rows: list[dict[str, Any]] = [
        {"voornaam": f"Student{i}", "achternaam": f"Lumen{i}", "email": f"student{i}@lumen.test"}
        for i in (1, 2, 3)
    ] + [
        {"voornaam": f"Leerling {i}", "achternaam": f"achternaam{i}", "email": ""}
        for i in (4, 5, 6)
    ]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(STUDENT_HEADER))
    for row in rows:
        values = {
            "mobiel nummer": "",
            "locatienaam": "MBO",
            "studiejaar": 1,
            "opleiding": "media",
            "klas": "",
            "BRIN": "",
            **row,
        }
        sheet.append([values[h] for h in STUDENT_HEADER])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def log_in(http: httpx.Client) -> None:
    page = http.get("/inloggen")
    done = http.post(
        "/inloggen",
        data={"email": HOLDER, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303, done.text


def school_with_budget_holder(portal: Portal) -> dict[str, Any]:
    school = portal.register_school("Lumen College", HOLDER)
    welcome = portal.wait_for_mail(HOLDER)
    found = re.search(r"https?://\S+/wachtwoord-instellen\?token=[\w-]+", mail_text(welcome))
    assert found
    with portal.client() as http:
        page = http.get(path_of(found.group(0)))
        token = found.group(0).split("token=")[1]
        done = http.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200, done.text
    return school


def upload_roster(http: httpx.Client) -> None:
    def attempt() -> httpx.Response | None:
        page = http.get("/beheer-studenten/upload")
        response = http.post(
            "/beheer-studenten/upload",
            data={"csrf_token": csrf_from(page.text), "bevestigd": "ja"},
            files={"bestand": ("leerlingen.xlsx", roster_file(), XLSX)},
        )
        # The roster service learns of the new school from an event: it may take a moment.
        return None if response.status_code == 404 else response

    response = eventually(attempt, what="the roster service knows the school")
    done = follow_job_sync(http, response)  # the job's progress page until it is done
    assert done.status_code == 200, done.text
    assert "De upload is afgerond." in done.text


def row_of(html: str, achternaam: str) -> str:
    # The row whose achternaam cell is this one (voornaam links to the dossier).
    match = re.search(rf"<tr>(?:(?!</tr>).)*?<td>{achternaam}</td>.*?</tr>", html, re.S)
    assert match, f"{achternaam} is not in the list"
    return match.group(0)


def code_in_list(html: str, achternaam: str) -> str:
    found = re.search(r'<td class="code">([^<]*)</td>', row_of(html, achternaam))
    assert found
    return found.group(1).strip()


def activate(http: httpx.Client, code: str, email: str, path: str = "/activeren") -> httpx.Response:
    page = http.get(path)
    assert page.status_code == 200
    # The personal link's sleutel, kept in a hidden field, goes along as a browser sends it.
    sleutel = re.search(r'name="sleutel" value="([^"]+)"', page.text)
    return http.post(
        "/activeren",
        data={
            "code": code,
            "voornaam": "Sanne",
            "achternaam": "de Vries",
            "email": email,
            "geboortedatum": "17-05-2006",
            "csrf_token": csrf_from(page.text),
            **({"sleutel": sleutel.group(1)} if sleutel else {}),
        },
    )


def card_number(html: str) -> str:
    found = re.search(r'id="kaartnummer">([^<]+)<', html)
    assert found, "no card number on the page"
    return found.group(1).strip()


def handled_count(log: Path, event_type: str) -> int:
    if not log.exists():
        return 0
    return sum(
        1
        for line in log.read_text().splitlines()
        if '"event.handled"' in line and event_type in line
    )


def test_invite_mail_link_activation_export_and_revocation(portal: Portal) -> None:
    school_with_budget_holder(portal)
    with portal.client() as http:
        log_in(http)
        upload_roster(http)

        # Stap 1 and 2 of the manual: select everyone, "verstuur uitnodiging".
        page = http.get("/beheer-studenten/uitnodigen")
        assert "alle 6 studenten" in page.text
        sent = http.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": csrf_from(page.text), "keuze": "filter"},
        )
        assert sent.status_code == 303, sent.text
        assert "6 uitnodigingen worden verstuurd." in http.get(sent.headers["location"]).text

        # The invitation mail, in Dutch with the school's name and a personal link.
        mail = portal.wait_for_mail("student1@lumen.test")
        text = mail_text(mail)
        assert "Lumen College" in str(mail["Subject"]) + text
        assert "Beste Student1" in text
        link = re.search(r"https?://\S+/activeren\?code=[\w%-]+&sleutel=[\w-]{22}", text)
        assert link, "the invitation has no personal activation link"

        # Everyone is now "Uitnodiging verzonden", with a code in the list.
        def all_invited() -> str | None:
            html = http.get("/beheer-studenten").text
            return html if html.count("Uitnodiging verzonden</td>") == 6 else None

        listing = eventually(all_invited, what="every status is Uitnodiging verzonden")
        assert code_in_list(listing, "Lumen1")

    # The student follows the link: the code is filled in, they add their own details.
    with portal.client() as student:
        form = student.get(path_of(link.group(0)))
        assert form.status_code == 200
        code = re.search(r'name="code" type="text" value="([^"]+)"', form.text)
        assert code and code.group(1)
        assert 'name="sleutel" value="' in form.text
        done = activate(student, code.group(1), "sanne.prive@lumen.test", path_of(link.group(0)))
        assert done.status_code == 200, done.text
        assert "Je CJP is geactiveerd" in done.text
        number = card_number(done.text)
    confirmed = portal.wait_for_mail("sanne.prive@lumen.test")
    assert number in mail_text(confirmed)
    assert "Lumen College" in mail_text(confirmed)

    with portal.client() as http:
        log_in(http)

        def active() -> str | None:
            html = http.get("/beheer-studenten?achternaam=Lumen1").text
            return html if "Actief lidmaatschap</td>" in row_of(html, "Lumen1") else None

        listing = eventually(active, what="Lumen1 shows Actief lidmaatschap")
        assert code_in_list(listing, "Lumen1") == code.group(1)

        # The alternative process: no e-mail, so the school exports the codes.
        export = http.get("/beheer-studenten/export")
        assert export.status_code == 200
        assert re.search(
            r'filename="studenten_\d+_\d{4}-\d\d-\d\d\.xlsx"', export.headers["content-disposition"]
        )
        sheet = load_workbook(io.BytesIO(export.content), read_only=True).active
        assert sheet is not None
        rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
        header = rows[0]
        by_name = {r[header.index("Achternaam")]: r for r in rows[1:]}
        anonymous_code = str(by_name["achternaam4"][header.index("Activatiecode")])
        removed_code = str(by_name["achternaam5"][header.index("Activatiecode")])
        assert by_name["achternaam4"][header.index("Status")] == "Uitnodiging verzonden"
        assert by_name["Lumen1"][header.index("Status")] == "Actief lidmaatschap"

    with portal.client() as student:
        done = activate(student, anonymous_code, "leerling4@prive.test")
        assert done.status_code == 200, done.text
        assert card_number(done.text)
        used = activate(student, anonymous_code, "leerling4@prive.test")
        assert used.status_code == 422
        assert "Deze activatiecode is al gebruikt." in used.text

    # Removing a person revokes their code (R-ROSTER-7).
    membership_log = portal.stack.log_dir / "membership.log"
    before = handled_count(membership_log, "roster.person.removed")
    with portal.client() as http:
        log_in(http)
        listing = http.get("/beheer-studenten?achternaam=achternaam5")
        person = re.search(
            r'href="/beheer-studenten/([0-9a-f-]{36})/verwijderen"',
            row_of(listing.text, "achternaam5"),
        )
        assert person
        removed = http.post(
            f"/beheer-studenten/{person.group(1)}/verwijderen",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert removed.status_code == 303
    eventually(
        lambda: True if handled_count(membership_log, "roster.person.removed") > before else None,
        what="the membership service handled the removal",
    )
    with portal.client() as student:
        refused = activate(student, removed_code, "leerling5@prive.test")
        assert refused.status_code == 422
        assert "Deze activatiecode is niet meer geldig." in refused.text


# --- the same in a real browser: the header box and the button ------------------------------------
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_header_box_ticks_the_page_in_a_browser(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    holder = "ada@atlas.test"
    portal.register_school("Atlas College", holder)
    welcome = re.search(
        r"https?://\S+/wachtwoord-instellen\?token=[\w-]+", mail_text(portal.wait_for_mail(holder))
    )
    assert welcome
    with portal.client() as http:
        page = http.get(path_of(welcome.group(0)))
        http.post(
            "/wachtwoord-instellen",
            data={
                "token": welcome.group(0).split("token=")[1],
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        page = http.get("/inloggen")
        http.post(
            "/inloggen",
            data={"email": holder, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        )
        upload_roster(http)

    page = browser.new_page()
    console_errors: list[str] = []
    page.on(
        "console",
        lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", holder)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(portal.url + "/beheer-studenten")
    page.click("a:has-text('studenten uitnodigen')")
    expect(page.locator("h1")).to_have_text("Studenten uitnodigen")
    rows = page.locator("input[name=persoon]")
    expect(rows).to_have_count(6)
    header = page.locator("#alles-op-pagina")
    header.check()
    for i in range(6):
        expect(rows.nth(i)).to_be_checked()
    rows.nth(2).uncheck()
    expect(header).not_to_be_checked()
    rows.nth(2).check()
    expect(header).to_be_checked()
    rows.nth(0).uncheck()  # five of six
    page.click("button:has-text('verstuur uitnodiging')")
    expect(page.locator("main")).to_contain_text("5 uitnodigingen worden verstuurd.")
    page.screenshot(path=str(tmp_path / "studenten-uitnodigen.png"), full_page=True)
    assert not [e for e in console_errors if "Content Security Policy" in e]


def test_an_ended_membership_shows_inactief(portal: Portal) -> None:
    """R-MEMBER-1: a CJP admin ends a membership; the school's list shows Inactief
    lidmaatschap, and the person may be invited again."""
    from ck_testkit.journeys import school_with_password, wait_for
    from ck_testkit.rosters import student_xlsx

    holder = "eva@einde.test"
    school = school_with_password(portal, "Einde College", holder, PASSWORD)
    base = f"/api/v1/schools/{school['school_id']}/roster/students"
    with portal.client() as http:
        token = http.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
        api = {"Authorization": f"Bearer {token.json()['token']}"}
        admin_token = {"Authorization": f"Bearer {portal.admin_token()}"}
        row = ("Ellen", "Einde", "", "", "Delft", 1, "Media", "", "")

        def uploaded() -> httpx.Response | None:
            reply = http.post(
                f"{base}/upload",
                headers=api,
                files={"file": ("leerlingen.xlsx", student_xlsx([row]))},
                data={"confirmed": "true"},
            )
            return reply if reply.status_code == 200 else None

        wait_for(uploaded, what="the roster service knows the school")
        assert http.post(f"{base}/invitations", headers=api, json={"all": True}).status_code == 202

        def person() -> dict[str, Any] | None:
            items = http.get(f"{base}/people", headers=api).json()["items"]
            return items[0] if items and items[0]["activation_code"] else None

        ellen = wait_for(person, what="the invitation's code in the list")
        activated = http.post(
            "/api/v1/activations",
            json={
                "code": ellen["activation_code"],
                "voornaam": "Ellen",
                "achternaam": "Einde",
                "email": "ellen@einde.test",
                "geboortedatum": "2005-02-03",
            },
        )
        assert activated.status_code == 200, activated.text

        def status_is(wanted: str) -> Callable[[], bool | None]:
            return lambda: (person() or {}).get("status") == wanted or None

        wait_for(status_is("actief"), what="Actief lidmaatschap")
        end = f"/api/v1/schools/{school['school_id']}/memberships/{ellen['person_id']}/end"
        assert http.post(end, headers=api).status_code == 403  # the school may not
        assert http.post(end, headers=admin_token).status_code == 204
        wait_for(status_is("inactief"), what="Inactief lidmaatschap")
        again = http.post(end, headers=admin_token)
        assert again.status_code == 404, again.text  # nothing active to end any more
