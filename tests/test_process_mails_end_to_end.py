"""Issue 13, the mails that drive the process, through every process and the real SMTP
server: a teacher's offer request -> the provider gets a mail; the school approves a weborder
-> the provider gets a mail (the invoice mail reaches the budget holder on the way); a moved
clock -> the budget holder's digest reminds of a weborder undecided for 7 days.

Time: every process of the session's stack runs on one OffsetClock (CK_CLOCK_OFFSET_SECONDS,
development mode only). A running process's clock cannot be moved, so the test stops the
weborders service and starts it again with an offset 8 days further (and a digest poll of a
second), then restores it: the digest job of that process sees "8 days later" while the rest
of the stack does not need to.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from ck_notifier.smtp_sink import read_mails
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    showing,
    wait_for,
)
from ck_testkit.portal import Portal, csrf_from, mail_text

PASSWORD = "een lang wachtwoord voor mails"


def _mail(portal: Portal, to: str, subject_part: str, deadline: float = 30) -> EmailMessage:
    """The first mail to `to` whose subject contains `subject_part`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for mail in read_mails(portal.stack.mail_dir):
            if str(mail["To"]) == to and subject_part in str(mail["Subject"]):
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no mail {subject_part!r} arrived within {deadline} s")


def _restart_weborders(portal: Portal, **env: str) -> None:
    stack = portal.stack
    process = stack.processes["weborders"]
    stack.stop_service("weborders")
    for key, value in env.items():
        if value:
            process.env[key] = value
        else:
            process.env.pop(key, None)
    stack.start_service("weborders")


def test_provider_and_budget_holder_mails_and_a_reminder(portal: Portal) -> None:
    tag = uuid.uuid4().hex[:6]
    holder = f"mails-{tag}@mails-college.test"
    school_name = f"Mails College {tag}"
    school = school_with_password(portal, school_name, holder, PASSWORD)
    number = int(school["school_number"])  # type: ignore[arg-type]
    provider_name = f"Theater Post {tag}"
    with portal.client() as admin, portal.client() as http, portal.client() as api:
        page_login(admin, portal.admin_email, portal.admin_password)
        kvk = f"{int(tag, 16) % 10**8:08d}"
        _provider_id, key = register_provider(admin, provider_name, kvk)
        provider_mail = f"api@{kvk}.example"  # the contact address register_provider gives
        auth = {"Authorization": f"Bearer {key}"}
        offering = api.post(
            "/api/v1/provider/offerings",
            json={
                "title": f"Workshop toneel {tag}",
                "description": "Twee uur spelen",
                "discipline": "Theater",
                "city": "Utrecht",
                "price_cents": 1250,
            },
            headers=auth,
        )
        assert offering.status_code in (200, 201), offering.text
        offering_id = offering.json()["offering_id"]

        # A request from the school (R-WEB-3): the provider is mailed.
        page_login(http, holder, PASSWORD)
        page = http.get("/aanbod")
        asked = http.post(
            f"/aanbod/{offering_id}/aanvragen",
            data={"bericht": "Kan dit in maart?", "csrf_token": csrf_from(page.text)},
        )
        assert asked.status_code == 303, asked.text
        request_mail = _mail(portal, provider_mail, "Nieuwe aanvraag")
        assert str(request_mail["Subject"]) == (
            f"Nieuwe aanvraag van {school_name}: Workshop toneel {tag}"
        )
        text = mail_text(request_mail)
        assert f"Beste {provider_name}," in text and "Kan dit in maart?" in text
        assert f"CJP-schoolnummer {number}" in text

        # The provider answers with a weborder; the school gets budget and approves it.
        def created() -> httpx.Response | None:
            reply = api.post(
                "/api/v1/provider/weborders",
                json={
                    "school_number": number,
                    "activity": f"Workshop toneel {tag}",
                    "activity_date": "2026-04-01",
                    "participants": 20,
                    "amount_cents": 5000,
                    "provider_reference": "POST-1",
                    "offering_id": offering_id,
                },
                headers=auth,
            )
            return reply if reply.status_code == 201 else None

        weborder_id = wait_for(created, what="the weborder").json()["weborder_id"]
        waiting = api.post(
            "/api/v1/provider/weborders",
            json={
                "school_number": number,
                "activity": f"Museumbezoek {tag}",
                "activity_date": "2026-04-02",
                "participants": 20,
                "amount_cents": 2000,
                "provider_reference": "POST-2",
            },
            headers=auth,
        )
        assert waiting.status_code == 201, waiting.text
        order_budget(http, collective=10)
        admin_approves_and_records_payment(admin, str(school["school_id"]), "105,00")
        invoice_mail = _mail(portal, holder, "Factuur")
        assert school_name in str(invoice_mail["Subject"])
        assert "Totaal: € 105,00" in mail_text(invoice_mail)
        wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="budget credited")
        listed = http.get("/bestellingen/weborders")
        done = http.post(
            f"/bestellingen/weborders/{weborder_id}/goedkeuren",
            data={"csrf_token": csrf_from(listed.text)},
        )
        assert done.status_code == 303, done.text
        approved = _mail(portal, provider_mail, "Weborder goedgekeurd")
        assert str(approved["Subject"]) == (
            f"Weborder goedgekeurd door {school_name}: Workshop toneel {tag}"
        )
        assert "Bedrag: € 50,00" in mail_text(approved)

    # A moved clock: 8 days on, the budget holder's digest reminds of the undecided weborder.
    offset = portal.stack.clock_offset or timedelta(0)
    moved = offset + timedelta(days=8)
    try:
        _restart_weborders(
            portal,
            CK_CLOCK_OFFSET_SECONDS=repr(moved.total_seconds()),
            WEBORDERS_MAIL_POLL_SECONDS="1",
            WEBORDERS_DIGEST_HOUR="0",
        )
        reminder = _wait_reminder(portal, holder, f"Museumbezoek {tag}")
        text = mail_text(reminder)
        assert "Herinnering" in text and "7 dagen of langer" in text
        assert f"[herinnering] Museumbezoek {tag}" in text
    finally:
        _restart_weborders(
            portal,
            CK_CLOCK_OFFSET_SECONDS=repr(offset.total_seconds()) if offset else "",
            WEBORDERS_MAIL_POLL_SECONDS="",
            WEBORDERS_DIGEST_HOUR="",
        )


def _wait_reminder(portal: Portal, holder: str, activity: str) -> Any:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        for mail in read_mails(portal.stack.mail_dir):
            if (
                str(mail["To"]) == holder
                and "wachten op je beslissing" in str(mail["Subject"])
                and f"[herinnering] {activity}" in mail_text(mail)
            ):
                return mail
        time.sleep(0.3)
    raise AssertionError("no reminder digest arrived")
