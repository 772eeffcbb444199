"""The audit trail through every process (issue 13, capability 6): school A orders budget, a CJP
admin approves it early and records the invoice's payment, school B orders too, the admin
issues a provider an API key. Budget, invoicing and weborders each record their part in their
own database; the gateway's one page merges them by time.

- Instellingen > Geschiedenis shows school A its own entries (who by role, what in Dutch, the
  platform as "Systeem" for the invoice it issued) and nothing of school B, whatever the
  address asks; Beheer > Geschiedenis is closed to it.
- Beheer > Geschiedenis shows a CJP admin every school, filtered by school, service, action and
  dates; a date that is no date gets a Dutch message and keeps what was typed.

Every service, the gateway and the SMTP server are their own processes (the session's
`portal` fixture, SQLite), over the real broker.
"""

from __future__ import annotations

import re
import uuid

import httpx
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    wait_for,
)
from ck_testkit.portal import Portal

PASSWORD = "een lang wachtwoord voor de geschiedenis"
ROW = re.compile(r'<tr data-action="([^"]+)"(?: data-school="([^"]+)")?>')


def rows(html: str) -> list[tuple[str, str]]:
    return [(action, school) for action, school in ROW.findall(html)]


def listing(http: httpx.Client, path: str, needed: str) -> str:
    """The page once an entry with this action is on it (invoicing writes its entry when the
    approval event reaches it, a moment after the admin's click)."""

    def probe() -> str | None:
        page = http.get(path)
        assert page.status_code == 200, page.text
        return page.text if f'data-action="{needed}"' in page.text else None

    return wait_for(probe, 30, f"{needed} on {path}")


def test_each_school_sees_its_own_history_and_the_admin_sees_all(portal: Portal) -> None:
    tag = uuid.uuid4().hex[:6]
    holder_a, holder_b = f"bea-{tag}@historie-a.test", f"bob-{tag}@historie-b.test"
    school_a = school_with_password(portal, f"Historie College {tag}", holder_a, PASSWORD)
    school_b = school_with_password(portal, f"Ander Historie {tag}", holder_b, PASSWORD)
    id_a, id_b = str(school_a["school_id"]), str(school_b["school_id"])
    with portal.client() as admin, portal.client() as a, portal.client() as b:
        page_login(admin, portal.admin_email, portal.admin_password)
        provider_id, _key = register_provider(
            admin, f"Theater Historie {tag}", f"{int(tag, 16) % 10**8:08d}"
        )
        page_login(a, holder_a, PASSWORD)
        order_budget(a, collective=10)
        admin_approves_and_records_payment(admin, id_a, "105,00")
        page_login(b, holder_b, PASSWORD)
        order_budget(b, collective=5)

        # School A: its own history, under Instellingen, budget holders only.
        settings = a.get("/instellingen")
        assert 'href="/instellingen/geschiedenis"' in settings.text
        page = listing(a, "/instellingen/geschiedenis", "invoice.paid")
        assert sorted(rows(page)) == sorted(
            [
                ("budget_order.placed", id_a),
                ("budget_order.approved", id_a),
                ("invoice.issued", id_a),
                ("invoice.paid", id_a),
            ]
        )
        assert rows(page)[0][0] == "invoice.paid"  # newest first
        for dutch in (
            "Budgetbestelling geplaatst",
            "Budgetbestelling goedgekeurd",
            "Factuur verstuurd",
            "Betaling van factuur verwerkt",
            "Budgethouder",
            "CJP beheerder",
            "Systeem",
            "€ 105,00",
        ):
            assert dutch in page, dutch
        assert id_b not in page and provider_id not in page
        # Asking for another school changes nothing; the admin's page is closed.
        other = a.get(f"/instellingen/geschiedenis?school={id_b}&dienst=weborders")
        assert {school for _, school in rows(other.text)} == {id_a}
        assert a.get(f"/beheer/geschiedenis?school={id_b}").status_code == 403

        # The CJP admin: every school, with filters.
        of_b = listing(admin, f"/beheer/geschiedenis?school={id_b}", "budget_order.placed")
        assert rows(of_b) == [("budget_order.placed", id_b)]
        issued = admin.get(f"/beheer/geschiedenis?school={id_a}&actie=invoice.issued").text
        assert rows(issued) == [("invoice.issued", id_a)] and "Systeem" in issued
        keys = admin.get("/beheer/geschiedenis?dienst=weborders&actie=api_key.issued").text
        assert rows(keys) and {action for action, _ in rows(keys)} == {"api_key.issued"}
        assert "API-sleutel uitgegeven" in keys
        everything = admin.get("/beheer/geschiedenis").text
        assert {id_a, id_b} <= {school for _, school in rows(everything)}
        bad = admin.get("/beheer/geschiedenis?van=31-02-2026&tot=01-03-2026")
        assert bad.status_code == 422
        assert "Vul een datum in als 14-03-2026." in bad.text
        assert 'value="31-02-2026"' in bad.text and 'value="01-03-2026"' in bad.text
        # A day range in Amsterdam time: the test session runs on 2 March 2026.
        today = admin.get(f"/beheer/geschiedenis?school={id_b}&van=02-03-2026&tot=02-03-2026")
        assert rows(today.text) == [("budget_order.placed", id_b)]
        before = admin.get(f"/beheer/geschiedenis?school={id_b}&tot=01-03-2026")
        assert rows(before.text) == []
