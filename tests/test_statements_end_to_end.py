"""Issue 13, "done when": spending turned into reimbursement statements whose totals match
the schools' ledgers -- through every process of the session's stack (tests/conftest.py's
`portal`), the real broker and the SMTP sink.

Two schools get budget; two providers send weborders; the schools approve them. The payout
periods are closed by invoicing's own scheduler: the test restarts the invoicing process with
its clock moved past the next period end and the close delay (CK_CLOCK_OFFSET_SECONDS,
development mode only; poll of a second), as test_process_mails_end_to_end.py does for the
digest. Then one school cancels an approval that is already on a statement and approves a new
weborder; invoicing is moved past one more period end. Per provider, the statements' totals
(provider API) equal that provider's debits minus credits in both schools' ledgers, every
ledger debit of the provider is on exactly one statement line, and the cancelled approval is a
correction on the later statement. Finally invoicing gets the stack's clock back.

Only invoicing's clock moves; spending is booked at the stack's time, so the "month" is two
payout periods of the scheduler's calendar rather than thirty days of bookings.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from ck_testkit import clocks
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

PASSWORD = "een lang wachtwoord voor uitbetalingen"
FUTURE = clocks.today() + timedelta(days=30)
# Past the next period end (periods end at most four days apart) and the hour's close delay.
STEP = timedelta(days=4, hours=2)


def _restart_invoicing(portal: Portal, offset: timedelta | None) -> None:
    stack = portal.stack
    process = stack.processes["invoicing"]
    stack.stop_service("invoicing")
    if offset:
        process.env["CK_CLOCK_OFFSET_SECONDS"] = repr(offset.total_seconds())
        process.env["INVOICING_PAYOUT_POLL_SECONDS"] = "1"
    else:
        process.env.pop("CK_CLOCK_OFFSET_SECONDS", None)
        process.env.pop("INVOICING_PAYOUT_POLL_SECONDS", None)
    stack.start_service("invoicing")


def _lines_recorded(portal: Portal, references: set[str], entry: str) -> None:
    """Wait until invoicing has recorded a spending line for each reference (its log's
    `payout.line`), so a closing cannot miss a line still in flight."""
    log = portal.stack.log_dir / "invoicing.log"

    def recorded() -> bool | None:
        seen: set[str] = set()
        for raw in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "payout.line" not in raw:
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if record.get("entry") == entry:
                seen.add(str(record.get("reference_id")))
        return True if references <= seen else None

    wait_for(recorded, 30, f"invoicing records the {entry} lines")


def _statements(api: httpx.Client, key: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {key}"}
    listed = api.get("/api/v1/provider/statements", params={"page_size": 100}, headers=auth)
    assert listed.status_code == 200, listed.text
    result = []
    for item in listed.json()["items"]:
        one = api.get(f"/api/v1/provider/statements/{item['statement_id']}", headers=auth)
        assert one.status_code == 200, one.text
        result.append(one.json())
    return result


def _ledger_sum(ledgers: list[list[dict[str, Any]]], provider_name: str) -> tuple[int, list[str]]:
    """What the schools' ledgers say this provider was paid from them (debits minus credits,
    as a positive number) and the descriptions of its debits. A debit reads "Weborder
    <provider>: ...", its cancellation the same behind one "Geannuleerd: "."""
    head = f"Weborder {provider_name}: "
    total, debits = 0, []
    for entries in ledgers:
        for entry in entries:
            text = entry["description"]
            if text.startswith(head):
                assert entry["amount_cents"] < 0, entry
                total -= entry["amount_cents"]
                debits.append(text)
            elif text.startswith("Geannuleerd: " + head):
                assert entry["amount_cents"] > 0, entry
                total -= entry["amount_cents"]
    return total, debits


