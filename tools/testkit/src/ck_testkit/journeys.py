"""Steps of the end-to-end tests that several of them take: a school whose budget holder has
set a password, a provider with an API key, budget ordered, approved and paid. Each step goes
through the portal's pages or API, as a person would (tests/conftest.py's `portal`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from ck_testkit import clocks
from ck_testkit.portal import Portal, csrf_from, mail_text

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    """probe() until it returns something (events travel through the broker meanwhile)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (found := probe()) is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def showing(http: httpx.Client, path: str, text: str) -> Callable[[], httpx.Response | None]:
    """A probe for `wait_for`: the page once it shows the text."""

    def probe() -> httpx.Response | None:
        page = http.get(path)
        return page if page.status_code == 200 and text in page.text else None

    return probe


def path_of(link: str) -> str:
    """A link from a mail, on this test's portal (the service may know another host name)."""
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_login(http: httpx.Client, email: str, password: str) -> None:
    page = http.get("/inloggen")
    done = http.post(
        "/inloggen",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303, done.text


def set_password(http: httpx.Client, token: str, password: str) -> httpx.Response:
    """Wachtwoord instellen with the token of a welcome or reset link: the form's answer, or
    the page itself when it refuses the link (used or expired: it says so there)."""
    page = http.get("/wachtwoord-instellen", params={"token": token})
    if page.status_code != 200:
        return page
    return http.post(
        "/wachtwoord-instellen",
        data={
            "token": token,
            "password": password,
            "password_repeat": password,
            "csrf_token": csrf_from(page.text),
        },
    )


def school_with_password(portal: Portal, name: str, email: str, password: str) -> dict[str, Any]:
    """A CJP admin registers the school; its budget holder sets a password from the mail."""
    school = portal.register_school(name, email)
    welcome = mail_text(portal.wait_for_mail(email))
    found = re.search(r"https?://\S+/wachtwoord-instellen\?token=([\w-]+)", welcome)
    assert found
    with portal.client() as http:
        done = set_password(http, found.group(1), password)
        assert done.status_code == 200, done.text
    return school


def register_provider(admin: httpx.Client, name: str, kvk: str) -> tuple[str, str]:
    """Menu Aanbieders: register, issue a key. (provider id, the key shown once)."""
    page = admin.get("/beheer/aanbieders")
    assert page.status_code == 200, page.text
    done = admin.post(
        "/beheer/aanbieders",
        data={
            "naam": name,
            "kvk": kvk,
            "contactpersoon": "Piet Programmeur",
            "email": f"api@{kvk}.example",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert done.status_code == 303, done.text
    provider_id = urlsplit(done.headers["location"]).path.rsplit("/", 1)[-1]
    detail = admin.get(done.headers["location"])
    issued = admin.post(
        f"/beheer/aanbieders/{provider_id}/sleutels", data={"csrf_token": csrf_from(detail.text)}
    )
    assert issued.status_code == 200, issued.text
    key = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
    assert key, issued.text
    listed = admin.get(f"/beheer/aanbieders/{provider_id}")
    assert key.group(1) not in listed.text and key.group(1)[:12] in listed.text
    return provider_id, key.group(1)


def order_budget(http: httpx.Client, collective: int, individual: int = 0) -> None:
    """Producten: fill the form, check, confirm."""
    form = wait_for(showing(http, "/producten", "gele-blok"), what="the order form")
    fields = {
        "collectief": str(collective),
        "individueel": str(individual),
        "referentie": "WEB-2026",
        "csrf_token": csrf_from(form.text),
    }
    check = http.post("/producten/controleren", data=fields)
    assert check.status_code == 200, check.text
    done = http.post("/producten/bestellen", data={**fields, "csrf_token": csrf_from(check.text)})
    assert done.status_code == 303, done.text


def admin_approves_and_records_payment(admin: httpx.Client, school_id: str, amount: str) -> None:
    """The CJP admin approves the open order early and records the invoice's payment."""
    path = f"/beheer/scholen/{school_id}/bestellingen"
    page = admin.get(path)
    approve = re.search(r'action="(/beheer/scholen/[^"]+/goedkeuren)"', page.text)
    assert approve, page.text
    done = admin.post(approve.group(1), data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303, done.text
    page = wait_for(showing(admin, path, "/betaling"), what="the invoice of the approved order")
    pay = re.search(r'action="(/beheer/scholen/[^"]+/betaling)"', page.text)
    assert pay
    paid = admin.post(
        pay.group(1),
        data={
            "bedrag": amount,
            "datum": clocks.today().isoformat(),
            "csrf_token": csrf_from(page.text),
        },
    )
    assert paid.status_code == 303, paid.text


def provider_user(
    portal: Portal, admin: httpx.Client, provider_id: str, email: str, password: str
) -> None:
    """Aanbieders: the CJP admin invites a provider user, who sets a password from the mail
    (issue 13, the provider portal). `admin` is logged in as a CJP admin."""
    detail = admin.get(f"/beheer/aanbieders/{provider_id}")
    invited = admin.post(
        f"/beheer/aanbieders/{provider_id}/gebruikers",
        data={"naam": "Piet Podium", "email": email, "csrf_token": csrf_from(detail.text)},
    )
    assert invited.status_code == 303, invited.text
    welcome = mail_text(portal.wait_for_mail(email))
    found = re.search(r"https?://\S+/wachtwoord-instellen\?token=([\w-]+)", welcome)
    assert found, welcome
    with portal.client() as http:
        page = http.get(path_of(found.group(0)))
        done = http.post(
            "/wachtwoord-instellen",
            data={
                "token": found.group(1),
                "password": password,
                "password_repeat": password,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200, done.text
