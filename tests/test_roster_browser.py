"""Beheer studenten in a real browser (Debian's Chromium, driven by Playwright), against the
whole system as separate processes: download the template, fill it in, validate it red and
then green, upload it with the confirmation, filter the list and remove one student
(R-ROSTER-1..7)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ck_testkit.browser import BROWSER_TEST
from ck_testkit.portal import Portal, link_in
from openpyxl import load_workbook

pytestmark = BROWSER_TEST

EMAIL = "roster@school.test"
PASSWORD = "wachtwoord voor de studentenlijst"


def _student(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "voornaam": f"Student{i}",
        "achternaam": f"Jansen{i}",
        "email": f"student{i}@leerling.test",
        "mobiel nummer": f"+3161234567{i}",
        "locatienaam": "Haarlem",
        "studiejaar": 1 + i % 3,
        "opleiding": "Podium- en evenemententechniek",
        "klas": f"PET{i}",
        "BRIN": "25LG",
    }
    row.update(changes)
    return row


def fill_template(template: Path, target: Path, rows: list[dict[str, Any]]) -> None:
    """Fill the downloaded template below its header and hint rows, by header name."""
    book = load_workbook(template)
    sheet = book.active
    assert sheet is not None
    headers = [str(cell.value) for cell in sheet[1] if cell.value is not None]
    for offset, row in enumerate(rows):
        for position, header in enumerate(headers, start=1):
            sheet.cell(row=3 + offset, column=position, value=row.get(header, ""))
    book.save(target)


def test_validate_upload_filter_and_remove_students(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    portal.register_school("Roster College", EMAIL)
    link = link_in(portal.wait_for_mail(EMAIL))

    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(link)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_repeat", PASSWORD)
    page.click("button[type=submit]")
    page.goto(portal.url + "/inloggen")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")

    page.click("nav >> text=Beheer studenten")
    expect(page.locator("h1")).to_have_text("Beheer studenten")
    expect(page.locator("#aantal")).to_contain_text("0 studenten")
    page.click("a:has-text('validatietool')")
    with page.expect_download() as info:
        page.click("a:has-text('download template')")
    download = info.value
    assert download.suggested_filename == "template_leerlingen.xlsx"
    template = tmp_path / "template_leerlingen.xlsx"
    download.save_as(template)

    # Three mistakes: a 06-number, studiejaar 9, and an e-mail address used twice.
    filled = tmp_path / "leerlingen.xlsx"
    bad_rows = [
        _student(1, **{"mobiel nummer": "0612345678"}),
        _student(2, studiejaar=9),
        _student(3),
        _student(4, email="student3@leerling.test"),
    ]
    fill_template(template, filled, bad_rows)
    page.set_input_files("#f-bestand", str(filled))
    page.click("button:has-text('valideer bestand')")
    # The file became a job: its page refreshes itself until the report is there (issue 14).
    expect(page).to_have_url(re.compile(r"/beheer-studenten/taken/[0-9a-f-]{36}$"))
    expect(page.locator("#resultaat")).to_have_class(re.compile("alert-error"))
    errors = page.locator("table.errors")
    expect(errors).to_contain_text("mobiel nummer")
    expect(errors).to_contain_text("studiejaar")
    expect(errors).to_contain_text("email")
    assert errors.locator("tbody tr").count() >= 3

    fill_template(template, filled, [_student(i) for i in range(1, 5)])
    page.set_input_files("#f-bestand", str(filled))
    page.click("button:has-text('valideer bestand')")
    expect(page.locator("#resultaat")).to_have_class(re.compile("alert-ok"))
    expect(page.locator("#resultaat")).to_contain_text("4 leerling(en) gevalideerd!")

    page.click("main >> a:has-text('upload bestand')")
    page.set_input_files("#f-bestand", str(filled))
    page.click("button:has-text('afronden')")  # without the checkbox: refused
    expect(page.locator("#e-bevestigd")).to_contain_text("Er is niets gewijzigd.")
    page.set_input_files("#f-bestand", str(filled))
    page.check("#f-bevestigd")
    page.click("button:has-text('afronden')")
    expect(page).to_have_url(re.compile(r"/beheer-studenten/taken/[0-9a-f-]{36}$"))
    expect(page.locator("main")).to_contain_text("De upload is afgerond.")
    expect(page.locator("#toegevoegd")).to_have_text("4")

    page.click("a:has-text('Bekijk de lijst')")
    expect(page.locator("#aantal")).to_contain_text("4 studenten")
    expect(page.locator("table.roster tbody tr")).to_have_count(4)

    page.fill("#filter-achternaam", "jansen3")
    page.click("button:has-text('Filter')")
    expect(page.locator("#aantal")).to_contain_text("1 student")
    expect(page).to_have_url(re.compile(r"achternaam=jansen3"))
    expect(page.locator("table.roster tbody")).to_contain_text("Jansen3")

    page.click("table.roster a:has-text('verwijderen')")  # asks first (issue 14)
    expect(page.locator("h1")).to_have_text("Weet u het zeker?")
    expect(page.locator("#gevolg")).to_contain_text(
        "Jansen3 wordt verwijderd uit Beheer studenten."
    )
    page.click("#bevestig")
    expect(page.locator("main")).to_contain_text("De student is verwijderd.")
    expect(page.locator("#aantal")).to_contain_text("3 studenten")
    expect(page.locator("table.roster tbody")).not_to_contain_text("Jansen3")

    page.click("a[title='Sorteer achternaam aflopend']")
    expect(page.locator("table.roster tbody tr").first).to_contain_text("Jansen4")
    page.screenshot(path=str(tmp_path / "beheer-studenten.png"), full_page=True)
    assert not [e for e in console_errors if "Content Security Policy" in e]
