"""The RPC client builds a request's AMQP properties itself, and the RPC consumer a reply's (no
aio_pika.Message per call): on the wire they must be what aio_pika.Message gave."""

from __future__ import annotations

import aio_pika
import pytest
from ck_runtime.rpc_client import request_properties
from ck_runtime.rpc_consumer import reply_properties


@pytest.mark.parametrize("expiration", [10.0, 1.5, 30])
def test_the_properties_are_those_of_an_aio_pika_message(expiration: float) -> None:
    headers = {"x-correlation-id": "abc12345", "x-ck-signature": "c2lnbmF0dXJl", "x-n": 1}
    ours = request_properties("corr", "msg", "amq.gen-reply", expiration, dict(headers))
    theirs = aio_pika.Message(
        body=b"{}",
        content_type="application/json",
        correlation_id="corr",
        message_id="msg",
        reply_to="amq.gen-reply",
        expiration=expiration,
        headers=dict(headers),
    ).properties
    assert ours.marshal() == theirs.marshal()
    assert ours.expiration == str(int(expiration * 1000))


@pytest.mark.parametrize("correlation_id", ["0f2b7c1e9a", None])
def test_a_reply_has_the_properties_of_an_aio_pika_message(correlation_id: str | None) -> None:
    theirs = aio_pika.Message(
        b"{}", content_type="application/json", correlation_id=correlation_id
    ).properties
    assert reply_properties(correlation_id).marshal() == theirs.marshal()
