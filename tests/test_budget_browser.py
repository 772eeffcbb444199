"""The order form in a real browser (R-BUDGET-2): the yellow block shows the collective budget,
the individual budget and the invoice total at once as the counts are typed, from the
programme's rates (no round trip); checking and confirming places the order."""

from __future__ import annotations

from pathlib import Path

from ck_testkit.browser import BROWSER_TEST
from ck_testkit.portal import Portal, link_in

pytestmark = BROWSER_TEST

HOLDER = "yellow@block.test"
PASSWORD = "wachtwoord voor het gele blok"


def test_the_yellow_block_follows_the_counts(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    portal.register_school("Geel College", HOLDER)
    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(link_in(portal.wait_for_mail(HOLDER)))
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_repeat", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", HOLDER)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")

    # The budget service hears of the new school through the broker.
    for _ in range(150):
        page.goto(portal.url + "/producten")
        if page.locator("#gele-blok").count():
            break
        page.wait_for_timeout(200)
    console_errors.clear()  # the 404s while the budget service did not know the school yet
    block = page.locator("#gele-blok")
    # Issue 14: the collective count starts at the school's DUO count (1001 students).
    expect(page.locator("#f-collectief")).to_have_value("1001")
    expect(page.locator("#blok-collectief")).to_have_text("€ 21.021,00")
    expect(block).to_contain_text("€ 0,00")  # nothing individual yet

    page.fill("#f-collectief", "10")
    expect(page.locator("#blok-collectief")).to_have_text("€ 210,00")
    expect(page.locator("#blok-factuur")).to_have_text("€ 105,00")
    page.fill("#f-individueel", "10")
    expect(page.locator("#blok-individueel")).to_have_text("€ 105,00")
    expect(page.locator("#blok-factuur")).to_have_text("€ 130,00")  # the manual's example
    page.fill("#f-collectief", "1500")
    expect(page.locator("#blok-collectief")).to_have_text("€ 31.500,00")
    expect(page.locator("#blok-factuur")).to_have_text("€ 15.775,00")
    page.screenshot(path=str(tmp_path / "producten.png"), full_page=True)

    page.fill("#f-collectief", "10")
    page.click("main form.order-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Controleer uw bestelling")
    expect(page.locator("main")).to_contain_text("€ 130,00")
    page.click("main button:has-text('Bevestig')")
    expect(page.locator("main")).to_contain_text("Uw bestelling is geplaatst")
    expect(page.locator("main table.list")).to_contain_text("In bezwaartermijn")
    assert not console_errors, console_errors
