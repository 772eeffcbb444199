"""The service side of request/reply on aio-pika directly.

Measured on this 2-core machine (bench/bench_rpc.py), FastStream's subscriber pipeline
(middlewares, dependency injection, a thread hop per message) cost about as much CPU per
request as the handler itself. RPC is the gateway's hot path, so it is consumed here with
aio-pika; events stay on FastStream subscribers. FastStream still documents the queue in the
service's AsyncAPI file (ServiceRuntime.asyncapi builds a documentation-only broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any, cast

import aio_pika
import aiormq.exceptions
import pamqp.frame
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq import spec
from aiormq.abc import ChannelFrame, DeliveredMessage
from ck_contracts.messaging import CORRELATION_HEADER, REPLIES_EXCHANGE, rpc_queue
from ck_contracts.rpc import CommonReason, ErrorCode, RpcError, RpcReply, RpcRequest
from opentelemetry.trace import Span, SpanKind
from pydantic import ValidationError

from ck_runtime import json_codec, metrics, tracing
from ck_runtime.amqp import deliver_directly
from ck_runtime.amqp_frames import PublishFrames
from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import bind_correlation_id, get_logger
from ck_runtime.random_ids import uuid4_hex
from ck_runtime.rpc_client import BROKER_LOST
from ck_runtime.rpc_server import RpcRouter
from ck_runtime.signing import RequestVerifier, SignatureRefused

log = get_logger(__name__)


class RpcConsumer:
    def __init__(
        self,
        service: str,
        router: RpcRouter,
        db: Database,
        deps: Any,
        prefetch: int,
        clock: Clock | None = None,
        *,
        verifier: RequestVerifier,
    ) -> None:
        self._service = service
        self._queue_name = rpc_queue(service)
        self._router = router
        self._db = db
        self._deps = deps
        self._clock = clock
        self._verifier = verifier
        self._replies: aio_pika.abc.AbstractExchange | None = None
        self._prefetch = prefetch
        self._channel: AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self, connection: AbstractRobustConnection) -> None:
        self._channel = await connection.channel(publisher_confirms=False)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        # Declared by the topology (ServiceRuntime.start): here only looked up (passive), which
        # a least-privilege broker user may do.
        self._queue = await self._channel.get_queue(self._queue_name, ensure=True)
        self._replies = await self._channel.get_exchange(REPLIES_EXCHANGE, ensure=False)
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self, graceful_timeout: float) -> None:
        """Stop taking requests, let those in hand finish (their replies go out), close."""
        if self._queue is not None and self._tag is not None:
            # The connection may be gone already; unacked requests are then redelivered.
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await self._queue.cancel(self._tag)
        try:
            await asyncio.wait_for(self._idle.wait(), graceful_timeout)
        except TimeoutError:
            log.warning("rpc.shutdown_timeout", in_flight=self._in_flight)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika's path for a request, taken by the first request on each channel: later
        ones come to `_on_delivered` (ck_runtime.amqp.deliver_directly)."""
        try:
            channel = deliver_directly(message, self._on_delivered)
        except aiormq.exceptions.ChannelInvalidStateError:
            return  # closed already: the broker redelivers the request
        await self._handle(
            channel,
            message.delivery_tag,
            message.headers or {},
            message.body,
            message.reply_to,
            message.correlation_id,
            message.message_id,
        )

    async def _on_delivered(self, message: DeliveredMessage) -> None:
        """A request as aiormq delivers it, acknowledged on the channel it came in on (its
        delivery tag means nothing on another channel)."""
        properties = message.header.properties
        await self._handle(
            cast(aiormq.Channel, message.channel),
            message.delivery_tag,
            properties.headers or {},
            message.body,
            properties.reply_to,
            properties.correlation_id,
            properties.message_id,
        )

    async def _handle(
        self,
        channel: aiormq.Channel,
        delivery_tag: int | None,
        headers: Mapping[str, Any],
        body: bytes,
        reply_to: str | None,
        correlation_id: str | None,
        message_id: str | None,
    ) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            bind_correlation_id(str(headers.get(CORRELATION_HEADER) or "") or None)
            # A server span, child of the caller's (traceparent in the headers); named after
            # the operation once the request is read.
            with tracing.consume_span(
                self._service,
                f"{self._queue_name} process",
                headers,
                SpanKind.SERVER,
                {"rpc.system": "ck-amqp", "rpc.service": self._service},
            ) as span:
                started = time.perf_counter()
                op, reply = await self._answer(headers, body, reply_to, message_id, span)
                if metrics.ENABLED:
                    error = reply.get("error") or {}
                    outcome = "ok" if reply.get("ok") else str(error.get("code", "internal"))
                    elapsed = time.perf_counter() - started
                    metrics.rpc_observed("server", self._service, op, outcome, elapsed)
                answer = None
                if reply_to and self._replies is not None:
                    answer = json_codec.compact(reply)
            await reply_and_ack(channel, delivery_tag, answer, reply_to or "", correlation_id)
        except BROKER_LOST as exc:
            # The connection died under the reply or the ack. The command's effects and its
            # answer are committed (ck_runtime.commands): the caller's retry with the same
            # request id gets that answer.
            log.warning("rpc.reply_failed", error=type(exc).__name__)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _answer(
        self,
        headers: Mapping[str, Any],
        body: bytes,
        reply_to: str | None,
        message_id: str | None,
        span: Span | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """(operation for the metrics, reply). The operation is "unknown" unless this service
        declares it: a metric label takes no free text."""
        try:
            self._verifier.verify(headers, self._queue_name, reply_to or "", message_id or "", body)
        except SignatureRefused as exc:
            # Not from the gateway's key: nothing in it is believed, not even the actor.
            log.warning("rpc.refused", reason=exc.reason, queue=self._queue_name)
            tracing.mark_failed(span, "refused")
            error = RpcError(code=ErrorCode.REFUSED, reason=CommonReason.SIGNATURE_REFUSED)
            return "unknown", RpcReply(ok=False, error=error).model_dump(mode="json")
        try:
            request = RpcRequest.model_validate_json(body)
        except ValidationError:
            error = RpcError(code=ErrorCode.INVALID, reason=CommonReason.INVALID_INPUT)
            return "unknown", RpcReply(ok=False, error=error).model_dump(mode="json")
        op = request.op if request.op in self._router.operations else "unknown"
        if span is None:
            return op, await self._router.dispatch(request, self._db, self._deps, self._clock)
        span.update_name(f"{self._service}/{op}")
        span.set_attribute("rpc.method", op)
        reply = await self._router.dispatch(request, self._db, self._deps, self._clock)
        failure: dict[str, Any] = reply.get("error") or {}
        if failure:
            span.set_attribute("ck.rpc.error", str(failure.get("code")))
            if failure.get("code") == ErrorCode.INTERNAL:
                tracing.mark_failed(span, ErrorCode.INTERNAL)
        return op, reply


def reply_properties(correlation_id: str | None) -> spec.Basic.Properties:
    """The properties `aio_pika.Message(body, content_type=..., correlation_id=...)` gives a
    reply (tests/test_rpc_request_properties.py compares them on the wire)."""
    return spec.Basic.Properties(
        content_type="application/json",
        correlation_id=correlation_id,
        delivery_mode=DeliveryMode.NOT_PERSISTENT,
        headers={},
        priority=0,
        cluster_id="",
    )


_REPLY_FRAMES = PublishFrames(REPLIES_EXCHANGE)


async def reply_and_ack(
    channel: aiormq.Channel,
    delivery_tag: int | None,
    reply: bytes | None,
    reply_to: str,
    correlation_id: str | None,
) -> None:
    """The reply (when there is one) and the request's ack in one frame batch: one socket
    write instead of two (each write was a system call: 13 % of the service's samples, issue
    15). What `basic_publish(mandatory=True)` and `basic_ack` would send, in that order, on
    the channel the request came in on. Not waiting for the write, as the RPC client's
    requests: a connection lost before it leaves the request unacked, and the broker
    redelivers it (exactly-once answers the repeat from the record)."""
    if channel.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
    payload = b""
    if reply is not None:
        properties = reply_properties(correlation_id)
        properties.message_id = uuid4_hex()  # basic_publish gives every message an id
        payload = _REPLY_FRAMES.frames(
            channel.number, channel.max_content_size, reply_to, properties, reply
        )
    if delivery_tag is not None:
        payload += pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=delivery_tag), channel.number)
    if payload:
        await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
