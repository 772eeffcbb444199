"""Request/reply: dispatch rules (unit) and the client against the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import ErrorCode, RpcRequest
from ck_runtime.rpc_client import RpcClient, ServiceUnavailable
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit.echo import ECHOES, echo_router

router = echo_router


SCHOOL_1 = str(uuid.UUID(int=1))


def actor(role: Role, school: int) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role, school_id=uuid.UUID(int=school))


async def dispatch(op: str, payload: dict[str, Any], who: Actor | None = None) -> dict[str, Any]:
    return await router.dispatch(RpcRequest(op=op, actor=who, payload=payload), db=None)  # type: ignore[arg-type]


async def test_unknown_operation_is_not_found() -> None:
    reply = await dispatch("nope", {})
    assert reply["error"]["code"] == ErrorCode.NOT_FOUND


async def test_invalid_payload_gives_field_reasons() -> None:
    reply = await dispatch("echo", {"text": ""})
    assert reply["error"]["code"] == ErrorCode.INVALID
    assert reply["error"]["reason"] == "invalid"
    assert reply["error"]["field_errors"] == {
        "text": {"reason": "field.empty", "params": {"min_length": 1}}
    }
    reply = await dispatch("echo", {})
    assert reply["error"]["field_errors"]["text"]["reason"] == "field.required"


async def test_operations_need_an_actor_with_the_permission_and_the_school() -> None:
    assert (await dispatch("school.secret", {"text": "x", "school_id": SCHOOL_1}))["error"][
        "code"
    ] == (ErrorCode.UNAUTHENTICATED)
    docent = actor(Role.DOCENT_PLUS, 1)
    assert (await dispatch("school.secret", {"text": "x", "school_id": SCHOOL_1}, docent))["error"][
        "code"
    ] == (ErrorCode.FORBIDDEN)
    other_school = actor(Role.BUDGET_HOLDER, 2)
    assert (await dispatch("school.secret", {"text": "x", "school_id": SCHOOL_1}, other_school))[
        "error"
    ]["code"] == (ErrorCode.FORBIDDEN)
    own = actor(Role.BUDGET_HOLDER, 1)
    assert (await dispatch("school.secret", {"text": "x", "school_id": SCHOOL_1}, own)) == {
        "ok": True,
        "result": "ok",
        "error": None,
    }


async def test_expected_and_unexpected_failures_become_error_replies() -> None:
    reply = await dispatch("conflict", {"text": "x"})
    assert reply["error"] == {
        "code": "conflict",
        "reason": "link_used",
        "params": {"link": "x"},
        "field_errors": {},
        "retry_after_seconds": None,
        "message": "",
        "fields": {},
    }
    reply = await dispatch("crash", {"text": "x"})
    assert reply["error"]["code"] == ErrorCode.INTERNAL
    assert reply["error"]["reason"] == "internal"
    assert "ZeroDivision" not in str(reply)  # no internals leak to users


async def test_a_school_scoped_operation_refuses_another_schools_actor_before_the_handler() -> None:
    other = actor(Role.BUDGET_HOLDER, 2)
    reply = await dispatch("school.secret", {"text": "x", "school_id": SCHOOL_1}, other)
    assert reply["error"]["code"] == ErrorCode.FORBIDDEN
    assert reply["error"]["reason"] == "forbidden"


async def test_the_answer_is_checked_against_the_declared_response() -> None:
    reply = await dispatch("echo", {"text": "hallo"})
    assert reply["result"] == {"text": "hallo"}


@pytest.fixture
async def echo_service(amqp_url: str, sqlite_url: str):  # type: ignore[no-untyped-def]
    from ck_roster.app import build

    service = build(
        load_settings(
            ServiceSettings, "roster", amqp_url=amqp_url, database_url=sqlite_url, prefetch=64
        )
    )
    service.rpc = router
    runtime = ServiceRuntime(service)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def client(amqp_url: str):  # type: ignore[no-untyped-def]
    rpc = RpcClient(amqp_url, timeout=5)
    await rpc.start()
    yield rpc
    await rpc.stop()


async def test_many_requests_in_flight_each_get_their_own_answer(
    echo_service: ServiceRuntime, client: RpcClient
) -> None:
    texts = [f"t{i}" for i in range(300)]
    ECHOES.reset()
    replies = await asyncio.gather(
        *(client.call("roster", "echo", {"text": t, "delay": 0.2}) for t in texts)
    )
    assert [r.result["text"] for r in replies] == texts
    # The service works on many at once (its prefetch is 64), never on more than that:
    # counted in the handler, not timed.
    assert 10 <= ECHOES.most <= 64
    assert ECHOES.now == 0


async def test_replies_come_straight_from_aiormq_after_the_first(
    echo_service: ServiceRuntime, client: RpcClient
) -> None:
    """The first reply arrives through aio-pika's consumer, which hands the consumer tag to
    the client's own callback; aio-pika still holds the consumer (to restore it)."""
    underlay = await client._channel.get_underlay_channel()  # type: ignore[union-attr]
    assert client._on_delivered not in underlay.consumers.values()
    first = await client.call("roster", "echo", {"text": "first"})
    assert first.result["text"] == "first"
    assert list(underlay.consumers.values()) == [client._on_delivered]
    assert client._reply_queue is not None
    assert set(client._reply_queue._consumers) == set(underlay.consumers)  # type: ignore[attr-defined]
    texts = [f"d{i}" for i in range(50)]
    replies = await asyncio.gather(*(client.call("roster", "echo", {"text": t}) for t in texts))
    assert [r.result["text"] for r in replies] == texts


