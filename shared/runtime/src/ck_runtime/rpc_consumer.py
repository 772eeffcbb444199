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
import json
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from ck_contracts.messaging import CORRELATION_HEADER, rpc_queue
from ck_contracts.rpc import ErrorCode, RpcError, RpcReply, RpcRequest
from pydantic import ValidationError

from ck_runtime.amqp import RPC_QUEUE_ARGUMENTS
from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import bind_correlation_id, get_logger
from ck_runtime.rpc_server import RpcRouter

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
    ) -> None:
        self._queue_name = rpc_queue(service)
        self._router = router
        self._db = db
        self._deps = deps
        self._clock = clock
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
        self._queue = await self._channel.declare_queue(
            self._queue_name, durable=True, arguments=RPC_QUEUE_ARGUMENTS
        )
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
        self._in_flight += 1
        self._idle.clear()
        try:
            bind_correlation_id(str((message.headers or {}).get(CORRELATION_HEADER) or "") or None)
            reply = await self._answer(message.body)
            if message.reply_to and self._channel is not None:
                await self._channel.default_exchange.publish(
                    aio_pika.Message(
                        json.dumps(reply, separators=(",", ":")).encode(),
                        content_type="application/json",
                        correlation_id=message.correlation_id,
                    ),
                    routing_key=message.reply_to,
                )
            await message.ack()
        except aio_pika.exceptions.AMQPError:
            log.warning("rpc.reply_failed")  # the caller times out; nothing else to do
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _answer(self, body: bytes) -> dict[str, Any]:
        try:
            request = RpcRequest.model_validate_json(body)
        except ValidationError:
            error = RpcError(code=ErrorCode.INVALID, message="Onleesbaar verzoek.")
            return RpcReply(ok=False, error=error).model_dump(mode="json")
        return await self._router.dispatch(request, self._db, self._deps, self._clock)