def test_spending_becomes_statements_that_match_the_ledgers(portal: Portal) -> None:
    tag = uuid.uuid4().hex[:6]
    holders = [f"u1-{tag}@uitbetaal-een.test", f"u2-{tag}@uitbetaal-twee.test"]
    schools = [
        school_with_password(portal, f"Uitbetaal College {tag}", holders[0], PASSWORD),
        school_with_password(portal, f"Tweede Uitbetaal College {tag}", holders[1], PASSWORD),
    ]
    names = [f"Theater Uitbetaal {tag}", f"Museum Uitbetaal {tag}"]
    offset = portal.stack.clock_offset or timedelta(0)
    with portal.client() as admin, portal.client() as api:
        page_login(admin, portal.admin_email, portal.admin_password)
        providers = [
            register_provider(admin, names[0], f"{(int(tag, 16) * 10 + 7) % 10**8:08d}"),
            register_provider(admin, names[1], f"{(int(tag, 16) * 10 + 8) % 10**8:08d}"),
        ]
        tokens = []
        for school, holder in zip(schools, holders, strict=True):
            with portal.client() as http:
                page_login(http, holder, PASSWORD)
                order_budget(http, collective=10)  # 210,00 collective, invoice 105,00
                admin_approves_and_records_payment(admin, str(school["school_id"]), "105,00")
                wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="budget")
            login = api.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
            tokens.append({"Authorization": f"Bearer {login.json()['token']}"})

        def place(provider: int, school: int, cents: int, activity: str) -> str:
            body = {
                "school_number": int(schools[school]["school_number"]),
                "activity": f"{activity} {tag}",
                "activity_date": FUTURE.isoformat(),
                "participants": 20,
                "amount_cents": cents,
                "provider_reference": f"UIT-{activity[:8]}",
            }
            auth = {"Authorization": f"Bearer {providers[provider][1]}"}

            def created() -> httpx.Response | None:
                reply = api.post("/api/v1/provider/weborders", json=body, headers=auth)
                return reply if reply.status_code == 201 else None

            return str(wait_for(created, what="the school known").json()["weborder_id"])

        def approve(school: int, weborder_id: str) -> None:
            base = f"/api/v1/schools/{schools[school]['school_id']}/weborders/{weborder_id}"
            done = api.post(f"{base}/decision", headers=tokens[school], json={"approve": True})
            assert done.status_code == 200, done.text

            def approved() -> bool | None:
                status = api.get(base, headers=tokens[school]).json()["status"]
                assert status in ("in_behandeling", "goedgekeurd"), status
                return True if status == "goedgekeurd" else None

            wait_for(approved, what="the budget's debit")

        # The first period's spending: both providers, both schools.
        first = {
            "a1": (0, 0, 4500, "Voorstelling Hamlet"),
            "a2": (0, 0, 1250, "Workshop decor"),
            "a3": (0, 1, 3000, "Theaterles"),
            "b1": (1, 0, 2200, "Rondleiding"),
            "b2": (1, 1, 1800, "Museumles"),
        }
        ids = {name: place(*spec) for name, spec in first.items()}
        undecided = place(1, 1, 999, "Nooit beslist")  # never approved: on no statement
        for name, (_p, school, _c, _a) in first.items():
            approve(school, ids[name])
        _lines_recorded(portal, set(ids.values()), "debit")

        # Invoicing's scheduler closes the periods that are due.
        try:
            _restart_invoicing(portal, offset + STEP)

            def issued(provider: int, count: int) -> list[dict[str, Any]] | None:
                found = _statements(api, providers[provider][1])
                return found if len(found) >= count else None

            first_a = wait_for(lambda: issued(0, 1), what="provider A's first statement")
            assert sum(s["line_count"] for s in first_a) == 3, first_a

            # The second period: an approval on a statement cancelled, a new one approved.
            cancelled = api.post(
                f"/api/v1/schools/{schools[0]['school_id']}/weborders/{ids['a2']}/cancel-approval",
                headers=tokens[0],
                json={"reason": "Workshop gaat niet door"},
            )
            assert cancelled.status_code == 200, cancelled.text
            ids["a4"] = place(0, 1, 2600, "Dansles")
            approve(1, ids["a4"])
            _lines_recorded(portal, {ids["a2"]}, "credit")
            _lines_recorded(portal, {ids["a4"]}, "debit")
            _restart_invoicing(portal, offset + 2 * STEP)
            wait_for(lambda: issued(0, 2), what="provider A's second statement")
        finally:
            _restart_invoicing(portal, offset)

        # Per provider: statements' totals = debits - credits in the schools' ledgers.
        ledgers = []
        for school, token in zip(schools, tokens, strict=True):
            reply = api.get(f"/api/v1/schools/{school['school_id']}/budget/ledger", headers=token)
            assert reply.status_code == 200, reply.text
            ledgers.append(reply.json()["entries"])
        expected = {
            0: {ids[n] for n in ("a1", "a2", "a3", "a4")},
            1: {ids[n] for n in ("b1", "b2")},
        }
        for provider, (_provider_id, key) in enumerate(providers):
            statements = _statements(api, key)
            ledger_total, ledger_debits = _ledger_sum(ledgers, names[provider])
            assert sum(s["total_cents"] for s in statements) == ledger_total, statements
            for statement in statements:
                assert statement["total_cents"] == sum(
                    x["amount_cents"] for x in statement["lines"]
                )
                assert statement["line_count"] == len(statement["lines"])
            lines = [line for s in statements for line in s["lines"]]
            debit_lines = [x for x in lines if not x["correction"]]
            # Every debit of the provider in a ledger is on exactly one statement line.
            on_statements = Counter(x["description"] for x in debit_lines)
            assert sorted(ledger_debits) == sorted(on_statements.elements()), (
                ledger_debits,
                debit_lines,
            )
            assert Counter(x["reference_id"] for x in debit_lines) == Counter(expected[provider])
            assert undecided not in {x["reference_id"] for x in lines}
        assert _ledger_sum(ledgers, names[0])[0] == 4500 + 3000 + 2600 + 1250 - 1250
        assert _ledger_sum(ledgers, names[1])[0] == 2200 + 1800

        # The cancelled approval: a correction on A's later statement naming the first.
        statements_a = sorted(_statements(api, providers[0][1]), key=lambda s: s["period_end"])
        correction = [(s, x) for s in statements_a for x in s["lines"] if x["correction"]]
        assert len(correction) == 1, statements_a
        holding, line = correction[0]
        assert line["reference_id"] == ids["a2"] and line["amount_cents"] == -1250
        original = next(
            s
            for s in statements_a
            for x in s["lines"]
            if x["reference_id"] == ids["a2"] and not x["correction"]
        )
        assert holding["statement_id"] != original["statement_id"]
        assert line["corrects_number"] == original["number"]
        assert holding["total_cents"] == 2600 - 1250
