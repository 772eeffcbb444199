"""The caller's side of request/reply, used by the gateway.

FastStream 0.7's `broker.request()` serialises every request behind one lock on Direct
Reply-To (measured: 110 requests/s with 50 callers against a 5 ms handler). Here each process
has one exclusive reply queue, each call a correlation id and a future, so any number of calls
are in flight at once. Every request carries an expiration equal to its timeout: a service
that comes back after an outage does not work through requests nobody waits for any more.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from ck_contracts.messaging import CORRELATION_HEADER, rpc_queue
from ck_contracts.roles import Actor
from ck_contracts.rpc import RpcReply, RpcRequest

from ck_runtime.amqp import connect
from ck_runtime.logs import current_correlation_id, get_logger

log = get_logger(__name__)


class ServiceUnavailable(Exception):
    """The service did not answer within the timeout, or has no queue at all."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class RpcClient:
    def __init__(self, amqp_url: str, *, timeout: float = 5.0, name: str = "gateway") -> None:
        self._url = amqp_url
        self.timeout = timeout
        self._name = name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._reply_queue: AbstractQueue | None = None
        # A fixed name (not server-named) so the robust connection re-declares the same queue
        # after a reconnect and replies keep finding us.
        self._reply_to = f"{name}.replies.{uuid.uuid4().hex}"
        self._pending: dict[str, asyncio.Future[RpcReply]] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._connection = await connect(self._url, f"{self._name}-rpc")
        await self._open_channel()

    async def _open_channel(self) -> None:
        assert self._connection is not None
        # Confirms on, so that a request to a queue that does not exist comes back at once
        # (mandatory + on_return_raises) instead of waiting out the timeout.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._reply_queue = await self._channel.declare_queue(
            self._reply_to, exclusive=True, auto_delete=True
        )
        await self._reply_queue.consume(self._on_reply, no_ack=True)

    async def stop(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        if self._connection is not None:
            await self._connection.close()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            return  # the caller timed out already
        try:
            future.set_result(RpcReply.model_validate_json(message.body))
        except ValueError as exc:
            future.set_exception(exc)

    async def call(
        self,
        service: str,
        op: str,
        payload: dict[str, Any] | None = None,
        *,
        actor: Actor | None = None,
        timeout: float | None = None,
    ) -> RpcReply:
        """Send one request and wait for its reply, at most `timeout` seconds."""
        wait = timeout or self.timeout
        if self._channel is None or self._channel.is_closed:
            async with self._lock:
                if self._channel is None or self._channel.is_closed:
                    try:
                        await asyncio.wait_for(self._open_channel(), wait)
                    except Exception as exc:
                        raise ServiceUnavailable(service, "broker unreachable") from exc
        assert self._channel is not None
        request = RpcRequest(op=op, actor=actor, payload=payload or {})
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[RpcReply] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        message = aio_pika.Message(
            body=request.model_dump_json().encode(),
            content_type="application/json",
            correlation_id=correlation_id,
            message_id=correlation_id,
            reply_to=self._reply_to,
            expiration=wait,
            headers={CORRELATION_HEADER: current_correlation_id() or ""},
        )
        try:
            await asyncio.wait_for(
                self._channel.default_exchange.publish(
                    message, routing_key=rpc_queue(service), mandatory=True
                ),
                wait,
            )
            return await asyncio.wait_for(future, wait)
        except TimeoutError as exc:
            log.warning("rpc.timeout", service=service, op=op, timeout=wait)
            raise ServiceUnavailable(service, "timeout") from exc
        except aio_pika.exceptions.PublishError as exc:
            raise ServiceUnavailable(service, "no queue") from exc
        except aio_pika.exceptions.AMQPError as exc:
            raise ServiceUnavailable(service, "broker unreachable") from exc
        finally:
            self._pending.pop(correlation_id, None)

    async def call_json(
        self, service: str, op: str, payload: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Like call(), raising RpcFailed on an error reply; returns the result."""
        reply = await self.call(service, op, payload, **kwargs)
        if not reply.ok:
            assert reply.error is not None
            raise RpcFailed(reply.error)
        return reply.result


class RpcFailed(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(error.message)
        self.error = error
