"""Issue 14: invitations to a few hundred people as a run with progress, through every process
(gateway, roster, membership, notifier, the real SMTP sink).

A budget holder uploads 305 students (300 with an e-mail address) and presses "verstuur
uitnodiging" for everyone: the answer is the run's page, which refreshes itself until every
mail queued is sent; its counts only grow and end with sent == queued == 300, and the sink
holds the 300 invitation mails. The JSON API's 202 + Location is followed the same way. Another
school gets 404 for the run at its own URLs and 403 for the first school's. Nothing is
asserted about how long anything takes.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any

import httpx
from ck_notifier.smtp_sink import read_mails
from ck_testkit.jobs import follow_job_sync
from ck_testkit.portal import Portal, csrf_from, link_in
from ck_testkit.rosters import STUDENT_HEADER
from openpyxl import Workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASSWORD = "een lang wachtwoord voor de ronde"
WITH_MAIL = 300
WITHOUT_MAIL = 5
REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)">')
MAX_TRIES = 1200  # only turns a run that never ends into a failure


def roster_file() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(STUDENT_HEADER))
    for i in range(WITH_MAIL + WITHOUT_MAIL):
        values = {
            "voornaam": f"Student{i}",
            "achternaam": f"Ronde{i:04d}",
            "email": f"ronde{i}@ronde.test" if i < WITH_MAIL else "",
            "mobiel nummer": "",
            "locatienaam": "MBO",
            "studiejaar": 1,
            "opleiding": "media",
            "klas": "",
            "BRIN": "",
        }
        sheet.append([values[h] for h in STUDENT_HEADER])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def school_with_holder(portal: Portal, name: str, holder: str) -> dict[str, Any]:
    school = portal.register_school(name, holder)
    welcome = portal.wait_for_mail(holder)
    link = link_in(welcome)
    with portal.client() as http:
        parts = httpx.URL(link)
        page = http.get(parts.raw_path.decode())
        done = http.post(
            "/wachtwoord-instellen",
            data={
                "token": link.split("token=")[1],
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200, done.text
    return school


def log_in(http: httpx.Client, holder: str) -> None:
    page = http.get("/inloggen")
    done = http.post(
        "/inloggen",
        data={"email": holder, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303, done.text


def api_token(http: httpx.Client, holder: str) -> str:
    reply = http.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["token"])


def upload(http: httpx.Client) -> None:
    for _ in range(MAX_TRIES):  # the roster service learns of the new school from an event
        page = http.get("/beheer-studenten/upload")
        response = http.post(
            "/beheer-studenten/upload",
            data={"csrf_token": csrf_from(page.text), "bevestigd": "ja"},
            files={"bestand": ("ronde.xlsx", roster_file(), XLSX)},
        )
        if response.status_code != 404:
            break
        time.sleep(0.1)
    done = follow_job_sync(http, response)
    assert "De upload is afgerond." in done.text, done.text


def count(html: str, field: str) -> int:
    found = re.search(rf'<dd id="{field}">(\d+)', html)
    assert found, f"no {field} on the page"
    return int(found.group(1))


def mails_to_this_school(portal: Portal) -> int:
    return sum(1 for m in read_mails(portal.stack.mail_dir) if str(m["To"]).endswith("@ronde.test"))


def test_inviting_hundreds_is_a_run_followed_to_every_mail_sent(portal: Portal) -> None:
    school = school_with_holder(portal, "Ronde College", "bea@ronde-college.test")
    school_id = str(school["school_id"])
    other_id = str(
        school_with_holder(portal, "Ander College", "bea@ander-college.test")["school_id"]
    )
    with portal.client() as http:
        log_in(http, "bea@ronde-college.test")
        upload(http)
        page = http.get("/beheer-studenten/uitnodigen")
        sent = http.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": csrf_from(page.text), "keuze": "filter"},
        )
        assert sent.status_code == 303, sent.text
        location = sent.headers["location"]
        found = re.fullmatch(r"/beheer-studenten/uitnodigingen/([0-9a-f-]{36})", location)
        assert found, location
        run_id = found.group(1)

        # Follow the page as a browser would (its meta refresh) until it stops refreshing.
        seen: list[tuple[int, int]] = []
        for _ in range(MAX_TRIES):
            shown = http.get(location)
            assert shown.status_code == 200, shown.text
            seen.append((count(shown.text, "klaargezet"), count(shown.text, "verstuurd")))
            if not REFRESH.search(shown.text):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the run did not end")
        assert "De uitnodigingen zijn verstuurd." in shown.text
        assert f"{WITH_MAIL + WITHOUT_MAIL} uitnodigingen worden verstuurd." in shown.text
        assert count(shown.text, "uitgenodigd") == WITH_MAIL + WITHOUT_MAIL
        assert seen[-1] == (WITH_MAIL, WITH_MAIL)  # sent == queued
        assert seen == sorted(seen)  # counts only grow (queued, then sent)
        assert all(s <= q for q, s in seen)
        assert mails_to_this_school(portal) == WITH_MAIL
        # A reload shows the same finished run.
        assert count(http.get(location).text, "verstuurd") == WITH_MAIL

        # The JSON API: 202 with the run's Location, then its status and counts.
        bearer = {"Authorization": f"Bearer {api_token(http, 'bea@ronde-college.test')}"}
        base = f"/api/v1/schools/{school_id}/roster/students"
        assert http.get(f"{base}/invitations/{run_id}", headers=bearer).json()["status"] == "done"
        ticked = http.post(f"{base}/invitations", json={"all": True}, headers=bearer)
        assert ticked.status_code == 202, ticked.text
        api_run = ticked.headers["location"]
        assert api_run == f"{base}/invitations/{ticked.json()['request_id']}"
        for _ in range(MAX_TRIES):
            body = http.get(api_run, headers=bearer).json()
            if body["status"] == "done":
                break
            assert body["status"] in ("queued", "sending"), body
            time.sleep(0.1)
        else:
            raise AssertionError("the API's run did not end")
        assert (body["requested"], body["queued"], body["sent"], body["failed"]) == (
            WITH_MAIL + WITHOUT_MAIL,
            WITH_MAIL,
            WITH_MAIL,
            0,
        )
        assert mails_to_this_school(portal) == 2 * WITH_MAIL  # every mail once per click

    # Another school: the run is not found at its own URLs, and the first school's is refused.
    with portal.client() as other:
        log_in(other, "bea@ander-college.test")
        assert other.get(location).status_code == 404
        bearer = {"Authorization": f"Bearer {api_token(other, 'bea@ander-college.test')}"}
        mine = f"/api/v1/schools/{other_id}/roster/students/invitations/{run_id}"
        assert other.get(mine, headers=bearer).status_code == 404
        theirs = f"/api/v1/schools/{school_id}/roster/students/invitations/{run_id}"
        assert other.get(theirs, headers=bearer).status_code == 403
        assert "verstuurd" not in other.get(theirs, headers=bearer).text
