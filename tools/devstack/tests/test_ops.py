"""ck-ops: key pairs, and the broker's topology and least-privilege users provisioned on the
real local RabbitMQ."""

from __future__ import annotations

import asyncio
import secrets

import aio_pika
import aiormq.exceptions
import pytest
from ck_contracts.messaging import RPC_EXCHANGE, rpc_queue
from ck_devstack import broker_access
from ck_devstack.ops import main, provisioning_document
from ck_runtime.signing import RequestSigner, RequestVerifier
from ck_testkit.broker import can_make_vhosts, virtual_host


def test_keys_new_prints_a_working_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new", "--id", "2026a"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    signer = RequestSigner.from_setting(lines["GATEWAY_RPC_SIGNING_KEY"])
    verifier = RequestVerifier.from_setting(lines["RPC_VERIFY_KEYS"])
    assert verifier.verify(signer.headers("q", "r", "m", b"{}"), "q", "r", "m", b"{}") == "2026a"


def test_provisioning_needs_a_password_per_process() -> None:
    with pytest.raises(ValueError) as missing:
        provisioning_document("/", "ck", {"ACCOUNTS_AMQP_PASSWORD": "x"})
    assert "GATEWAY_AMQP_PASSWORD" in str(missing.value)


@pytest.mark.skipif(not can_make_vhosts(), reason="needs rabbitmqctl on this machine")
def test_provision_makes_users_that_can_only_do_their_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = f"ck-ops-{secrets.token_hex(3)}"
    passwords = {c: secrets.token_urlsafe(12) for c in broker_access.COMPONENTS}
    for component, password in passwords.items():
        monkeypatch.setenv(f"{component.upper()}_AMQP_PASSWORD", password)
    with virtual_host("ck-ops") as url:
        vhost = broker_access.vhost_of(url)
        try:
            assert (
                main(["broker", "provision", "--rabbitmqctl", "--vhost", vhost, "--prefix", prefix])
                == 0
            )
            roster = broker_access.user_url(url, f"{prefix}-roster", passwords["roster"])

            async def check() -> None:
                connection = await aio_pika.connect(roster)
                try:
                    channel = await connection.channel()
                    await channel.get_queue(rpc_queue("roster"), ensure=True)  # it exists
                    channel = await connection.channel(publisher_confirms=True)
                    requests = await channel.get_exchange(RPC_EXCHANGE, ensure=False)
                    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                        await requests.publish(
                            aio_pika.Message(b"{}"), routing_key=rpc_queue("accounts")
                        )
                finally:
                    await connection.close()

            asyncio.run(check())
        finally:
            broker_access.remove_users_locally([f"{prefix}-{c}" for c in broker_access.COMPONENTS])


async def _poison_in_dead_letters(url: str, body: bytes, message_id: str) -> None:
    """A message rejected by a consumer, as a service rejects poison: a real dead letter."""
    from ck_testkit import declare, publish_raw

    await declare(url)
    await publish_raw(url, "accounts.school.registered", body, message_id=message_id)
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("roster.events.schools", ensure=False)
        for _ in range(100):
            message = await queue.get(no_ack=False, fail=False)
            if message is not None:
                await message.reject(requeue=False)
                break
            await asyncio.sleep(0.05)
        dead = await channel.get_queue("roster.events.schools.dead-letter", ensure=False)
        for _ in range(100):  # the quorum queue takes a moment to dead-letter it
            if (
                await channel.declare_queue(dead.name, passive=True)
            ).declaration_result.message_count:
                return
            await asyncio.sleep(0.05)


async def _ready(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


def test_dead_letters_list_and_replay(
    private_amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = b'{"to": "geheim@school.example", "oops"'
    asyncio.run(_poison_in_dead_letters(private_amqp_url, secret, "poison-1"))
    url = ["--amqp-url", private_amqp_url]

    assert main(["dead-letters", "list", "roster", *url]) == 0
    out = capsys.readouterr().out
    assert "roster.events.schools.dead-letter: 1 message(s)" in out
    assert "roster.events.membership-status.dead-letter: 0 message(s)" in out
    (line,) = [row for row in out.splitlines() if "poison-1" in row]
    assert "accounts.school.registered" in line and "rejected" in line
    assert "geheim" not in out  # never the body

    assert main(["dead-letters", "list", *url]) == 0  # all services: only what holds some
    out = capsys.readouterr().out
    assert "roster.events.schools.dead-letter: 1 message(s)" in out
    assert "membership-status" not in out
    assert "1 dead letter(s) in" in out

    assert main(["dead-letters", "replay", "roster.events.schools", "poison-1", *url]) == 0
    assert "replayed: poison-1" in capsys.readouterr().out
    assert asyncio.run(_ready(private_amqp_url, "roster.events.schools")) == 1
    assert asyncio.run(_ready(private_amqp_url, "roster.events.schools.dead-letter")) == 0
    # Again: nothing left to replay under that id.
    assert main(["dead-letters", "replay", "roster.events.schools", "poison-1", *url]) == 1
    assert "no dead letter with id poison-1" in capsys.readouterr().err
    assert main(["dead-letters", "replay", "roster.rpc", "--all", *url]) == 2
    assert main(["dead-letters", "list", "nobody", *url]) == 2
