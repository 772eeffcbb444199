"""Docent+ in a real browser (Debian's Chromium, driven by Playwright), against the whole
system as separate processes with a real SMTP sink (R-ROLE-2, R-MEMBER-2/4, R-ROSTER-7):

the budget holder uploads a teacher roster and invites the teachers; a teacher activates the
CJP on /activeren with the code from the mail; the budget holder gives the teacher Docent+
access under Docenten+; the teacher sets a password with the mailed link, logs in, sees
Beheer studenten, and is refused (403) a roster upload and a change of Instellingen; revoking
the access ends the teacher's session at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from ck_notifier.smtp_sink import read_mails
from ck_testkit.browser import BROWSER_TEST
from ck_testkit.portal import Portal, csrf_from, link_in, mail_text
from ck_testkit.rosters import teacher_xlsx

pytestmark = BROWSER_TEST

HOLDER_EMAIL = "budget@docentplus-college.test"
HOLDER_PASSWORD = "wachtwoord van de budgethouder"
TEACHER_EMAIL = "tessa.terpstra@docentplus-college.test"
TEACHER_PASSWORD = "wachtwoord van de docent plus"
FORBIDDEN = "U heeft geen toegang tot deze gegevens."


def wait_for_mail(
    portal: Portal, to: str, matches: Callable[[EmailMessage], bool], deadline: float = 30
) -> EmailMessage:
    """The first mail to `to` that `matches` (one address gets several mails here)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for mail in read_mails(portal.stack.mail_dir):
            if str(mail["To"]) == to and matches(mail):
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no such mail arrived within {deadline} s")


def subject_has(word: str) -> Callable[[EmailMessage], bool]:
    return lambda mail: word in str(mail["Subject"])


def log_in(page: object, portal: Portal, email: str, password: str) -> None:
    page.goto(portal.url + "/inloggen")  # type: ignore[attr-defined]
    page.fill("#f-email", email)  # type: ignore[attr-defined]
    page.fill("#f-password", password)  # type: ignore[attr-defined]
    page.click("main button[type=submit]")  # type: ignore[attr-defined]


def set_password(page: object, link: str, password: str) -> None:
    page.goto(link)  # type: ignore[attr-defined]
    page.fill("#f-password", password)  # type: ignore[attr-defined]
    page.fill("#f-password_repeat", password)  # type: ignore[attr-defined]
    page.click("main button[type=submit]")  # type: ignore[attr-defined]


