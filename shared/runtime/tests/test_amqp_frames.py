"""A request's frames as ck_runtime.amqp_frames marshals them are the bytes aiormq's
basic_publish puts on the write queue (pamqp's marshalling), on random input."""

from __future__ import annotations

import asyncio
import io
import random
import string
from functools import partial
from typing import Any

import pytest
from aio_pika import DeliveryMode
from aiormq import spec
from aiormq.abc import ChannelFrame
from ck_contracts.messaging import REPLIES_EXCHANGE
from ck_runtime import rpc_consumer
from ck_runtime.amqp_frames import PublishFrames, marshal_properties
from ck_runtime.rpc_client import request_properties
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

MAX_CONTENT_SIZE = 131072 - 8  # aiormq: frame_max minus a body frame's overhead


def aiormq_frames(
    channel: int, max_size: int, exchange: str, key: str, properties: Any, body: bytes
) -> bytes:
    """What aiormq 7's basic_publish builds (Channel._split_body included)."""
    frames: list[Any] = [
        spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=True),
        ContentHeader(properties=properties, body_size=len(body)),
    ]
    if body:
        if len(body) < max_size:
            frames.append(ContentBody(body))
        else:
            with io.BytesIO(body) as fp:
                frames.extend(map(ContentBody, iter(partial(fp.read, max_size), b"")))
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload


def text(rng: random.Random, longest: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_.|/+= éß€✓"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


def random_properties(rng: random.Random) -> spec.Basic.Properties:
    headers: dict[str, Any] = {text(rng, 30): text(rng, 120) for _ in range(rng.randint(0, 6))}
    if rng.random() < 0.2:  # other value types: pamqp's own marshalling
        headers["n"] = rng.choice([1, 300, -5, True, 2.5, None, {"a": "b"}, ["x"]])
    if rng.random() < 0.05:
        headers["k" * 140] = "a key pamqp truncates"
    chosen: dict[str, Any] = {
        "content_type": rng.choice(["application/json", "", None, text(rng, 40)]),
        "headers": rng.choice([headers, headers, {}, None]),
        "delivery_mode": rng.choice([DeliveryMode.NOT_PERSISTENT, 2, 1, None]),
        "priority": rng.choice([0, 9, 255, None]),
        "correlation_id": rng.choice([text(rng, 32), None, ""]),
        "reply_to": rng.choice([text(rng, 60), None]),
        "expiration": rng.choice(["5000", "1500", None]),
        "message_id": text(rng, 40) or "m",
        "app_id": rng.choice([None, None, text(rng, 10)]),
    }
    if rng.random() < 0.05:
        chosen["correlation_id"] = "x" * 300  # too long for a short string: pamqp refuses
    return spec.Basic.Properties(**chosen)


@pytest.mark.parametrize("seed", range(300))
def test_the_bytes_of_basic_publish(seed: int) -> None:
    rng = random.Random(seed)
    properties = random_properties(rng)
    max_size = rng.choice([MAX_CONTENT_SIZE, 64, 4096])
    body = rng.randbytes(rng.choice([0, 1, 10, 63, 64, 65, 1000, 5000, 200_000]))
    channel = rng.randint(1, 2047)
    key = text(rng, 40) or "rpc.weborders"
    try:
        expected = aiormq_frames(channel, max_size, "ck.rpc", key, properties, body)
    except Exception as exc:  # what pamqp refuses, we refuse too
        with pytest.raises(type(exc)):
            PublishFrames("ck.rpc").frames(channel, max_size, key, properties, body)
        return
    frames = PublishFrames("ck.rpc")
    assert frames.frames(channel, max_size, key, properties, body) == expected
    # and again from the kept method frame
    assert frames.frames(channel, max_size, key, properties, body) == expected


def test_a_requests_properties_take_the_short_way() -> None:
    headers = {
        "x-correlation-id": "c0ffee",
        "x-ck-signing-key": "gw-1",
        "x-ck-signed-at": "1764950000",
        "x-ck-signature": "c2lnbmF0dXJl" * 7,
    }
    properties = request_properties("corr", "msg", "gateway.replies.abc", 5.0, headers)
    from ck_runtime import amqp_frames

    plain = amqp_frames._plain_properties(properties)
    assert plain is not None
    assert plain == properties.marshal() == marshal_properties(properties)


def test_the_method_frame_is_kept_per_channel_and_key() -> None:
    frames = PublishFrames("ck.rpc")
    properties = spec.Basic.Properties(message_id="m")
    one = frames.frames(1, MAX_CONTENT_SIZE, "rpc.a", properties, b"{}")
    two = frames.frames(2, MAX_CONTENT_SIZE, "rpc.a", properties, b"{}")
    other = frames.frames(1, MAX_CONTENT_SIZE, "rpc.b", properties, b"{}")
    assert one == aiormq_frames(1, MAX_CONTENT_SIZE, "ck.rpc", "rpc.a", properties, b"{}")
    assert two == aiormq_frames(2, MAX_CONTENT_SIZE, "ck.rpc", "rpc.a", properties, b"{}")
    assert other == aiormq_frames(1, MAX_CONTENT_SIZE, "ck.rpc", "rpc.b", properties, b"{}")
    frames.forget()
    assert frames.frames(2, MAX_CONTENT_SIZE, "rpc.a", properties, b"{}") == two


def test_a_routing_key_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="Routing key too long"):
        PublishFrames("ck.rpc").frames(1, 100, "k" * 256, spec.Basic.Properties(), b"")


class _Channel:
    """What reply_and_ack uses of an aiormq channel (the bytes are what is compared)."""

    def __init__(self, number: int) -> None:
        self.is_closed = False
        self.number = number
        self.max_content_size = MAX_CONTENT_SIZE
        self.write_queue: asyncio.Queue[ChannelFrame] = asyncio.Queue()


@pytest.mark.parametrize("seed", range(20))
async def test_a_reply_and_its_ack_are_the_bytes_of_basic_publish_then_basic_ack(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(rpc_consumer, "uuid4_hex", lambda: "f" * 32)
    channel = _Channel(rng.randint(1, 2047))
    reply = rng.randbytes(rng.choice([0, 40, MAX_CONTENT_SIZE + 5]))
    reply_to = f"gateway.replies.{text(rng, 32)}"
    correlation_id = rng.choice([text(rng, 32), None])
    tag = rng.choice([None, rng.randint(1, 10**9)])
    await rpc_consumer.reply_and_ack(channel, tag, reply, reply_to, correlation_id)  # type: ignore[arg-type]
    properties = rpc_consumer.reply_properties(correlation_id)
    properties.message_id = "f" * 32
    expected = aiormq_frames(
        channel.number, MAX_CONTENT_SIZE, REPLIES_EXCHANGE, reply_to, properties, reply
    )
    if tag is not None:
        ack = spec.Basic.Ack(delivery_tag=tag, multiple=False)
        expected += ChannelFrame.marshall(channel_number=channel.number, frames=[ack]).payload
    assert channel.write_queue.get_nowait().payload == expected
    assert channel.write_queue.empty()
