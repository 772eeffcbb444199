"""Layouts that fit, and confirmations (issue 14), in Debian's Chromium against the whole system.

Every portal page -- the budget holder's school pages (Docent+ users see the same pages with
fewer buttons), the Docenten+ page, the CJP admin's pages, the provider portal's pages (issue
13, /aanbieder, with its API key confirmation), the public log-in and activation pages, and a
confirmation page -- at 1366x768 (a school laptop) and 375 px (a phone):

- no horizontal overflow: document.documentElement.scrollWidth <= window.innerWidth (a wide
  table scrolls inside its own wrapper, never the page);
- axe-core (npm, tools/testkit/node; ck_testkit.browser.axe_source) finds no serious or
  critical violation (labels, contrast AA, focusable scroll regions, names of links/buttons);
- screenshots go to the test's temporary directory (CK_SCREENSHOTS=dir keeps them elsewhere).

Then "verwijderen" of a student: the first click shows "Weet u het zeker?" and removes nothing;
the confirmation removes.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from ck_testkit import clocks
from ck_testkit.browser import BROWSER_TEST, axe_source
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
from ck_testkit.portal import Portal, csrf_from

pytestmark = BROWSER_TEST

PASSWORD = "een lang wachtwoord voor de schermen"
WIDTHS = {"laptop": (1366, 768), "phone": (375, 740)}
SERIOUS = ("serious", "critical")
# The outermost elements that reach past the window's right edge (for the failure message).
WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
    && e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"""


def _add_person(http: Any, path: str, fields: dict[str, str]) -> None:
    page = http.get(path)
    done = http.post(path, data={**fields, "csrf_token": csrf_from(page.text)})
    assert done.status_code == 303, done.text


