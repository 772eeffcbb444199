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
