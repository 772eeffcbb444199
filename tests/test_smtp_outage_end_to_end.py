"""Invitations while the mail server is down (R-MEMBER-2/5), through every process: the school
invites, the portal goes on working and the list shows the invitations as sent; the mails wait
in the notifier and go out once the server is back, one per student, none twice."""

from __future__ import annotations

import re
import time
from collections import Counter
from urllib.parse import urlsplit

from ck_notifier.smtp_sink import read_mails
from ck_testkit.portal import Portal, csrf_from, mail_text
from ck_testkit.rosters import student_xlsx

HOLDER = "olga@outage.test"
PASSWORD = "een lang wachtwoord voor de storing"
STUDENTS = [f"student{i}@outage.test" for i in range(1, 4)]


def budget_holder_token(portal: Portal) -> tuple[str, str]:
    school = portal.register_school("Storing College", HOLDER)
    found = re.search(
        r"https?://\S+/wachtwoord-instellen\?token=([\w-]+)",
        mail_text(portal.wait_for_mail(HOLDER)),
    )
    assert found
    with portal.client() as http:
        page = http.get(urlsplit(found.group(0)).path + "?token=" + found.group(1))
        http.post(
            "/wachtwoord-instellen",
            data={
                "token": found.group(1),
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        login = http.post("/api/v1/auth/login", json={"email": HOLDER, "password": PASSWORD})
        assert login.status_code == 200, login.text
    return str(school["school_id"]), str(login.json()["token"])


def invitation_mails(portal: Portal) -> Counter[str]:
    return Counter(
        str(m["To"]) for m in read_mails(portal.stack.mail_dir) if str(m["To"]) in STUDENTS
    )


def test_invitations_wait_for_the_mail_server_and_go_out_once(portal: Portal) -> None:
    school_id, token = budget_holder_token(portal)
    api = {"Authorization": f"Bearer {token}"}
    rows = [
        (f"Student{i}", f"Storing{i}", email, "", "Utrecht", 1, "Media", "", "")
        for i, email in enumerate(STUDENTS, start=1)
    ]
    base = f"/api/v1/schools/{school_id}/roster/students"
    with portal.client() as http:
        for _ in range(100):  # the roster service learns of the school through the broker
            uploaded = http.post(
                f"{base}/upload",
                headers=api,
                files={"file": ("leerlingen.xlsx", student_xlsx(rows))},
                data={"confirmed": "true"},
            )
            if uploaded.status_code != 404:
                break
            time.sleep(0.2)
        assert uploaded.status_code == 200, uploaded.text

        portal.stack.stop_service("smtp")
        try:
            invited = http.post(f"{base}/invitations", headers=api, json={"all": True})
            assert invited.status_code == 202, invited.text
            # The portal goes on: the list shows every invitation as sent, with its code.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                people = http.get(f"{base}/people", headers=api).json()["items"]
                if all(p["status"] == "uitnodiging_verzonden" for p in people):
                    break
                time.sleep(0.2)
            assert all(p["status"] == "uitnodiging_verzonden" and p["activation_code"]
                       for p in people), people  # fmt: skip
            time.sleep(2)  # the notifier tries, fails, and keeps the mails
            assert invitation_mails(portal) == Counter()
        finally:
            portal.stack.start_service("smtp")

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(invitation_mails(portal)) < len(STUDENTS):
            time.sleep(0.5)
        time.sleep(3)  # more passes of the sender: still nothing twice
        assert invitation_mails(portal) == Counter({email: 1 for email in STUDENTS})
