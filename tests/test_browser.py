"""The portal in a real browser (Debian's Chromium, driven by Playwright): set the password
from the welcome mail, log in, edit Instellingen, log out."""

from __future__ import annotations

from pathlib import Path

from ck_testkit.browser import BROWSER_TEST
from ck_testkit.portal import Portal, link_in

pytestmark = BROWSER_TEST


def test_log_in_edit_settings_log_out(portal: Portal, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    school = portal.register_school("Browser College", "browser@school.test")
    link = link_in(portal.wait_for_mail("browser@school.test"))
    password = "wachtwoord voor de browser"

    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    page.goto(link)
    page.fill("#f-password", password)
    page.fill("#f-password_repeat", password)
    page.click("button[type=submit]")
    expect(page.locator("main")).to_contain_text("Inloggen")

    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", "browser@school.test")
    page.fill("#f-password", "een fout wachtwoord")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Onjuist e-mailadres of wachtwoord")

    page.fill("#f-email", "browser@school.test")
    page.fill("#f-password", password)
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text(f"School {school['school_number']}")
    for item in (
        "Bestellingen",
        "Producten",
        "Beheer studenten",
        "Beheer docenten",
        "Docenten+",
        "Instellingen",
        "Support",
    ):
        expect(page.locator("nav")).to_contain_text(item)

    page.click("nav >> text=Instellingen")
    page.fill("#f-duo_student_count", "abc")
    page.click("button:has-text('Opslaan')")
    expect(page.locator("body")).to_contain_text("heel getal")
    assert page.input_value("#f-duo_student_count") == "abc"  # the input was kept

    page.fill("#f-duo_student_count", "1234")
    page.fill("#f-default_order_reference", "PO-2026-77")
    page.click("button:has-text('Opslaan')")
    expect(page.locator("body")).to_contain_text("opgeslagen")
    page.reload()
    assert page.input_value("#f-duo_student_count") == "1234"
    assert page.input_value("#f-default_order_reference") == "PO-2026-77"
    page.screenshot(path=str(tmp_path / "instellingen.png"), full_page=True)

    page.click("button:has-text('Uitloggen')")
    expect(page).to_have_url(portal.url + "/inloggen")
    page.goto(portal.url + "/instellingen")
    expect(page).to_have_url(portal.url + "/inloggen?next=/instellingen")
    assert not [e for e in console_errors if "Content Security Policy" in e]
