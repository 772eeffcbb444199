"""A removed person leaves nothing behind (R-AVG-2, R-ROSTER-7, issue 10 capability 3).

Through every process (the session's `portal` stack on SQLite, and a stack of its own on
PostgreSQL): a school uploads a student with a distinctive name, e-mail address and phone
number, invites her; she activates (a card number); the school gets individual budget and
assigns her some; a provider charges her card; a teacher writes a note about her in her
dossier. Then the school removes her. Once every service has handled the removal (their log
says so, with the removal's correlation id) nothing of her may be found:

- SQLite: the raw bytes of every service's database file, its -wal and -shm files;
- PostgreSQL: every row of every table of every service's database, as text;
- both: every log file of the stack;

looking for her first name, last name, e-mail address (and its local part), phone number
(with and without the country code), birth date and card number, case-insensitively, as
UTF-8, JSON-escaped and UTF-16. No retention window is waited for and no retention pass is
triggered: the design erases at once (the removal's handlers, the outbox blanking a body at
publication, the notifier an address at sending, and SQLite's WAL scrubbed after each).

Not scanned: the SMTP sink's mail folder (the mails were delivered: that is the member's
mailbox, outside the portal) and the broker (queues hold no consumed message). PostgreSQL's
dead tuples stay in the table files until VACUUM reclaims them (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ck_devstack import Stack
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    wait_for,
)
from ck_testkit.portal import Portal, mail_text
from ck_testkit.rosters import student_xlsx
from ck_testkit.traces import forms_of, sqlite_files, traces

PASSWORD = "een lang wachtwoord voor retentie"
SERVICES = ("accounts", "roster", "membership", "budget", "invoicing", "weborders", "notifier")
# The services that consume PersonRemoved, and so log handling it.
REMOVAL_CONSUMERS = ("accounts", "membership", "budget", "invoicing", "weborders")


@dataclass(frozen=True)
class Student:
    voornaam: str
    achternaam: str
    email: str
    mobiel: str
    geboortedatum: str

    @classmethod
    def distinctive(cls) -> Student:
        tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
        digits = "".join(secrets.choice(string.digits) for _ in range(7))
        return cls(
            voornaam="Zoëlle-Quirijntje",
            achternaam=f"Brakkezwaan-{tag}",
            email=f"zoelle.brakkezwaan.{tag}@retentie-e2e.test",
            mobiel=f"+3161{digits}",
            geboortedatum="2004-02-29",
        )

    def values(self, card_number: str) -> dict[str, str]:
        """What must not be found, by label."""
        return {
            "voornaam": self.voornaam,
            "achternaam": self.achternaam,
            "e-mail": self.email,
            "e-mail (local part)": self.email.split("@")[0],
            "mobiel": self.mobiel,
            "mobiel (national number)": self.mobiel[3:],
            "geboortedatum": self.geboortedatum,
            "card number": card_number,
        }


def api_token(http: httpx.Client, email: str) -> dict[str, str]:
    reply = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def removal_handled(log_dir: Path, correlation_id: str) -> list[str]:
    """The services whose log says they handled the removal with this correlation id."""
    done = []
    for name in REMOVAL_CONSUMERS:
        log = log_dir / f"{name}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        if any(
            '"event.handled"' in line and "roster.person.removed" in line and correlation_id in line
            for line in lines
        ):
            done.append(name)
    return done


@dataclass(frozen=True)
class Outcome:
    card_number: str
    correlation_id: str  # of the removal
    holder_email: str  # the budget holder's, who stays: the scans' positive control


def a_student_comes_and_goes(
    portal: Portal,
    student: Student,
    before_removal: Callable[[dict[str, str]], None] = lambda values: None,
) -> Outcome:
    """Invitation, activation, budget, a card payment, a dossier note, removal; returns once
    every consumer of the removal has handled it. before_removal gets the values to look for
    while she is still there."""
    tag = uuid.uuid4().hex[:8]
    holder = f"holder-{tag}@retentie-e2e.test"
    school = school_with_password(portal, f"Retentie College {tag}", holder, PASSWORD)
    school_id = str(school["school_id"])
    base = f"/api/v1/schools/{school_id}"
    people = f"{base}/roster/students"
    with portal.client() as http, portal.client() as admin:
        page_login(http, holder, PASSWORD)
        page_login(admin, portal.admin_email, portal.admin_password)
        api = api_token(http, holder)

        # Individual budget for two students: ordered, approved early, paid (R-BUDGET-5).
        order_budget(http, collective=0, individual=2)
        admin_approves_and_records_payment(admin, school_id, "5,00")

        def assignable() -> int | None:
            ledger = http.get(f"{base}/budget/ledger", headers=api).json()
            return ledger["assignable_individual_cents"] or None

        assert wait_for(assignable, what="the individual budget assignable") == 2100

        # The student on the roster, invited, activated.
        row = (
            student.voornaam,
            student.achternaam,
            student.email,
            student.mobiel,
            "Haarlem",
            2,
            "Media",
            "MV2",
            "",
        )
        uploaded = http.post(
            f"{people}/upload",
            headers=api,
            files={"file": ("leerlingen.xlsx", student_xlsx([row]))},
            data={"confirmed": "true"},
        )
        assert uploaded.status_code == 200, uploaded.text
        invited = http.post(f"{people}/invitations", headers=api, json={"all": True})
        assert invited.status_code == 202, invited.text
        code = re.search(
            r"activeren\?code=([\w-]+)", mail_text(portal.wait_for_mail(student.email))
        )
        assert code
        activated = http.post(
            "/api/v1/activations",
            json={
                "code": code.group(1),
                "voornaam": student.voornaam,
                "achternaam": student.achternaam,
                "email": student.email,
                "geboortedatum": student.geboortedatum,
            },
        )
        assert activated.status_code == 200, activated.text
        card_number = str(activated.json()["card_number"])
        wait_for(
            lambda: (
                True
                if any(card_number in mail_text(m) for m in mails_to(portal, student))
                else None
            ),
            what="the confirmation mail with the card number",
        )
        (person,) = http.get(f"{people}/people", headers=api).json()["items"]
        person_id = person["person_id"]

        # Budget toewijzen; the budget service hears of the activation through the broker.
        def allocated() -> httpx.Response | None:
            reply = http.post(
                f"{base}/budget/allocations",
                headers=api,
                json={"person_ids": [person_id], "amount_cents_each": 1050},
            )
            return reply if reply.status_code == 200 else None

        wait_for(allocated, what="the budget service knows the active student")

        # A provider charges her card (R-WEB-6); a teacher writes about her (R-DOSSIER-1).
        kvk = f"{int(tag, 16) % 10**8:08d}"
        _provider, key = register_provider(admin, f"Filmhuis {tag}", kvk)
        paid = http.post(
            "/api/v1/provider/card-payments",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "card_number": card_number,
                "amount_cents": 750,
                "description": "Filmkaartje",
                "provider_reference": f"KASSA-{tag}",
            },
        )
        assert paid.status_code == 201, paid.text
        note = http.post(
            f"{base}/dossier/{person_id}/notes",
            headers=api,
            json={"text": f"{student.voornaam} {student.achternaam} was enthousiast."},
        )
        assert note.status_code == 201, note.text

        def payment_in_dossier() -> bool | None:
            entries = http.get(f"{base}/dossier/{person_id}", headers=api).json()["entries"]
            return True if {e["kind"] for e in entries} >= {"kaartbetaling", "notitie"} else None

        wait_for(payment_in_dossier, what="the card payment in the dossier")

        # The school removes her (R-ROSTER-7).
        before_removal(student.values(card_number))
        correlation_id = f"removal-{tag}"
        removed = http.delete(
            f"{people}/people/{person_id}", headers={**api, "X-Correlation-ID": correlation_id}
        )
        assert removed.status_code == 204, removed.text
    log_dir = portal.stack.log_dir

    def all_handled() -> bool | None:
        return set(removal_handled(log_dir, correlation_id)) == set(REMOVAL_CONSUMERS) or None

    wait_for(all_handled, what=f"every one of {', '.join(REMOVAL_CONSUMERS)} handled the removal")
    return Outcome(card_number, correlation_id, holder)


def mails_to(portal: Portal, student: Student) -> list[Any]:
    from ck_notifier.smtp_sink import read_mails

    return [m for m in read_mails(portal.stack.mail_dir) if str(m["To"]) == student.email]


def log_files(stack: Stack) -> list[Path]:
    return sorted(stack.log_dir.glob("*.log"))


def describe(hits: dict[str, list[str]]) -> str:
    return "; ".join(f"{Path(path).name}: {', '.join(labels)}" for path, labels in hits.items())


# --- SQLite: every file of every service ----------------------------------------------------
def test_a_removed_student_leaves_no_trace_in_any_database_file_or_log(portal: Portal) -> None:
    student = Student.distinctive()
    stack = portal.stack
    databases = sqlite_files(stack.data_dir)
    assert {p.name for p in databases} >= {f"{s}.sqlite3" for s in SERVICES}
    assert {p.name for p in log_files(stack)} >= {f"{s}.log" for s in (*SERVICES, "gateway")}

    def present(values: dict[str, str]) -> None:
        """Before the removal the scan finds her where she is kept (so it is not blind)."""
        found = traces(sqlite_files(stack.data_dir), values)
        where = {Path(path).name.split(".")[0] for path in found}
        assert where >= {"roster", "membership", "budget"}, describe(found)
        labels = {label for labels in found.values() for label in labels}
        assert labels >= {"achternaam", "e-mail", "mobiel", "geboortedatum", "card number"}

    outcome = a_student_comes_and_goes(portal, student, present)
    values = student.values(outcome.card_number)

    files = [*sqlite_files(stack.data_dir), *log_files(stack)]
    assert any(p.name.endswith("-wal") for p in files)  # the WAL files are scanned too
    hits = traces(files, values)
    assert hits == {}, f"found after the removal: {describe(hits)}"
    # The scan is not blind: the budget holder, who stays, is found in the accounts database,
    # and the student's mails (delivered: outside the portal; quoted-printable, so her name
    # is not in them as stored text) hold her address and card number.
    assert traces(files, {"holder": outcome.holder_email})
    mails = traces(sorted(stack.mail_dir.glob("*.eml")), values)
    assert {label for labels in mails.values() for label in labels} >= {"e-mail", "card number"}


# --- PostgreSQL: every row of every table of every service ----------------------------------
async def _rows_as_text(url: str) -> dict[str, list[str]]:
    """{table: every row as PostgreSQL's text form of the whole row} of a database."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        found = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')
            found[table] = [r["row"] for r in rows]
        return found
    finally:
        await conn.close()


