"""The provider portal in a real browser (issue 13): a CJP admin invites a provider user, who
sets a password from the mail (real SMTP), logs in with Chromium, lands on /aanbieder, adds an
offering, makes a weborder for a school and revokes an API key."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

from ck_testkit import clocks
from ck_testkit.browser import BROWSER_TEST
from ck_testkit.journeys import page_login, path_of, register_provider, school_with_password
from ck_testkit.portal import Portal, csrf_from, mail_text

pytestmark = BROWSER_TEST

PASSWORD = "een lang wachtwoord voor de browser"


def test_a_provider_user_works_in_the_provider_portal(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:6]
    holder = f"hanna-{tag}@browser-aanbieder.test"
    user = f"piet-{tag}@browser-aanbieder.test"
    school = school_with_password(portal, f"Browser Aanbieder College {tag}", holder, PASSWORD)
    with portal.client() as admin:
        page_login(admin, portal.admin_email, portal.admin_password)
        provider_id, key = register_provider(admin, f"Podium {tag}", f"{int(tag, 16) % 10**8:08d}")
        detail = admin.get(f"/beheer/aanbieders/{provider_id}")
        invited = admin.post(
            f"/beheer/aanbieders/{provider_id}/gebruikers",
            data={"naam": "Piet Podium", "email": user, "csrf_token": csrf_from(detail.text)},
        )
        assert invited.status_code == 303, invited.text
    welcome = mail_text(portal.wait_for_mail(user))
    assert f"Podium {tag}" in welcome
    link = re.search(r"https?://\S+/wachtwoord-instellen\?token=[\w-]+", welcome)
    assert link

    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(portal.url + path_of(link.group(0)))
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_repeat", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", user)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/aanbieder$"))
    expect(page.locator("header")).to_contain_text(f"Podium {tag}")

    # Aanbod: add an offering.
    page.click("nav.main-menu >> text=Aanbod")
    page.wait_for_url(re.compile(r".*/aanbieder/aanbod$"))
    if not page.locator("#f-titel").is_visible():
        page.click("#toevoegen summary")
    page.fill("#f-titel", "Theaterworkshop in de browser")
    page.fill("#f-discipline", "theater")
    page.fill("#f-prijs", "12,50")
    page.click("#toevoegen button[type=submit]")
    expect(page.locator("main")).to_contain_text("Het aanbod is toegevoegd")
    expect(page.locator("table.offerings")).to_contain_text("Theaterworkshop in de browser")

    # Weborders: a new weborder for the school; a mistake first, which keeps the input.
    page.click("nav.main-menu >> text=Weborders")
    page.wait_for_url(re.compile(r".*/aanbieder$"))
    page.click("text=nieuwe weborder")
    page.wait_for_url(re.compile(r".*/aanbieder/weborders/nieuw$"))
    page.fill("#f-schoolnummer", str(school["school_number"]))
    page.fill("#f-activiteit", "Voorstelling in de browser")
    page.fill("#f-datum", (clocks.today() + timedelta(days=30)).strftime("%d-%m-%Y"))
    page.fill("#f-deelnemers", "25")
    page.fill("#f-bedrag", "veel")
    page.click("main form button[type=submit]")
    expect(page.locator("#e-bedrag")).to_contain_text("Vul een bedrag in")
    expect(page.locator("#f-activiteit")).to_have_value("Voorstelling in de browser")
    page.fill("#f-bedrag", "312,50")
    page.click("main form button[type=submit]")
    expect(page.locator("main")).to_contain_text("De weborder is aangemaakt")
    row = page.locator("tr", has_text="Voorstelling in de browser")
    expect(row).to_contain_text("€ 312,50")
    expect(row).to_contain_text("Ingediend")

    # API-sleutels: revoke the key CJP issued.
    page.click("nav.main-menu >> text=API-sleutels")
    page.wait_for_url(re.compile(r".*/aanbieder/api-sleutels$"))
    key_row = page.locator("tr", has_text=key[:12])
    expect(key_row).to_contain_text("actief")
    key_row.locator("a:has-text('intrekken')").click()  # asks first (issue 14)
    expect(page.locator("#gevolg")).to_contain_text(key[:12])
    page.click("#bevestig")
    expect(page.locator("main")).to_contain_text("De API-sleutel is ingetrokken")
    expect(page.locator("tr", has_text=key[:12])).to_contain_text("ingetrokken op")
    page.screenshot(path=str(tmp_path / "aanbieder.png"), full_page=True)
    with portal.client() as http:
        dead = http.get("/api/v1/provider/weborders", headers={"Authorization": f"Bearer {key}"})
        assert dead.status_code == 401
    # The form sent back with a mistake is answered 422 on purpose; Chromium logs that status.
    unexpected = [m for m in console_errors if "status of 422" not in m]
    assert not unexpected, unexpected
