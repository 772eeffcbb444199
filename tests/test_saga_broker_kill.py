"""Sagas that always finish (issue 11): a weborder approval goes gateway -> weborders (records
the approval, outbox) -> budget (debit or refusal, outbox) -> weborders (settles). Whatever
dies meanwhile, once it is back every approval ends goedgekeurd (debited exactly once) or
geweigerd (nothing debited), and no request is answered with 500.

The broker is a private RabbitMQ node (ck_testkit.rabbit_node) that the test kills with SIGKILL
in the middle of concurrent approvals, round after round; the shared node on 5672 keeps
running for everyone else. A second test kills the weborders and budget processes instead, a
third kills the broker, weborders and budget together.
Every service, the gateway and the SMTP sink are their own processes (ck_devstack.Stack).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ck_devstack import Stack
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
from ck_testkit.rabbit_node import PrivateRabbit, available

pytestmark = [
    pytest.mark.broker_outage,
    pytest.mark.skipif(not available(), reason="needs RabbitMQ installed (a private node)"),
]

PASSWORD = "een lang wachtwoord voor de saga"
FUTURE = (clocks.today() + timedelta(days=30)).isoformat()
AMOUNT_CENTS = 1000
COLLECTIVE = 10  # 10 x 21,00 = 210,00: room for 21 weborders of 10,00
FITS = 21
# How long a saga may take to finish after everything is back (the report: still undecided
# two minutes after the broker returned).
SETTLE_SECONDS = 120


@pytest.fixture(scope="module")
def rabbit() -> Iterator[PrivateRabbit]:
    with PrivateRabbit() as node:
        yield node


@pytest.fixture(scope="module")
def saga_portal(
    rabbit: PrivateRabbit, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    data_dir: Path = tmp_path_factory.mktemp("saga")
    with Stack(data_dir, rabbit.amqp_url, database_urls={}) as stack:
        password = secrets.token_urlsafe(18)
        stack.run_command(
            "accounts",
            "create-admin",
            *("--email", "admin@cjp.test", "--name", "CJP beheer"),
            input_text=password + "\n",
        )
        yield Portal(stack, "admin@cjp.test", password)


@dataclass
class School:
    school_id: str
    number: int
    token: str  # the budget holder's API token
    provider_key: str
    tag: str

    @property
    def base(self) -> str:
        return f"/api/v1/schools/{self.school_id}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def school_with_budget(portal: Portal) -> School:
    """A school with 210,00 collective budget and a provider with an API key."""
    tag = uuid.uuid4().hex[:6]
    holder = f"saga-{tag}@saga-college.test"
    school = school_with_password(portal, f"Saga College {tag}", holder, PASSWORD)
    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        _provider, key = register_provider(admin, f"Theater {tag}", f"{int(tag, 16) % 10**8:08d}")
        page_login(http, holder, PASSWORD)
        order_budget(http, collective=COLLECTIVE)
        admin_approves_and_records_payment(admin, str(school["school_id"]), "105,00")
        wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="the budget credited")
        login = http.post("/api/v1/auth/login", json={"email": holder, "password": PASSWORD})
        token = login.json()["token"]
    return School(str(school["school_id"]), int(school["school_number"]), token, key, tag)  # type: ignore[arg-type]


def create_weborders(portal: Portal, school: School, count: int) -> list[str]:
    ids = []
    with portal.client() as http:
        for i in range(count):
            body = {
                "school_number": school.number,
                "activity": f"Saga {school.tag} voorstelling {i:03d}",
                "activity_date": FUTURE,
                "participants": 20,
                "amount_cents": AMOUNT_CENTS,
                "provider_reference": f"SAGA-{i}",
                "docent_plus_email": "docent@saga-college.test",
            }
            headers = {
                "Authorization": f"Bearer {school.provider_key}",
                "Idempotency-Key": f"create-{school.tag}-{i}",
            }

            def created(body: dict[str, Any] = body, headers: dict[str, str] = headers) -> Any:
                reply = http.post("/api/v1/provider/weborders", json=body, headers=headers)
                return reply if reply.status_code == 201 else None

            reply = wait_for(created, what="the school known to weborders")
            ids.append(reply.json()["weborder_id"])
    return ids


@dataclass
class Answers:
    """Every HTTP status the approvals got, and the approvals still to be answered."""

    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def approve(
    http: httpx.AsyncClient, school: School, weborder_id: str, answers: Answers
) -> None:
    """Approve one weborder as a careful API client does: a 503 (or a dropped connection) is
    sent again with the same Idempotency-Key until it is answered."""
    key = f"approve-{weborder_id}"
    path = f"{school.base}/weborders/{weborder_id}/decision"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300
    while loop.time() < deadline:
        try:
            reply = await http.post(
                path, json={"approve": True}, headers={**school.auth, "Idempotency-Key": key}
            )
        except httpx.TransportError as exc:
            answers.errors.append(f"{weborder_id}: {type(exc).__name__}")
            await asyncio.sleep(0.5)
            continue
        answers.statuses.append(reply.status_code)
        if reply.status_code == 503:
            await asyncio.sleep(0.5)
            continue
        if reply.status_code != 200:
            answers.errors.append(f"{weborder_id}: {reply.status_code} {reply.text[:300]}")
        return
    answers.errors.append(f"{weborder_id}: still 503 after 300 s")


async def approve_all(portal: Portal, school: School, ids: list[str], answers: Answers) -> None:
    """Approvals start one after the other (a school's clicks, a provider's batch), so that a
    kill lands on requests in every step: before the gateway, in weborders, in the saga."""
    async with httpx.AsyncClient(base_url=portal.url, timeout=60) as http:

        async def later(i: int, weborder_id: str) -> None:
            await asyncio.sleep(i * STAGGER_SECONDS)
            await approve(http, school, weborder_id, answers)

        await asyncio.gather(*(later(i, w) for i, w in enumerate(ids)))


def weborders_of(portal: Portal, school: School) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    with portal.client() as http:
        page = 1
        while True:
            reply = http.get(
                f"{school.base}/weborders",
                params={"page": page, "page_size": 100},
                headers=school.auth,
            )
            assert reply.status_code == 200, reply.text
            items = reply.json()["items"]
            found.update({w["weborder_id"]: w for w in items})
            if len(found) >= reply.json()["total"] or not items:
                return found
            page += 1


def wait_until_settled(portal: Portal, school: School, ids: list[str]) -> dict[str, str]:
    def settled() -> dict[str, str] | None:
        try:
            status = {w: o["status"] for w, o in weborders_of(portal, school).items()}
        except (AssertionError, httpx.HTTPError):
            return None  # the gateway may answer 503 while a service reconnects
        return status if all(status[w] in ("goedgekeurd", "geweigerd") for w in ids) else None

    try:
        return wait_for(settled, SETTLE_SECONDS, "every approval goedgekeurd or geweigerd")
    except AssertionError:
        status = {w: o["status"] for w, o in weborders_of(portal, school).items()}
        stuck = sorted(w for w in ids if status[w] not in ("goedgekeurd", "geweigerd"))
        raise AssertionError(f"{len(stuck)} approvals never finished: {stuck}") from None


def check_end_state(portal: Portal, school: School, ids: list[str], answers: Answers) -> None:
    """Every approval goedgekeurd (one debit) or geweigerd (none); the balance adds up."""
    assert not answers.errors, answers.errors
    assert 500 not in answers.statuses and set(answers.statuses) <= {200, 503}, answers.statuses
    status = wait_until_settled(portal, school, ids)
    approved = [w for w in ids if status[w] == "goedgekeurd"]
    assert len(approved) == min(len(ids), FITS), status
    with portal.client() as http:
        reply = http.get(f"{school.base}/budget/ledger", headers=school.auth)
        assert reply.status_code == 200, reply.text
        ledger = reply.json()
    weborders = weborders_of(portal, school)
    debits = [e for e in ledger["entries"] if e["amount_cents"] < 0]
    for weborder_id in ids:
        activity = weborders[weborder_id]["activity"]
        mine = [e for e in debits if activity in e["description"]]
        expected = 1 if status[weborder_id] == "goedgekeurd" else 0
        assert len(mine) == expected, (weborder_id, status[weborder_id], mine)
    assert ledger["balance_cents"] == COLLECTIVE * 2100 - len(approved) * AMOUNT_CENTS


async def kill_broker_meanwhile(rabbit: PrivateRabbit, seed: int) -> None:
    """SIGKILL the broker shortly after the approvals began, keep it down a few seconds."""
    chance = random.Random(seed)
    await asyncio.sleep(chance.uniform(0.2, PER_ROUND * STAGGER_SECONDS))
    await asyncio.to_thread(rabbit.kill, settle=False)  # settled before the round began
    await asyncio.sleep(chance.uniform(2, 5))
    await asyncio.to_thread(rabbit.start)


ROUNDS = 3
PER_ROUND = 15
STAGGER_SECONDS = 0.1


def test_broker_killed_during_approvals_every_saga_finishes(
    saga_portal: Portal, rabbit: PrivateRabbit
) -> None:
    school = school_with_budget(saga_portal)
    ids = create_weborders(saga_portal, school, ROUNDS * PER_ROUND)
    answers = Answers()
    for round_ in range(ROUNDS):
        batch = ids[round_ * PER_ROUND : (round_ + 1) * PER_ROUND]

        async def one_round(batch: list[str] = batch, seed: int = round_) -> None:
            # The node's queue registry on disk first (PrivateRabbit.kill), so that the kill
            # itself lands at once, among the approvals.
            await asyncio.to_thread(rabbit.settle)
            killer = asyncio.create_task(kill_broker_meanwhile(rabbit, seed))
            await approve_all(saga_portal, school, batch, answers)
            await killer

        asyncio.run(one_round())
        assert not saga_portal.stack.died(), [p.name for p in saga_portal.stack.died()]
    check_end_state(saga_portal, school, ids, answers)
    assert 503 in answers.statuses  # the outages were seen by the clients, as 503


def test_services_killed_during_approvals_every_saga_finishes(
    saga_portal: Portal, rabbit: PrivateRabbit
) -> None:
    stack = saga_portal.stack
    school = school_with_budget(saga_portal)
    ids = create_weborders(saga_portal, school, 2 * PER_ROUND)
    answers = Answers()
    for round_, victim in enumerate(("weborders", "budget")):
        batch = ids[round_ * PER_ROUND : (round_ + 1) * PER_ROUND]

        async def one_round(batch: list[str] = batch, victim: str = victim) -> None:
            async def kill_meanwhile() -> None:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(stack.kill_service, victim)
                await asyncio.sleep(2)
                await asyncio.to_thread(stack.start_service, victim)

            killer = asyncio.create_task(kill_meanwhile())
            await approve_all(saga_portal, school, batch, answers)
            await killer

        asyncio.run(one_round())
    check_end_state(saga_portal, school, ids, answers)


def test_broker_and_services_killed_together_every_saga_finishes(
    saga_portal: Portal, rabbit: PrivateRabbit
) -> None:
    """Everything of the saga at once: the broker, weborders (the saga's owner, its outbox)
    and budget (the debit) die with SIGKILL in the middle of the approvals; the broker comes
    back first, then the services."""
    stack = saga_portal.stack
    school = school_with_budget(saga_portal)
    ids = create_weborders(saga_portal, school, PER_ROUND)
    answers = Answers()

    async def one_round() -> None:
        await asyncio.to_thread(rabbit.settle)

        async def kill_all_meanwhile() -> None:
            await asyncio.sleep(0.5)
            await asyncio.gather(
                asyncio.to_thread(rabbit.kill, settle=False),
                asyncio.to_thread(stack.kill_service, "weborders"),
                asyncio.to_thread(stack.kill_service, "budget"),
            )
            await asyncio.sleep(2)
            await asyncio.to_thread(rabbit.start)
            await asyncio.to_thread(stack.start_service, "budget")
            await asyncio.to_thread(stack.start_service, "weborders")

        killer = asyncio.create_task(kill_all_meanwhile())
        await approve_all(saga_portal, school, ids, answers)
        await killer

    asyncio.run(one_round())
    check_end_state(saga_portal, school, ids, answers)