def traces_in_rows(rows: dict[str, list[str]], values: dict[str, str]) -> dict[str, list[str]]:
    wanted = {label: forms_of(value) for label, value in values.items()}
    hits: dict[str, list[str]] = {}
    for table, texts in rows.items():
        data = "\n".join(texts).encode().lower()
        found = [label for label, forms in wanted.items() if any(f in data for f in forms)]
        if found:
            hits[table] = found
    return hits


def scan_databases(urls: dict[str, str], values: dict[str, str]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for service, url in urls.items():
        rows = asyncio.run(_rows_as_text(url))
        assert "outbox" in rows and "inbox" in rows, service  # every table is looked at
        for table, labels in traces_in_rows(rows, values).items():
            hits[f"{service}.{table}"] = labels
    return hits


def test_on_postgresql_no_row_of_any_service_holds_the_removed_student(
    private_amqp_url: str, fresh_postgres: Any, tmp_path: Path
) -> None:
    urls = {service: fresh_postgres() for service in SERVICES}
    env = {"NOTIFIER_RETRY_BASE_SECONDS": "1", "NOTIFIER_RETRY_MAX_SECONDS": "2"}
    with Stack(tmp_path / "stack", private_amqp_url, database_urls=urls, env=env) as stack:
        admin_password = secrets.token_urlsafe(18)
        stack.run_command(
            "accounts", "create-admin", "--email", "admin@cjp.test", "--name", "CJP beheer",
            input_text=admin_password + "\n",
        )  # fmt: skip
        portal = Portal(stack, "admin@cjp.test", admin_password)
        student = Student.distinctive()

        def present(values: dict[str, str]) -> None:
            found = scan_databases(urls, values)
            assert set(found) >= {
                "roster.people",
                "membership.memberships",
                "budget.student_memberships",
                "weborders.dossier_notes",
            }, describe(found)

        outcome = a_student_comes_and_goes(portal, student, present)
        values = student.values(outcome.card_number)
        hits = scan_databases(urls, values)
        assert hits == {}, f"found after the removal: {describe(hits)}"
        log_hits = traces(log_files(stack), values)
        assert log_hits == {}, f"found in the logs: {describe(log_hits)}"
        assert "accounts.users" in scan_databases(urls, {"holder": outcome.holder_email})
