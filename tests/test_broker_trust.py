"""The broker password is not a master key (issue 10, capability 2).

Every process of the stack has its own RabbitMQ user (ck_devstack.broker_access). With a
service's credentials nobody can put a request on another service's queue, nor publish an
event another service owns; and even with full broker rights (a leaked administrator
password) a request is believed only when the gateway's key signed it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import aio_pika
import aiormq.exceptions
import pytest
from ck_contracts.accounts import Ops as AccountsOps
from ck_contracts.messaging import EVENTS_EXCHANGE, REPLIES_EXCHANGE, RPC_EXCHANGE, rpc_queue
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_runtime.signing import RequestSigner, new_key_pair
from ck_testkit.portal import Portal

FORGED_SCHOOL = "Vervalste Academie"


def _forged_request() -> bytes:
    admin = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
    request = RpcRequest(
        op=AccountsOps.SCHOOL_REGISTER.name,
        actor=admin,
        payload={
            "settings": {
                "name": FORGED_SCHOOL,
                "brin_codes": ["99ZZ"],
                "locations": ["Nergens"],
                "duo_student_count": 1,
                "contacts": [],
            },
            "budget_holder": {"name": "Mallory", "email": "mallory@example.com"},
        },
    )
    return request.model_dump_json().encode()


async def _refused(url: str, exchange: str, routing_key: str, body: bytes) -> bool:
    """True when the broker refuses this user's publish (the channel is closed with 403)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        target = (
            channel.default_exchange
            if exchange == ""
            else await channel.get_exchange(exchange, ensure=False)
        )
        try:
            await target.publish(aio_pika.Message(body), routing_key=routing_key, timeout=10)
        except aiormq.exceptions.ChannelAccessRefused:
            return True
        return False
    finally:
        await connection.close()


def _school_names(portal: Portal) -> list[str]:
    with portal.client() as http:
        listed = http.get(
            "/api/v1/schools", headers={"Authorization": f"Bearer {portal.admin_token()}"}
        )
    assert listed.status_code == 200, listed.text
    return [school["name"] for school in listed.json()]


def test_a_service_cannot_send_requests_nor_foreign_events(portal: Portal) -> None:
    roster_url = portal.stack.service_env("roster")["AMQP_URL"]
    assert "guest" not in roster_url, "the stack gives each service its own broker user"
    body = _forged_request()

    async def attempts() -> dict[str, bool]:
        return {
            "rpc exchange": await _refused(roster_url, RPC_EXCHANGE, rpc_queue("accounts"), body),
            "default exchange": await _refused(roster_url, "", rpc_queue("accounts"), body),
            "another service's event": await _refused(
                roster_url, EVENTS_EXCHANGE, "invoicing.invoice.paid", b"{}"
            ),
            "its own event": await _refused(
                roster_url,
                EVENTS_EXCHANGE,
                PersonRemoved.routing_key,
                json.dumps(  # a person of no school: every consumer finds nothing to do
                    PersonRemoved(
                        school_id=uuid.uuid4(), person_id=uuid.uuid4(), kind=RosterKind.STUDENTS
                    ).envelope()
                ).encode(),
            ),
        }

    refused = asyncio.run(attempts())
    assert refused == {
        "rpc exchange": True,
        "default exchange": True,
        "another service's event": True,
        "its own event": False,
    }
    assert FORGED_SCHOOL not in _school_names(portal)


async def _ask(
    url: str, body: bytes, headers: dict[str, Any], queue: str = rpc_queue("accounts")
) -> dict[str, Any]:
    """Publish a request with full broker rights and wait for the service's answer."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        reply_to = f"gateway.replies.{uuid.uuid4().hex}"
        replies = await channel.declare_queue(reply_to, exclusive=True, auto_delete=True)
        await replies.bind(REPLIES_EXCHANGE, routing_key=reply_to)
        requests = await channel.get_exchange(RPC_EXCHANGE, ensure=False)
        message_id = uuid.uuid4().hex
        await requests.publish(
            aio_pika.Message(
                body,
                reply_to=reply_to,
                correlation_id=message_id,
                message_id=message_id,
                headers=headers(reply_to, message_id) if callable(headers) else headers,
            ),
            routing_key=queue,
        )
        async with replies.iterator(timeout=15) as messages:
            async for message in messages:
                await message.ack()
                return dict(json.loads(message.body))
        raise AssertionError("no answer")
    finally:
        await connection.close()


@pytest.mark.parametrize("how", ["unsigned", "another key", "another queue's signature"])
def test_with_full_broker_rights_an_unsigned_or_forged_request_is_refused(
    portal: Portal, amqp_url: str, how: str
) -> None:
    body = _forged_request()
    impostor = RequestSigner.from_setting(new_key_pair("test")[0])  # the same key id

    def headers(reply_to: str, message_id: str) -> dict[str, Any]:
        if how == "unsigned":
            return {}
        if how == "another key":
            return impostor.headers(rpc_queue("accounts"), reply_to, message_id, body)
        # A request the real key signed for the roster service, delivered to accounts.
        real = RequestSigner.from_setting(os.environ["GATEWAY_RPC_SIGNING_KEY"])
        return real.headers(rpc_queue("roster"), reply_to, message_id, body)

    answer = asyncio.run(_ask(amqp_url, body, headers))  # type: ignore[arg-type]
    assert answer["ok"] is False and answer["error"]["code"] == "refused", answer
    assert FORGED_SCHOOL not in _school_names(portal)
    log = (portal.stack.log_dir / "accounts.log").read_text()
    assert '"rpc.refused"' in log