def test_budget_holder_grants_and_revokes_docent_plus(  # type: ignore[no-untyped-def]
    portal: Portal, browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    school = portal.register_school("Docent Plus College", HOLDER_EMAIL)

    # --- the budget holder: password, teacher roster, invitations ----------------------------
    holder_context = browser.new_context()
    holder = holder_context.new_page()
    console_errors: list[str] = []
    holder.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    set_password(holder, link_in(portal.wait_for_mail(HOLDER_EMAIL)), HOLDER_PASSWORD)
    log_in(holder, portal, HOLDER_EMAIL, HOLDER_PASSWORD)
    expect(holder.locator("body")).to_contain_text(f"School {school['school_number']}")

    roster = tmp_path / "docenten.xlsx"
    roster.write_bytes(
        teacher_xlsx(
            [
                ("Tessa", "Terpstra", TEACHER_EMAIL, "", "Haarlem", "Muziek"),
                ("Ruud", "Rozendaal", "", "", "Haarlem", "Dans"),
            ]
        )
    )
    holder.click("nav >> text=Beheer docenten")
    holder.click("main >> a:has-text('upload bestand')")
    holder.set_input_files("#f-bestand", str(roster))
    holder.check("#f-bevestigd")
    holder.click("button:has-text('afronden')")
    expect(holder.locator("main")).to_contain_text("De upload is afgerond.")
    expect(holder.locator("#toegevoegd")).to_have_text("2")

    holder.goto(portal.url + "/beheer-docenten/uitnodigen")
    holder.check("input[name=keuze][value=filter]")  # all teachers
    holder.click("button:has-text('verstuur uitnodiging')")
    expect(holder.locator("main")).to_contain_text("2 uitnodigingen worden verstuurd")

    # --- the teacher activates the CJP with the code from the invitation -----------------------
    invitation = wait_for_mail(portal, TEACHER_EMAIL, subject_has("uitnodiging"))
    activation_link = re.search(r"https?://\S+(/activeren\?code=\S+)", mail_text(invitation))
    assert activation_link, "the invitation has no activation link"
    teacher_context = browser.new_context()
    teacher = teacher_context.new_page()
    # The path of the link on this stack's portal (the stack's port is not the default one).
    teacher.goto(portal.url + activation_link.group(1))
    assert teacher.input_value("#f-code")  # the link fills in the code
    teacher.fill("#f-voornaam", "Tessa")
    teacher.fill("#f-achternaam", "Terpstra")
    teacher.fill("#f-email", TEACHER_EMAIL)
    teacher.fill("#f-geboortedatum", "1985-04-12")
    teacher.click("main button[type=submit]")
    expect(teacher.locator("main")).to_contain_text("Je CJP is geactiveerd")

    # --- the budget holder gives Docent+ access ------------------------------------------------
    holder.click("nav >> text=Docenten+")
    expect(holder.locator("h1")).to_have_text("Docenten+")
    row = holder.locator("table.docent-plus tbody tr", has_text="Terpstra")
    for _ in range(60):  # the activation reaches roster and accounts as events
        if row.count() == 1:
            break
        time.sleep(0.5)
        holder.reload()
    expect(row).to_contain_text("Nee")
    expect(holder.locator("table.docent-plus")).not_to_contain_text("Rozendaal")  # not active
    row.locator("button:has-text('toegang geven')").click()
    expect(holder.locator("#melding")).to_contain_text("Docent+-toegang is gegeven.")
    expect(row).to_contain_text("Ja, sinds")

    # --- the teacher: mail, password, log-in, what a Docent+ may and may not do ----------------
    access_mail = wait_for_mail(portal, TEACHER_EMAIL, subject_has("Docent+"))
    assert "Docent Plus College" in mail_text(access_mail)
    set_password(teacher, link_in(access_mail), TEACHER_PASSWORD)
    log_in(teacher, portal, TEACHER_EMAIL, TEACHER_PASSWORD)
    expect(teacher.locator(".user-name")).to_have_text("Tessa Terpstra")
    nav = teacher.locator("nav.main-menu")
    expect(nav).to_contain_text("Beheer studenten")
    expect(nav).not_to_contain_text("Docenten+")
    expect(nav).not_to_contain_text("Producten")
    expect(nav).not_to_contain_text("Beheer docenten")
    teacher.click("nav >> text=Beheer studenten")
    expect(teacher.locator("h1")).to_have_text("Beheer studenten")
    expect(teacher.locator("main")).not_to_contain_text("upload bestand")

    refused_form = teacher.goto(portal.url + "/beheer-studenten/upload")
    assert refused_form is not None and refused_form.status == 403
    expect(teacher.locator("main")).to_contain_text(FORBIDDEN)
    teacher.goto(portal.url + "/beheer-studenten")
    token = csrf_from(teacher.content())
    students = teacher_xlsx([])  # any file: the role is refused before the file is read
    upload = teacher_context.request.post(
        portal.url + "/beheer-studenten/upload",
        multipart={
            "csrf_token": token,
            "bevestigd": "ja",
            "bestand": {
                "name": "leerlingen.xlsx",
                "mimeType": "application/octet-stream",
                "buffer": students,
            },
        },
        max_redirects=0,
    )
    assert upload.status == 403
    assert FORBIDDEN in upload.text()

    teacher.click("nav >> text=Instellingen")
    expect(teacher.locator("main")).to_contain_text("alleen de budgethouder kan ze wijzigen")
    expect(teacher.locator("main button:has-text('Opslaan')")).to_have_count(0)
    settings = teacher_context.request.post(
        portal.url + "/instellingen",
        form={
            "csrf_token": csrf_from(teacher.content()),
            "name": "Gekaapt College",
            "brin_codes": "25LG",
            "duo_student_count": "1",
        },
        max_redirects=0,
    )
    assert settings.status == 403
    docenten_plus = teacher.goto(portal.url + "/docenten-plus")
    assert docenten_plus is not None and docenten_plus.status == 403

    # --- revocation ends the teacher's session at once -----------------------------------------
    holder.goto(portal.url + "/docenten-plus")
    holder.locator("table.docent-plus tbody tr", has_text="Terpstra").locator(
        "a:has-text('toegang intrekken')"
    ).click()
    # The first click only asks (issue 14): the teacher is still logged in.
    expect(holder.locator("#gevolg")).to_contain_text("Tessa Terpstra verliest de Docent+-toegang")
    teacher.goto(portal.url + "/beheer-studenten")
    expect(teacher.locator("h1")).to_have_text("Beheer studenten")
    holder.click("#bevestig")
    expect(holder.locator("#melding")).to_contain_text("Docent+-toegang is ingetrokken.")
    teacher.goto(portal.url + "/beheer-studenten")
    expect(teacher).to_have_url(re.compile(r"/inloggen"))
    log_in(teacher, portal, TEACHER_EMAIL, TEACHER_PASSWORD)
    expect(teacher.locator("body")).to_contain_text("Onjuist e-mailadres of wachtwoord")
    holder.screenshot(path=str(tmp_path / "docenten-plus.png"), full_page=True)
    assert not [e for e in console_errors if "Content Security Policy" in e]
    holder_context.close()
    teacher_context.close()
