"""Ordering budget through to spending it, through every process (R-BUDGET-2..7,
R-INVOICE-1..4): order on the Producten page, change it within the objection period, automatic
approval when the period has passed, the invoice and its PDF under Bestellingen > Budget, the
payment recorded by a CJP admin, the balance credited in Bestellingen > Overzicht, individual
budget assigned to a student who activated a CJP.

The budget service runs in this test's process, in a thread, with a clock the test moves (the
period is 5 working days; nobody waits for it); everything else runs as its own process over the
real broker. Once with SQLite, once with budget and invoicing on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from ck_budget.app import build as build_budget
from ck_budget.settings import get_settings as budget_settings
from ck_devstack import Stack
from ck_runtime.clock import ManualClock, OffsetClock, amsterdam_today
from ck_runtime.service import ServiceRuntime
from ck_testkit.journeys import page_login, path_of, showing, wait_for
from ck_testkit.portal import Portal, csrf_from, mail_text
from ck_testkit.rosters import student_xlsx
from openpyxl import load_workbook

T = TypeVar("T")
ADMIN = "beheer@cjp.test"
HOLDER = "bea@nova.test"
PASSWORD = "een lang wachtwoord voor Nova"
COMPONENTS = ("smtp", "accounts", "roster", "membership", "invoicing", "notifier", "gateway")


@contextmanager
def budget_service(amqp_url: str, database_url: str, clock: ManualClock) -> Iterator[None]:
    """The budget service as it runs in production (ServiceRuntime), on a loop of its own."""
    settings = budget_settings(
        amqp_url=amqp_url, database_url=database_url, approval_poll_seconds=0.1
    )
    ready = threading.Event()
    failure: list[BaseException] = []
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        runtime = ServiceRuntime(build_budget(settings, clock=clock))
        await runtime.start()
        ready.set()
        try:
            await stop.wait()
        finally:
            await runtime.stop()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="budget-service", daemon=True)
    thread.start()
    ready.wait(60)
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        loop, stop = loop_and_stop[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def set_password(portal: Portal) -> None:
    welcome = portal.wait_for_mail(HOLDER)
    found = re.search(r"https?://\S+/wachtwoord-instellen\?token=([\w-]+)", mail_text(welcome))
    assert found
    with portal.client() as http:
        page = http.get(path_of(found.group(0)))
        done = http.post(
            "/wachtwoord-instellen",
            data={
                "token": found.group(1),
                "password": PASSWORD,
                "password_repeat": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200, done.text


def order(http: httpx.Client, collective: int, individual: int, order_id: str = "") -> str:
    """Fill the form, check, confirm (the manual's steps 3 and 4). The confirmation's text."""
    form = http.get(f"/producten/bestellingen/{order_id}/wijzigen" if order_id else "/producten")
    assert form.status_code == 200, form.text
    fields = {
        "collectief": str(collective),
        "individueel": str(individual),
        "referentie": "PO-2026-17",
        "csrf_token": csrf_from(form.text),
    }
    if order_id:
        fields["bestelling"] = order_id
    check = http.post("/producten/controleren", data=fields)
    assert check.status_code == 200, check.text
    done = http.post("/producten/bestellen", data={**fields, "csrf_token": csrf_from(check.text)})
    assert done.status_code == 303, done.text
    return check.text


def assign(http: httpx.Client, data: dict[str, str]) -> httpx.Response:
    """Budget toewijzen in its two steps (issue 14): the totals of the selection, then the
    confirmation with the fields the check page carries. The check's answer when it refuses."""
    page = http.get("/bestellingen/toewijzen")
    check = http.post("/bestellingen/toewijzen", data={**data, "csrf_token": csrf_from(page.text)})
    if check.status_code != 200:
        return check
    form = check.text[check.text.index('action="/bestellingen/toewijzen/bevestigen"') :]
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    carried: dict[str, list[str]] = {}
    for name, value in fields:
        carried.setdefault(name, []).append(unescape(value))
    return http.post("/bestellingen/toewijzen/bevestigen", data=carried)


def form_values(html: str) -> dict[str, str]:
    """The text inputs and text areas of a page's form, as shown (entities undone)."""
    inputs = r'<input id="f-[^"]+" name="([^"]+)" type="[^"]+" value="([^"]*)"'
    areas = r'<textarea id="f-[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>'
    found = re.findall(inputs, html) + re.findall(areas, html)
    return {name: unescape(value) for name, value in found}


def pdf_text(content: bytes, folder: Path) -> str:
    path = folder / "factuur.pdf"
    path.write_bytes(content)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_order_approval_invoice_payment_and_allocation(
    database: str,
    private_amqp_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    school_calendar: OffsetClock,
) -> None:
    if database == "postgresql":
        fresh = request.getfixturevalue("fresh_postgres")
        budget_url, urls = fresh(), {"invoicing": fresh()}
    else:
        budget_url, urls = f"sqlite+aiosqlite:///{tmp_path / 'budget.sqlite3'}", {}
    # The budget service in this process runs on a clock of its own, moved past the objection
    # period below; the stack's processes (invoicing) stay on the session's calendar.
    clock = ManualClock(school_calendar.now())
    admin_password = secrets.token_urlsafe(16)
    with (
        Stack(
            tmp_path / "stack", private_amqp_url, database_urls=urls, components=COMPONENTS
        ) as stack,
        budget_service(private_amqp_url, budget_url, clock),
    ):
        stack.run_command("accounts", "create-admin", "--email", ADMIN, "--name", "CJP beheer",
                          input_text=admin_password + "\n")  # fmt: skip
        portal = Portal(stack, ADMIN, admin_password)
        school = portal.register_school("Nova College", HOLDER)
        school_id = str(school["school_id"])
        set_password(portal)
        with portal.client() as http, portal.client() as admin:
            page_login(http, HOLDER, PASSWORD)
            page_login(admin, ADMIN, admin_password)

            # Instellingen: the postal address (issue 14, R-SCHOOL-1), printed on the invoice.
            settings_page = http.get("/instellingen").text
            saved = http.post(
                "/instellingen",
                data={
                    **form_values(settings_page),
                    "street": "Kerkstraat 12a",
                    "postcode": "2011ab",
                    "city": "Haarlem",
                    "csrf_token": csrf_from(settings_page),
                },
            )
            assert saved.status_code == 303, saved.text
            assert 'value="2011 AB"' in http.get("/instellingen").text

            # Producten: the school's data prefilled, the yellow block, the order (R-BUDGET-2).
            form = wait_for(
                showing(http, "/producten", "gele-blok"),
                what="the budget service knows the school",
            )
            assert "1001" in form.text and 'id="gele-blok"' in form.text
            # The DUO count is the collective count's starting value (issue 14).
            assert re.search(r'name="collectief"[^>]*value="1001"', form.text), form.text
            checked = order(http, collective=10, individual=5)
            assert "€ 117,50" in checked  # 10 x 10,50 + 5 x 2,50
            listed = http.get("/producten?gedaan=besteld").text
            assert "In bezwaartermijn" in listed and "Uw bestelling is geplaatst" in listed
            found = re.search(r"/producten/bestellingen/([0-9a-f-]{36})/wijzigen", listed)
            assert found, "the order can be changed within its period"

            # Changed within the period (R-BUDGET-3): the manual's example, 10 + 10.
            changed = order(http, collective=10, individual=10, order_id=found.group(1))
            assert "€ 130,00" in changed and "€ 210,00" in changed

            # Five working days later the scheduler approves it; invoicing makes the invoice.
            clock.advance(timedelta(days=9))
            invoices = wait_for(
                showing(http, "/bestellingen/budget", "download factuur"),
                what="the order approved and invoiced",
            )
            number = re.search(r"#(\d{8})", invoices.text)
            assert number and "€ 130,00" in invoices.text and "Open" in invoices.text
            assert "Goedgekeurd" in http.get("/producten").text

            # Download factuur: the PDF with the school's name and Dutch amounts (R-INVOICE-2).
            link = re.search(r'href="(/bestellingen/budget/[0-9a-f-]{36}/factuur)"', invoices.text)
            assert link
            pdf = http.get(link.group(1))
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            text = pdf_text(pdf.content, tmp_path)
            for expected in (
                number.group(1),
                "Nova College",
                "€ 130,00",
                "PO-2026-17",
                "Kerkstraat 12a",
                "2011 AB",
                "Haarlem",
            ):
                assert expected in text, expected

            # A CJP admin records the payment (R-INVOICE-4); recording it twice changes nothing.
            orders_page = admin.get(f"/beheer/scholen/{school_id}/bestellingen")
            pay = re.search(r'action="(/beheer/scholen/[^"]+/betaling)"', orders_page.text)
            assert pay, orders_page.text
            # Paid "today" as the invoicing process sees it: the stack's clock (the session's
            # calendar), not the budget service's ManualClock, moved 9 days on.
            payment = {
                "bedrag": "130,00",
                "datum": amsterdam_today(school_calendar).isoformat(),
                "csrf_token": csrf_from(orders_page.text),
            }
            # A refusal is shown on the answer itself (422), never carried in the address: a
            # link with ?fout= (or an unknown ?gedaan=) puts no text of its own on the page.
            wrong = admin.post(pay.group(1), data={**payment, "bedrag": "1,00"})
            assert wrong.status_code == 422, wrong.text
            assert "Het betaalde bedrag (€ 1,00) is niet gelijk aan het factuurbedrag" in wrong.text
            assert "fout=" not in wrong.headers.get("location", "")
            no_date = admin.post(pay.group(1), data={**payment, "datum": "morgen"})
            assert no_date.status_code == 422
            assert "Vul de betaaldatum in als jjjj-mm-dd." in no_date.text
            planted = admin.get(
                f"/beheer/scholen/{school_id}/bestellingen",
                params={"fout": "Uw account is geblokkeerd: bel 0900-1234", "gedaan": "Bel 0900"},
            )
            assert planted.status_code == 200
            assert "0900" not in planted.text
            assert "alert-error" not in planted.text and "alert-ok" not in planted.text
            assert admin.post(pay.group(1), data=payment).status_code == 303
            assert admin.post(pay.group(1), data=payment).status_code == 303

            # The balance is credited once (R-BUDGET-5, R-BUDGET-7).
            # Waits for the payment's ledger line: "€ 210,00" alone is on the page before the
            # payment too (the order's total), and a loaded machine once read it too early.
            overview = wait_for(
                showing(http, "/bestellingen/overzicht", "betaald: collectief budget"),
                what="the collective budget credited",
            )
            assert "€ 210,00" in overview.text
            assert overview.text.count("betaald: collectief budget") == 1
            assert "€ 105,00" in overview.text  # individual budget, assignable

            # A student activates a CJP; the school assigns individual budget (R-BUDGET-6).
            token = http.post(
                "/api/v1/auth/login", json={"email": HOLDER, "password": PASSWORD}
            ).json()["token"]
            api = {"Authorization": f"Bearer {token}"}
            rows = [
                ("Sanne", "de Boer", "sanne@nova.test", "", "Amsterdam", 1, "Media", "", ""),
                ("Ali", "Yilmaz", "ali@nova.test", "", "Amsterdam", 2, "Zorg", "", ""),
            ]
            uploaded = http.post(
                f"/api/v1/schools/{school_id}/roster/students/upload",
                headers=api,
                files={"file": ("leerlingen.xlsx", student_xlsx(rows))},
                data={"confirmed": "true"},
            )
            assert uploaded.status_code == 200, uploaded.text
            invited = http.post(
                f"/api/v1/schools/{school_id}/roster/students/invitations",
                headers=api,
                json={"all": True},
            )
            assert invited.status_code == 202, invited.text
            code = re.search(r"activeren\?code=([\w-]+)", mail_text(portal.wait_for_mail(
                "sanne@nova.test")))  # fmt: skip
            assert code
            activated = http.post(
                "/api/v1/activations",
                json={
                    "code": code.group(1),
                    "voornaam": "Sanne",
                    "achternaam": "de Boer",
                    "email": "sanne@nova.test",
                    "geboortedatum": "2006-05-17",
                },
            )
            assert activated.status_code == 200, activated.text

            def sanne_listed() -> tuple[str, str] | None:
                page = http.get("/bestellingen/toewijzen")
                found = re.search(r'name="persoon" value="([0-9a-f-]{36})"', page.text)
                return (found.group(1), page.text) if found and "Boer" in page.text else None

            person_id, page = wait_for(sanne_listed, what="the active student listed")
            assert "Yilmaz" not in page  # not active: no budget for them

            def allocated() -> httpx.Response | None:
                done = assign(http, {"bedrag": "10,50", "persoon": person_id})
                # The budget service hears of the activation through the broker.
                return done if done.status_code == 200 else None

            done = wait_for(allocated, what="the budget service knows the active student")
            assert "€ 10,50 toegewezen aan 1 student(en)" in done.text
            assert "Nog toe te wijzen: € 94,50" in done.text
            # Issue 14: the totals of the selection before anything is assigned.
            page = http.get("/bestellingen/toewijzen")
            check = http.post(
                "/bestellingen/toewijzen",
                data={"bedrag": "2,00", "persoon": person_id, "csrf_token": csrf_from(page.text)},
            )
            assert check.status_code == 200, check.text
            assert "Er is nog niets toegewezen." in check.text
            assert re.search(r'id="selectie-totaal"><strong>€ 2,00<', check.text), check.text
            assert re.search(r'id="selectie-daarna">€ 92,50<', check.text), check.text
            assert "€ 94,50" in http.get("/bestellingen/overzicht").text  # nothing assigned yet
            # Per student: assigned, spent, left (nothing spent yet), and the page's totals.
            shown = http.get("/bestellingen/toewijzen").text
            assert re.search(r'id="totaal-toegewezen">€ 10,50<', shown), shown
            assert re.search(r'id="totaal-over">€ 10,50<', shown), shown
            # Never beyond what is assignable: all or nothing, with a clear message.
            refused = assign(http, {"bedrag": "100,00", "persoon": person_id})
            assert refused.status_code == 409, refused.text
            ledger = http.get("/bestellingen/overzicht").text
            assert "€ 94,50" in ledger

            # Everyone matching the filter, however many pages: Ali activates too, then both.
            code = re.search(r"activeren\?code=([\w-]+)", mail_text(portal.wait_for_mail(
                "ali@nova.test")))  # fmt: skip
            assert code
            ali = http.post(
                "/api/v1/activations",
                json={
                    "code": code.group(1),
                    "voornaam": "Ali",
                    "achternaam": "Yilmaz",
                    "email": "ali@nova.test",
                    "geboortedatum": "2005-11-02",
                },
            )
            assert ali.status_code == 200, ali.text
            wait_for(showing(http, "/bestellingen/toewijzen", "Yilmaz"), what="Ali listed")

            def both() -> httpx.Response | None:
                done = assign(http, {"bedrag": "5,00", "iedereen": "ja", "status": "actief"})
                return done if done.status_code == 200 else None

            done = wait_for(both, what="the budget service knows both active students")
            assert "€ 10,00 toegewezen aan 2 student(en)" in done.text, done.text
            assert "Nog toe te wijzen: € 84,50" in done.text

            # Filters like the people list (issue 14): any column, the status.
            media = http.get("/bestellingen/toewijzen", params={"opleiding": "medi"}).text
            assert "Boer" in media and "Yilmaz" not in media
            assert re.search(r'id="totaal-toegewezen">€ 15,50<', media), media
            nieuw = http.get("/bestellingen/toewijzen", params={"status": "nieuw"}).text
            assert "Boer" not in nieuw and "Yilmaz" not in nieuw
            # The export: every student matching the filter with assigned, spent and left.
            export = http.get("/bestellingen/toewijzen/export.xlsx", params={"status": "actief"})
            assert export.status_code == 200, export.text
            assert "budget_toewijzingen_" in export.headers["content-disposition"]
            sheet = load_workbook(io.BytesIO(export.content)).active
            rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
            assert rows[0][-3:] == ("Toegewezen", "Besteed", "Over")
            by_name = {row[1]: row[-3:] for row in rows[1:-1]}
            assert by_name == {"de Boer": (15.5, 0, 15.5), "Yilmaz": (5, 0, 5)}, rows
            assert rows[-1][0] == "Totaal" and rows[-1][-3:] == (20.5, 0, 20.5)
            # The same figures in the JSON API, by person id.
            figures = http.get(f"/api/v1/schools/{school_id}/budget/allocations", headers=api)
            assert figures.status_code == 200, figures.text
            body = figures.json()
            assert (body["allocated_cents"], body["spent_cents"], body["left_cents"]) == (
                2050,
                0,
                2050,
            )
            assert {i["person_id"]: i["left_cents"] for i in body["items"]}[person_id] == 1550