async def test_a_call_waiting_on_a_channel_that_closes_is_sent_again_at_once(
    echo_service: ServiceRuntime, amqp_url: str
) -> None:
    """Without publisher confirms a request lost with its channel would only be noticed at
    the timeout; the channel's closing fails the waiting attempt instead, and the request is
    sent again (same request id) on the channel the robust connection reopens."""
    client = RpcClient(amqp_url, timeout=20)
    await client.start()
    try:
        await client.call("roster", "echo", {"text": "warm"})
        published: list[str] = []
        frames = client._frames.frames

        def counted(channel: int, size: int, queue: str, properties: Any, body: bytes) -> Any:
            # every publish (with or without waiting) marshals its frames here
            published.append(properties.correlation_id)
            return frames(channel, size, queue, properties, body)

        client._frames.frames = counted  # type: ignore[method-assign]
        underlay = await client._channel.get_underlay_channel()  # type: ignore[union-attr]
        started = time.monotonic()
        call = asyncio.create_task(client.call("roster", "echo", {"text": "x", "delay": 0.5}))
        await asyncio.sleep(0.1)
        # A channel error from the broker (404 on a passive declare) closes the channel.
        with pytest.raises(Exception, match="no-such-queue"):
            await underlay.queue_declare("no-such-queue", passive=True)
        reply = await call
        assert reply.result["text"] == "x"
        assert len(published) == 2 and published[0] == published[1]
        assert time.monotonic() - started < 10  # not after the 20 s timeout
        assert await client._channel.get_underlay_channel() is not underlay  # type: ignore[union-attr]
    finally:
        await client.stop()


async def test_a_slow_service_answers_503_within_the_timeout(
    echo_service: ServiceRuntime, client: RpcClient
) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failure:
        await client.call("roster", "echo", {"text": "x", "delay": 3}, timeout=0.5)
    assert failure.value.reason == "timeout"
    assert time.monotonic() - started < 2


async def test_a_service_that_is_not_running_times_out(amqp_url: str, client: RpcClient) -> None:
    # The topology exists (queue declared), but nobody consumes it.
    from ck_testkit import declare

    await declare(amqp_url)
    with pytest.raises(ServiceUnavailable):
        await client.call("budget", "anything", timeout=0.5)


async def test_a_queue_that_does_not_exist_fails_at_once(client: RpcClient) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failure:
        await client.call("no-such-service", "x", timeout=5)
    assert failure.value.reason == "no queue"
    assert time.monotonic() - started < 2


async def test_a_request_on_an_open_channel_is_published_without_waiting(
    echo_service: ServiceRuntime, client: RpcClient
) -> None:
    """Once the client knows its channel, a request goes straight onto the write queue
    (`_publish_now`); the awaiting `_publish` is only for a channel not known or not open."""
    await client.call("roster", "echo", {"text": "warm"})

    async def not_this_way(queue: str, body: bytes, properties: Any) -> None:
        raise AssertionError("the waiting publish")

    client._publish = not_this_way  # type: ignore[method-assign]
    replies = await asyncio.gather(*(client.call("roster", "echo", {"text": t}) for t in "abc"))
    assert [r.result["text"] for r in replies] == ["a", "b", "c"]
