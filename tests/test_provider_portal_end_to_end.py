"""Issue 13, "done when": a teacher's request answered by the provider in its portal, approved
by the school, the provider mailed -- through every process of the session's stack, the real
broker and the real SMTP server (tests/conftest.py's `portal`).

The budget holder sends an offer request from Aanbod; a provider user, invited by the CJP admin
and logged into /aanbieder, opens Aanvragen and answers it with "beantwoorden met een weborder"
(the form comes prefilled with the school, the offering and the request); the school gets
budget and approves the weborder; the provider's contact address receives the approval mail.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from email.message import EmailMessage

from ck_notifier.smtp_sink import read_mails
from ck_testkit import clocks
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    provider_user,
    register_provider,
    school_with_password,
    showing,
    wait_for,
)
from ck_testkit.portal import Portal, csrf_from, mail_text

PASSWORD = "een lang wachtwoord voor het aanbiedersportaal"


def _mail(portal: Portal, to: str, subject_part: str, deadline: float = 30) -> EmailMessage:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for mail in read_mails(portal.stack.mail_dir):
            if str(mail["To"]) == to and subject_part in str(mail["Subject"]):
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no mail {subject_part!r} to {to} within {deadline} s")


def test_a_request_answered_in_the_provider_portal_approved_and_mailed(portal: Portal) -> None:
    tag = uuid.uuid4().hex[:6]
    holder = f"vraag-{tag}@portaal-college.test"
    school_name = f"Portaal College {tag}"
    school = school_with_password(portal, school_name, holder, PASSWORD)
    provider_name = f"Podium Portaal {tag}"
    kvk = f"{int(tag, 16) % 10**8:08d}"
    provider_mail = f"api@{kvk}.example"  # the contact address register_provider gives
    user = f"piet-{tag}@podium-portaal.test"
    with (
        portal.client() as admin,
        portal.client() as school_http,
        portal.client() as provider_http,
    ):
        page_login(admin, portal.admin_email, portal.admin_password)
        provider_id, key = register_provider(admin, provider_name, kvk)
        provider_user(portal, admin, provider_id, user, PASSWORD)
        page_login(provider_http, user, PASSWORD)
        # The provider adds an offering in its portal.
        offer = provider_http.get("/aanbieder/aanbod")
        added = provider_http.post(
            "/aanbieder/aanbod",
            data={
                "titel": f"Workshop decorbouw {tag}",
                "discipline": "theater",
                "plaats": "Utrecht",
                "prijs": "12,50",
                "csrf_token": csrf_from(offer.text),
            },
        )
        assert added.status_code == 303, added.text

        # The teacher (budget holder) finds it in Aanbod and sends a request.
        page_login(school_http, holder, PASSWORD)
        found = wait_for(
            showing(school_http, f"/aanbod?tekst=decorbouw+{tag}", f"Workshop decorbouw {tag}"),
            what="the offering in Aanbod",
        )
        offering_id = re.search(r'action="/aanbod/([0-9a-f-]{36})/aanvragen"', found.text)
        assert offering_id, found.text
        asked = school_http.post(
            f"/aanbod/{offering_id.group(1)}/aanvragen",
            data={"bericht": f"Kan dit in april? {tag}", "csrf_token": csrf_from(found.text)},
        )
        assert asked.status_code == 303, asked.text
        _mail(portal, provider_mail, "Nieuwe aanvraag")

        # The provider answers it in the portal with a weborder (the form comes prefilled).
        requests = wait_for(
            showing(provider_http, "/aanbieder/aanvragen", f"Kan dit in april? {tag}"),
            what="the request in the provider portal",
        )
        answer = re.search(
            r'href="(/aanbieder/weborders/nieuw\?aanvraag=[0-9a-f-]{36})"', requests.text
        )
        assert answer, requests.text
        form = provider_http.get(answer.group(1))
        assert form.status_code == 200
        assert f'value="{school["school_number"]}"' in form.text
        values = dict(re.findall(r'<input[^>]*? name="(\w+)"[^>]*? value="([^"]*)"', form.text))
        activity_day = clocks.today() + timedelta(days=30)
        values.update(datum=activity_day.strftime("%d-%m-%Y"), deelnemers="20", bedrag="60,00")
        made = provider_http.post("/aanbieder/weborders", data=values)
        assert made.status_code == 303, made.text
        listed = provider_http.get("/aanbieder")
        assert f"Workshop decorbouw {tag}" in listed.text and "Ingediend" in listed.text

        # The school gets budget and approves it.
        order_budget(school_http, collective=10)
        admin_approves_and_records_payment(admin, str(school["school_id"]), "105,00")
        wait_for(showing(school_http, "/bestellingen/overzicht", "€ 210,00"), what="budget")

        def weborder_id() -> str | None:
            page = school_http.get("/bestellingen/weborders")
            found = re.search(r"/bestellingen/weborders/([0-9a-f-]{36})/goedkeuren", page.text)
            return found.group(1) if found else None

        wid = wait_for(weborder_id, what="the weborder at the school")
        page = school_http.get("/bestellingen/weborders")
        done = school_http.post(
            f"/bestellingen/weborders/{wid}/goedkeuren", data={"csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303, done.text

        # The provider is mailed, and its portal shows the weborder approved.
        approved = _mail(portal, provider_mail, "Weborder goedgekeurd")
        assert str(approved["Subject"]) == (
            f"Weborder goedgekeurd door {school_name}: Workshop decorbouw {tag}"
        )
        assert "Bedrag: € 60,00" in mail_text(approved)

        def approved_in_portal() -> str | None:
            page = provider_http.get("/aanbieder")
            rows = re.findall(r"<tr[^>]*>.*?</tr>", page.text, re.S)
            row = next((r for r in rows if f"Workshop decorbouw {tag}" in r), "")
            return row if "Goedgekeurd" in row else None

        wait_for(approved_in_portal, what="the approval in the provider portal")
        # The weborder names the request and the offering (the API sees the same weborder).
        api = provider_http.get(
            "/api/v1/provider/weborders", headers={"Authorization": f"Bearer {key}"}
        )
        item = next(w for w in api.json()["items"] if w["weborder_id"] == wid)
        assert item["offering_id"] == offering_id.group(1) and item["request_id"]
        assert item["status"] == "goedgekeurd"
