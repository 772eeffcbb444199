"""One flow through every process and the real broker: a CJP admin registers a school, the
budget holder gets a welcome mail, sets a password with its link (once), logs in and sees the
portal with the school number. Plus the failure paths a user can meet."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from ck_testkit import journeys
from ck_testkit.portal import Portal, csrf_from, link_in, mail_text


def set_password(http: httpx.Client, link: str, password: str) -> httpx.Response:
    path, _, token = link.partition("/wachtwoord-instellen?token=")
    assert token and path.startswith("http"), link  # the mail's link is that page's
    return journeys.set_password(http, token, password)


def log_in(http: httpx.Client, email: str, password: str) -> httpx.Response:
    page = http.get("/inloggen")
    return http.post(
        "/inloggen", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def test_welcome_mail_link_works_once_and_the_budget_holder_logs_in(portal: Portal) -> None:
    correlation_id = uuid.uuid4().hex
    school = portal.register_school("Nova College", "bea@nova.test", correlation_id)
    number = school["school_number"]

    mail = portal.wait_for_mail("bea@nova.test")
    assert "Nova College" in str(mail["Subject"]) + mail_text(mail)
    assert str(number) in mail_text(mail)
    link = link_in(mail)
    assert link.startswith(portal.url)

    password = "een lang en goed wachtwoord"
    with portal.client() as http:
        done = set_password(http, link, password)
        assert done.status_code == 200
        assert "Inloggen" in done.text
        again = set_password(http, link, "nog een ander wachtwoord")
        assert again.status_code == 409
        assert "al gebruikt of verlopen" in again.text

    with portal.client() as http:
        response = log_in(http, "bea@nova.test", password)
        assert response.status_code == 303
        home = http.get("/")
        assert home.status_code == 200
        assert f"School {number}" in home.text
        settings = http.get("/instellingen")
        assert "Nova College" in settings.text

    # The request's correlation id was followed through accounts and the notifier.
    for service in ("gateway", "accounts", "notifier"):
        log = (portal.stack.log_dir / f"{service}.log").read_text()
        assert correlation_id in log, service
        for line in log.splitlines():
            if line.startswith("{"):
                assert "bea@nova.test" not in line  # no personal data in logs


def test_every_service_reports_healthy(portal: Portal) -> None:
    for name, url in portal.stack.health_urls.items():
        reply = httpx.get(url, timeout=5)
        assert reply.status_code == 200, name
    assert httpx.get(portal.url + "/health", timeout=5).status_code == 200


def test_every_domain_service_learns_of_a_new_school(portal: Portal) -> None:
    """SchoolRegistered reaches roster, membership, budget, invoicing and weborders."""
    import sqlite3

    school = portal.register_school("Alfa College", "alfa@alfa.test")
    end = time.monotonic() + 30
    pending = {"roster", "membership", "budget", "invoicing", "weborders"}
    while pending and time.monotonic() < end:
        for service in list(pending):
            db = sqlite3.connect(portal.stack.data_dir / f"{service}.sqlite3")
            try:
                # By id and number: another school with the same number would not count.
                row = db.execute(
                    "SELECT school_number FROM known_schools"
                    " WHERE school_number=? AND replace(school_id, '-', '')=?",
                    (school["school_number"], str(school["school_id"]).replace("-", "")),
                ).fetchone()
            finally:
                db.close()
            if row is not None:
                pending.discard(service)
        time.sleep(0.2)
    assert not pending


def test_bad_input_gets_clear_answers(portal: Portal) -> None:
    with portal.client() as http:
        wrong = http.post(
            "/api/v1/auth/login", json={"email": portal.admin_email, "password": "helemaal fout"}
        )
        unknown = http.post(
            "/api/v1/auth/login", json={"email": "niemand@cjp.test", "password": "helemaal fout"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]

        malformed = http.post(
            "/api/v1/auth/login",
            content=b'{"email": ',
            headers={"Content-Type": "application/json"},
        )
        assert malformed.status_code == 400
        assert malformed.json()["error"]["message"]

        huge = http.post(
            "/api/v1/auth/login",
            content=b"x" * (5 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413

        token = portal.admin_token()
        missing = http.post(
            "/api/v1/schools", json={"settings": {}}, headers={"Authorization": f"Bearer {token}"}
        )
        assert missing.status_code == 422
        assert json.dumps(missing.json()["error"]["fields"])


def test_a_service_that_is_down_gives_503_not_a_hang(portal: Portal) -> None:
    token = portal.admin_token()
    portal.stack.stop_service("accounts")
    try:
        started = time.monotonic()
        with portal.client() as http:
            reply = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        elapsed = time.monotonic() - started
        assert reply.status_code == 503
        assert reply.json()["error"]["code"] == "unavailable"
        assert "accounts" not in reply.json()["error"]["message"]  # users need not know
        assert elapsed < 14  # the gateway's RPC timeout, not the HTTP client's
    finally:
        portal.stack.start_service("accounts")
    with portal.client() as http:
        reply = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200  # the session survived the restart
