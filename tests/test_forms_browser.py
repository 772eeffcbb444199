"""Issue 14 ("forms") in Debian's Chromium, at 1366 px (a school laptop) and 375 px (a phone):
Instellingen reports every error at once next to its field and keeps what was typed (one
round: the page's own check, the contract's postcode format and accounts' BRIN and e-mail
rules together), then saves the postal address."""

from __future__ import annotations

from pathlib import Path

import pytest
from ck_testkit.browser import BROWSER_TEST
from ck_testkit.portal import Portal, link_in

pytestmark = BROWSER_TEST

PASSWORD = "wachtwoord voor de instellingen"
WIDTHS = {"laptop": (1366, 768), "phone": (375, 812)}


@pytest.mark.parametrize("device", list(WIDTHS))
def test_settings_say_everything_at_once_and_keep_the_address(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path, device: str
) -> None:
    from playwright.sync_api import expect

    holder = f"instellingen-{device}@forms.test"
    portal.register_school(f"Formulier College {device}", holder)
    width, height = WIDTHS[device]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(link_in(portal.wait_for_mail(holder)))
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_repeat", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", holder)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")

    page.goto(portal.url + "/instellingen")
    page.fill("#f-name", "")
    page.fill("#f-brin_codes", "01AB\nXYZ")
    page.fill("#f-duo_student_count", "veel")
    page.fill("#f-street", "Kerkstraat 12a")
    page.fill("#f-postcode", "12345")
    page.fill("#f-city", "Haarlem")
    page.fill("#f-contact_0_name", "Jan")
    page.fill("#f-contact_0_email", "geen-adres")
    page.click("main form button[type=submit]")

    # Every error in this one answer, each next to its field, everything typed still there.
    for name in ("name", "brin_codes", "duo_student_count", "postcode", "contact_0_email"):
        expect(page.locator(f"#e-{name}")).to_be_visible()
        expect(page.locator(f"#f-{name}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-brin_codes")).to_contain_text("XYZ")
    expect(page.locator("#e-postcode")).to_have_text("Vul een postcode in zoals 1234 AB.")
    expect(page.locator("#f-duo_student_count")).to_have_value("veel")
    expect(page.locator("#f-street")).to_have_value("Kerkstraat 12a")
    expect(page.locator("#f-contact_0_email")).to_have_value("geen-adres")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=str(tmp_path / f"instellingen-fouten-{device}.png"), full_page=True)

    page.fill("#f-name", f"Formulier College {device}")
    page.fill("#f-brin_codes", "01AB")
    page.fill("#f-duo_student_count", "800")
    page.fill("#f-postcode", "2011ab")
    page.fill("#f-contact_0_email", "jan@forms.test")
    page.click("main form button[type=submit]")
    expect(page.locator("main")).to_contain_text("De instellingen zijn opgeslagen.")
    expect(page.locator("#f-postcode")).to_have_value("2011 AB")
    expect(page.locator("#f-city")).to_have_value("Haarlem")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=str(tmp_path / f"instellingen-{device}.png"), full_page=True)
    page.close()