def _scan(page: Any, axe: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is. Evaluated through the
    DevTools protocol (not a <script> element), so the page's strict CSP stays as it is."""
    page.evaluate(axe)
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    return [v for v in result if v["impact"] in SERIOUS]


def _check_pages(
    browser: Any, portal: Portal, email: str, password: str, paths: list[str], shots: Path
) -> list[str]:
    """Log in (unless `email` is empty) and check every path at both widths; the problems."""
    axe = axe_source()
    problems: list[str] = []
    for width_name, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        csp_errors: list[str] = []

        def on_console(message: Any, errors: list[str] = csp_errors) -> None:
            if "Content Security Policy" in message.text:
                errors.append(message.text)

        page.on("console", on_console)
        if email:
            page.goto(portal.url + "/inloggen")
            page.fill("#f-email", email)
            page.fill("#f-password", password)
            page.click("main button[type=submit]")
            page.wait_for_url(re.compile(r"^(?!.*inloggen)"))
        for path in paths:
            answer = page.goto(portal.url + path)
            assert answer is not None and answer.status == 200, (path, answer and answer.status)
            name = re.sub(r"[^a-z0-9]+", "-", f"{width_name}-{email or 'publiek'}-{path}")
            page.screenshot(path=str(shots / f"{name.strip('-')}.png"), full_page=True)
            scroll_width, inner_width = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll_width > inner_width:
                wide = page.evaluate(WIDER_THAN_THE_WINDOW)
                problems.append(
                    f"{width}px {path}: scrollWidth {scroll_width} > {inner_width} {wide}"
                )
            for violation in _scan(page, axe):
                problems.append(f"{width}px {path}: axe {json.dumps(violation)}")
        problems.extend(f"{width}px CSP: {e}" for e in csp_errors)
        context.close()
    return problems


def test_every_page_fits_and_passes_axe(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("CK_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    holder = f"lay-{tag}@schermen-college.test"
    school = school_with_password(portal, f"Schermen College {tag}", holder, PASSWORD)
    school_id = str(school["school_id"])

    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        provider_id, key = register_provider(admin, f"Podium {tag}", f"{int(tag, 16) % 10**8:08d}")
        page_login(http, holder, PASSWORD)
        wait_for(showing(http, "/beheer-studenten", "Totaal"), what="roster knows the school")
        for i in range(3):  # long values: e-mail addresses and study names do not widen pages
            _add_person(
                http,
                "/beheer-studenten",
                {
                    "voornaam": f"Emma{i}",
                    "achternaam": f"Jansen-van-der-Berg-Oudshoorn{i}",
                    "email": f"emma.jansen.van.der.berg.oudshoorn{i}@leerlingen.schermen.test",
                    "mobiel": f"+3161234567{i}",
                    "locatienaam": "Hoofdlocatie Haarlem-Noord",
                    "studiejaar": "2",
                    "opleiding": "Podium- en evenemententechniek (niveau 4)",
                    "klas": f"PET2A{i}",
                },
            )
        _add_person(
            http,
            "/beheer-docenten",
            {
                "voornaam": "Tessa",
                "achternaam": "Terpstra",
                "email": f"tessa-{tag}@docenten.schermen.test",
                "locatienaam": "Haarlem",
                "afdeling": "Muziek",
            },
        )
        order_budget(http, collective=10)  # EUR 210,00 to spend once paid
        admin_approves_and_records_payment(admin, school_id, "105,00")
        order_budget(http, collective=2)  # a second one stays in its objection period
        wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="budget credited")
        body = {
            "school_number": school["school_number"],
            "activity": "Workshop beatboxen met een lange naam voor de kolom activiteit",
            "activity_date": (clocks.today() + timedelta(days=20)).isoformat(),
            "participants": 30,
            "amount_cents": 7550,
        }

        def posted() -> str | None:
            reply = http.post(
                "/api/v1/provider/weborders", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            return str(reply.json()["weborder_id"]) if reply.status_code == 201 else None

        weborder_id = wait_for(posted, what="the weborders service knows the school")
        offering = http.post(
            "/api/v1/provider/offerings",
            json={
                "title": "Theaterworkshop improvisatie voor groepen tot dertig studenten",
                "description": "Twee uur improvisatietheater op school.",
                "discipline": "theater",
                "city": "Haarlem",
                "price_cents": 750,
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        assert offering.status_code == 201, offering.text
        offering_id = offering.json()["offering_id"]
        provider_email = f"podium-{tag}@aanbieder.schermen.test"
        provider_user(portal, admin, provider_id, provider_email, PASSWORD)
        # issue 14 (invitejobs): an invitation run's progress page
        inviting = http.get("/beheer-studenten/uitnodigen")
        invited = http.post(
            "/beheer-studenten/uitnodigen",
            data={"csrf_token": csrf_from(inviting.text), "keuze": "filter"},
        )
        assert invited.status_code == 303, invited.text
        run_path = invited.headers["location"]
        listing = http.get("/beheer-studenten")
        person_id = re.search(r'href="/dossier/([0-9a-f-]{36})"', listing.text)
        assert person_id
        orders = http.get("/producten")
        open_order = re.search(
            r'href="(/producten/bestellingen/[0-9a-f-]+/annuleren)"', orders.text
        )
        assert open_order
    with portal.client() as provider_http:
        page_login(provider_http, provider_email, PASSWORD)
        keys = provider_http.get("/aanbieder/api-sleutels")
        key_id = re.search(r'<tr id="sleutel-([0-9a-f-]{36})">', keys.text)
        assert key_id, keys.text

    holder_paths = [
        "/",
        "/support",
        "/instellingen",
        "/beheer-studenten",
        "/beheer-studenten/uitnodigen",
        run_path,
        "/beheer-studenten/validatietool",
        "/beheer-studenten/upload",
        f"/beheer-studenten/{person_id.group(1)}/verwijderen",
        f"/dossier/{person_id.group(1)}",
        "/beheer-docenten",
        "/beheer-docenten/uitnodigen",
        "/docenten-plus",
        "/producten",
        open_order.group(1),
        "/bestellingen/overzicht",
        "/bestellingen/weborders",
        f"/bestellingen/weborders/{weborder_id}/afkeuren?reden=Geen+budget",
        "/bestellingen/budget",
        "/bestellingen/toewijzen",
        "/bestellingen/schooltoer",
        "/bestellingen/exports",
        "/aanbod",
    ]
    admin_paths = [
        "/",
        "/beheer/scholen",
        "/beheer/scholen/nieuw",
        f"/beheer/scholen/{school_id}/bestellingen",
        f"/scholen/{school_id}/instellingen",
        "/beheer/aanbieders",
        f"/beheer/aanbieders/{provider_id}",
        "/beheer/onbestelbare-berichten",
    ]
    provider_paths = [  # the provider portal (issue 13)
        "/aanbieder",
        "/aanbieder/weborders/nieuw",
        "/aanbieder/aanbod",
        f"/aanbieder/aanbod/{offering_id}",
        "/aanbieder/aanvragen",
        "/aanbieder/kaartbetalingen",
        "/aanbieder/uitbetalingen",
        "/aanbieder/api-sleutels",
        f"/aanbieder/api-sleutels/{key_id.group(1)}/intrekken",
    ]
    public_paths = ["/inloggen", "/activeren"]

    problems = _check_pages(browser, portal, holder, PASSWORD, holder_paths, shots)
    problems += _check_pages(
        browser, portal, portal.admin_email, portal.admin_password, admin_paths, shots
    )
    problems += _check_pages(browser, portal, provider_email, PASSWORD, provider_paths, shots)
    problems += _check_pages(browser, portal, "", "", public_paths, shots)
    assert not problems, "\n".join(problems)


def test_removing_a_student_asks_first(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:6]
    holder = f"weg-{tag}@bevestig-college.test"
    school_with_password(portal, f"Bevestig College {tag}", holder, PASSWORD)
    with portal.client() as http:
        page_login(http, holder, PASSWORD)
        wait_for(showing(http, "/beheer-studenten", "Totaal"), what="roster knows the school")
        _add_person(
            http,
            "/beheer-studenten",
            {
                "voornaam": "Emma",
                "achternaam": "Jansen",
                "email": f"emma-{tag}@leerling.test",
                "mobiel": "+31612345678",
                "locatienaam": "Haarlem",
                "studiejaar": "1",
                "opleiding": "Mediavormgeving",
                "klas": "MV1A",
            },
        )

    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", holder)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(portal.url + "/beheer-studenten")
    expect(page.locator("#aantal")).to_contain_text("1 student")
    page.click("table.roster a:has-text('verwijderen')")
    expect(page.locator("h1")).to_have_text("Weet u het zeker?")
    expect(page.locator("#gevolg")).to_contain_text("Emma Jansen wordt verwijderd uit")
    page.screenshot(path=str(tmp_path / "bevestigen.png"), full_page=True)
    page.click("#terug")  # "Nee, terug": nothing happened
    expect(page.locator("#aantal")).to_contain_text("1 student")
    page.click("table.roster a:has-text('verwijderen')")
    page.click("#bevestig")
    expect(page.locator("main")).to_contain_text("De student is verwijderd.")
    expect(page.locator("#aantal")).to_contain_text("0 studenten")
    context.close()
