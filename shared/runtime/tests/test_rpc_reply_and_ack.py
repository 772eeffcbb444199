"""The RPC consumer's reply and ack go out in one write (issue 15): the same frames, in the
same order, as `basic_publish(mandatory=True)` followed by `basic_ack`."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiormq
import pamqp.frame
import pytest
from ck_contracts.messaging import REPLIES_EXCHANGE
from ck_runtime.rpc_consumer import reply_and_ack, reply_properties
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader


class FakeChannel:
    def __init__(self, max_content_size: int = 131064) -> None:
        self.write_queue: asyncio.Queue[Any] = asyncio.Queue()
        self.number = 3
        self.max_content_size = max_content_size
        self.is_closed = False


def frames(payload: bytes) -> list[Any]:
    found = []
    while payload:
        consumed, _channel, frame = pamqp.frame.unmarshal(payload)
        assert _channel == 3
        found.append(frame)
        payload = payload[consumed:]
    return found


@pytest.mark.parametrize("size", [131064, 7])
async def test_the_reply_and_the_ack_are_one_write(size: int) -> None:
    channel = FakeChannel(size)
    body = b'{"ok":true,"result":{"id":"abc"}}'
    await reply_and_ack(cast(aiormq.Channel, channel), 42, body, "gw.replies.x", "corr-1")
    assert channel.write_queue.qsize() == 1
    sent = frames(channel.write_queue.get_nowait().payload)
    publish, header, *bodies, ack = sent
    assert isinstance(publish, spec.Basic.Publish)
    assert (publish.exchange, publish.routing_key, publish.mandatory) == (
        REPLIES_EXCHANGE,
        "gw.replies.x",
        True,
    )
    assert isinstance(header, ContentHeader)
    assert header.body_size == len(body)
    expected = reply_properties("corr-1")
    assert header.properties.message_id  # as basic_publish gives one
    expected.message_id = header.properties.message_id
    assert header.properties.marshal() == expected.marshal()
    assert all(isinstance(part, ContentBody) for part in bodies)
    assert b"".join(part.value for part in bodies) == body
    assert all(len(part.value) <= size for part in bodies)
    assert isinstance(ack, spec.Basic.Ack)
    assert (ack.delivery_tag, ack.multiple) == (42, False)


async def test_without_reply_to_only_the_ack() -> None:
    channel = FakeChannel()
    await reply_and_ack(cast(aiormq.Channel, channel), 7, None, "", None)
    [ack] = frames(channel.write_queue.get_nowait().payload)
    assert isinstance(ack, spec.Basic.Ack) and ack.delivery_tag == 7


async def test_a_closed_channel_is_a_lost_broker() -> None:
    channel = FakeChannel()
    channel.is_closed = True
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await reply_and_ack(cast(aiormq.Channel, channel), 7, b"{}", "q", None)
    assert channel.write_queue.empty()
