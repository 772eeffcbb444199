"""GET /metrics of a running service moves with the work it does: an RPC call (both sides),
an event handled, a poison message (handled as poison and counted in the dead-letter queue),
the outbox gauges. Real broker, real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit import eventually, free_port, publish_event, publish_raw
from ck_testkit.echo import echo_router
from ck_testkit.scrape import Samples, health, scrape, value

SCHOOLS = "roster.events.schools"


@pytest.fixture
async def roster(private_amqp_url: str, sqlite_url: str) -> AsyncIterator[ServiceRuntime]:
    from ck_roster.app import build

    settings = load_settings(
        ServiceSettings,
        "roster",
        amqp_url=private_amqp_url,
        database_url=sqlite_url,
        health_port=free_port(),
        metrics_sample_seconds=0.2,
    )
    service = build(settings)
    service.rpc = echo_router
    runtime = ServiceRuntime(service)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_counters_move_with_rpc_calls_and_events(
    roster: ServiceRuntime, private_amqp_url: str
) -> None:
    port = roster.settings.health_port
    before = await scrape(port)
    client = RpcClient(private_amqp_url, timeout=10)
    await client.start()
    try:
        assert (await client.call("roster", "echo", {"text": "hi"})).ok
        assert not (await client.call("roster", "echo", {"text": ""})).ok  # invalid input
    finally:
        await client.stop()
    await publish_event(private_amqp_url, SchoolRegistered(school_id=uuid.uuid4(), school_number=1))
    # JSON but no event: poison (undecodable bytes are FastStream's to refuse, before us)
    await publish_raw(private_amqp_url, SchoolRegistered.routing_key, {"no": "event"})

    async def moved() -> bool:
        after = await scrape(port)
        return (
            all(
                delta(before, after, name, **labels) >= 1
                for name, labels in [
                    ("ck_events_handled_total", {"queue": SCHOOLS, "outcome": "handled"}),
                    ("ck_events_handled_total", {"queue": SCHOOLS, "outcome": "poison"}),
                ]
            )
            and value(after, "ck_dead_letter_messages", queue=SCHOOLS) >= 1
        )

    assert await eventually(moved, deadline=30)
    after = await scrape(port)
    for side in ("server", "client"):
        ok = {"side": side, "service": "roster", "op": "echo"}
        assert delta(before, after, "ck_rpc_requests_total", **ok, outcome="ok") == 1
        assert delta(before, after, "ck_rpc_requests_total", **ok, outcome="invalid") == 1
        assert delta(before, after, "ck_rpc_duration_seconds_count", **ok) == 2
    assert ("ck_outbox_pending", {"service": "roster"}) in [(n, la) for n, la, _ in after]
    assert value(after, "ck_outbox_oldest_pending_seconds", service="roster") >= 0
    # the health endpoints share the port
    assert (await health(port, "/health/live"))[0] == 200
    assert (await health(port, "/health/ready"))[0] == 200


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)
