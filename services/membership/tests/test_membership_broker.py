"""The membership service as a process would run it: the real broker, migrations, outbox relay,
the roster's queue, the RPC queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from typing import Any

import aio_pika
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.membership import Activate, InvitationsRequested, Invitee, Ops
from ck_contracts.messaging import EVENTS_EXCHANGE
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_membership.app import build
from ck_membership.settings import get_settings
from ck_membership.tables import known_schools
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, publish_event
from sqlalchemy import select

SCHOOL = uuid.uuid4()


async def test_invite_activate_and_remove_through_the_broker(
    private_amqp_url: str, sqlite_url: str
) -> None:
    settings = get_settings(
        amqp_url=private_amqp_url, database_url=sqlite_url, portal_url="https://portal.example"
    )
    runtime = ServiceRuntime(build(settings))
    await runtime.start()
    client = RpcClient(private_amqp_url, timeout=20)
    await client.start()
    connection = await aio_pika.connect(private_amqp_url)
    try:
        channel = await connection.channel()
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(EVENTS_EXCHANGE, routing_key="membership.#")
        await watch.bind(EVENTS_EXCHANGE, routing_key="notifier.#")

        await publish_event(
            private_amqp_url, SchoolRegistered(school_id=SCHOOL, school_number=10289)
        )

        async def known() -> bool:
            async with runtime.db.read() as session:
                query = select(known_schools.c.school_id)
                return (await session.execute(query)).first() is not None

        assert await eventually(known)

        people = [
            Invitee(person_id=uuid.uuid4(), email="a@example.nl", voornaam="A"),
            Invitee(person_id=uuid.uuid4(), email="b@example.nl", voornaam="B"),
            Invitee(person_id=uuid.uuid4()),
        ]
        await publish_event(
            private_amqp_url,
            InvitationsRequested(
                school_id=SCHOOL,
                request_id=uuid.uuid4(),
                kind=RosterKind.STUDENTS,
                school_name="Nova College",
                school_number=10289,
                people=people,
            ),
        )
        got = await _collect(watch, {"notifier.emails.requested", "membership.invitations.sent"})
        mails = got["notifier.emails.requested"]["mails"]
        assert [m["to"] for m in mails] == ["a@example.nl", "b@example.nl"]
        sent = got["membership.invitations.sent"]["invitations"]
        assert [i["mailed"] for i in sent] == [True, True, False]
        code = sent[2]["activation_code"]  # the one without an e-mail: handed out by the school

        activated = await client.send(
            Ops.ACTIVATE,
            Activate(
                code=code,
                voornaam="Cem",
                achternaam="Yilmaz",
                email="cem@example.nl",
                geboortedatum=date(2007, 2, 3),
                client="hash-of-address",
            ),
        )
        card = activated.card_number
        got = await _collect(watch, {"membership.membership.activated", "notifier.email.requested"})
        assert got["membership.membership.activated"]["card_number"] == card
        assert got["notifier.email.requested"]["to"] == "cem@example.nl"

        await publish_event(
            private_amqp_url,
            PersonRemoved(school_id=SCHOOL, person_id=people[2].person_id, kind="students"),
        )
        got = await _collect(watch, {"membership.membership.ended"})
        assert got["membership.membership.ended"]["reason"] == "removed_from_roster"
    finally:
        await connection.close()
        await client.stop()
        await runtime.stop()


async def _collect(
    queue: aio_pika.abc.AbstractQueue, types: set[str], deadline: float = 15
) -> dict[str, dict[str, Any]]:
    """The first event of each of these types (others are passed over)."""
    got: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while set(got) != types and loop.time() < end:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        body = json.loads(message.body)
        if body["type"] in types:
            got.setdefault(body["type"], body)
    assert set(got) == types, f"missing: {types - set(got)}"
    return got
