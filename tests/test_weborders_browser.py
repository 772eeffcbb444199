"""A weborder approved in a real browser (R-WEB-1/2): a provider posts a weborder with its API
key; the budget holder opens Bestellingen > Weborders in Chromium, approves it from the row's
menu and sees the debit confirmed, then the new balance in Bestellingen > Overzicht."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from ck_testkit import clocks
from ck_testkit.browser import BROWSER_TEST
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    showing,
    wait_for,
)
from ck_testkit.portal import Portal

pytestmark = BROWSER_TEST

PASSWORD = "een lang wachtwoord voor de browser"


def test_the_budget_holder_approves_a_weborder_in_the_browser(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:6]
    holder = f"wendy-{tag}@browser-weborder.test"
    school = school_with_password(portal, f"Browser Weborder College {tag}", holder, PASSWORD)
    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        _provider, key = register_provider(admin, f"Podium {tag}", f"{int(tag, 16) % 10**8:08d}")
        page_login(http, holder, PASSWORD)
        order_budget(http, collective=10)  # EUR 210,00 to spend once paid
        admin_approves_and_records_payment(admin, str(school["school_id"]), "105,00")
        wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="budget credited")
        body = {
            "school_number": school["school_number"],
            "activity": "Workshop beatboxen",
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

    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", holder)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(portal.url + "/bestellingen/weborders")
    row = page.locator("tr", has_text="Workshop beatboxen")
    expect(row).to_contain_text("€ 75,50")
    row.locator("summary").click()
    row.locator("button:has-text('goedkeuren')").first.click()
    # The saga runs through the budget service; the page reports its answer.
    for _ in range(50):
        if page.locator("text=Ververs de pagina").count() == 0:
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator("main")).to_contain_text("goedgekeurd: € 75,50 afgeschreven")
    page.screenshot(path=str(tmp_path / "weborders.png"), full_page=True)
    page.goto(portal.url + "/bestellingen/overzicht")
    expect(page.locator("#saldo")).to_have_text("€ 134,50")
    expect(page.locator("main")).to_contain_text("Workshop beatboxen")
    assert weborder_id
    assert not console_errors, console_errors
