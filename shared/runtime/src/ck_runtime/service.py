"""Start-up, running and graceful shutdown of one service process.

Order at start: migrations, database, broker connection, topology, outbox relay, subscribers
(RPC queue and event queues), background jobs (the service's and the retention job every
service runs, see retention.py), health endpoint. At stop the reverse; FastStream waits up to
`graceful_timeout` for handlers in flight, and unacknowledged messages are redelivered.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from ck_contracts.messaging import EVENTS_EXCHANGE, Event, rpc_queue
from ck_contracts.rpc import RpcReply, RpcRequest
from faststream import AckPolicy, FastStream
from faststream.exceptions import RejectMessage
from faststream.message import StreamMessage
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.annotations import RabbitMessage
from faststream.specification import AsyncAPI

from ck_runtime import event_loop, metrics, tracing
from ck_runtime.amqp import (
    BrokerUnreachable,
    TopologyMissing,
    connect,
    dead_letter_arguments,
    ensure_topology,
    probe_broker,
)
from ck_runtime.clock import Clock, current_clock, install_clock
from ck_runtime.consumers import EventConsumer, PoisonMessage, pause_before_retry
from ck_runtime.db import Database
from ck_runtime.health import HealthServer, Readiness
from ck_runtime.logs import configure_logging, get_logger
from ck_runtime.migrations import upgrade_async
from ck_runtime.outbox import ConfirmingPublisher, OutboxRelay
from ck_runtime.retention import Retention, RetentionRule, runtime_rules
from ck_runtime.rpc_consumer import RpcConsumer
from ck_runtime.rpc_server import RpcRouter
from ck_runtime.sampling import DeadLetterSampler, Sampler, sample_forever
from ck_runtime.settings import ServiceSettings, SettingsError

log = get_logger(__name__)

Background = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


@dataclass
class Service:
    """What a service is made of. Its app.py builds one of these."""

    name: str
    settings: ServiceSettings
    rpc: RpcRouter | None = None
    consumers: Sequence[EventConsumer] = ()
    background: Sequence[Background] = ()
    description: str = ""
    on_start: Sequence[Background] = field(default_factory=tuple)
    deps: Any = None  # handed to RPC handlers as call.deps
    publishes: Sequence[type[Event]] = ()  # events it writes to its outbox (for AsyncAPI)
    clock: Clock | None = None  # None: the settings' clock (the system clock in production)
    # The service's own retention rules (ck_runtime.retention), beside the runtime's.
    retention: Sequence[RetentionRule] = ()
    # Gauges of the service's own, sampled with the runtime's (ck_runtime.sampling).
    samplers: Sequence[Sampler] = ()


class ServiceRuntime:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.settings
        self.clock: Clock = service.clock or self.settings.clock()
        self._previous_clock: Clock | None = None
        self.db = Database(self.settings.resolved_database_url(), service=service.name)
        self.broker = self._build_broker()
        self.rpc: RpcConsumer | None = None
        self.relay: OutboxRelay | None = None
        self.health: HealthServer | None = None
        self.readiness = Readiness(
            service.name, {"database": self._probe_database, "broker": self._probe_broker}
        )
        # Every process runs the retention job: the runtime's rules, then the service's.
        self.retention = Retention(
            self.db,
            self.clock,
            [*runtime_rules(self.settings), *service.retention],
            interval_seconds=self.settings.retention_interval_seconds,
        )
        self._connection: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    # -- wiring ----------------------------------------------------------------------------
    def _build_broker(self, documentation: bool = False) -> RabbitBroker:
        """The FastStream broker of the event subscribers. With documentation=True it also
        holds the RPC subscriber and the published events, for the AsyncAPI file only."""
        s = self.settings
        broker = RabbitBroker(
            s.amqp_url,
            graceful_timeout=s.graceful_timeout,
            default_channel=Channel(prefetch_count=s.prefetch),
            fail_fast=True,
            log_level=10,  # FastStream's per-message lines at DEBUG: off by default
            app_id=self.service.name,
        )
        for consumer in self.service.consumers:
            self._subscribe_events(broker, consumer)
        if not documentation:
            return broker
        if self.service.rpc is not None:
            self._document_rpc(broker, self.service.rpc)
        events = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
        for event in self.service.publishes:
            # The outbox relay publishes; these publisher objects only describe it.
            broker.publisher(
                exchange=events,
                routing_key=event.routing_key,
                title=f"{event.routing_key}:publish",
                schema=event,
                description=inspect.cleandoc(event.__doc__ or ""),
            )
        return broker

    def _document_rpc(self, broker: RabbitBroker, router: RpcRouter) -> None:
        # a classic queue (RPC_QUEUE_ARGUMENTS): RabbitQueue's default type
        queue = RabbitQueue(rpc_queue(self.service.name), durable=True)

        @broker.subscriber(
            queue,
            title=f"{queue.name}:request",
            description=f"Commands and queries of {self.service.name} (request/reply; the "
            "reply goes to reply_to with the request's correlation id): "
            + ", ".join(sorted(router.operations)),
        )
        async def answer(request: RpcRequest) -> RpcReply:  # served by RpcConsumer
            raise RuntimeError("documentation only")

    def _subscribe_events(self, broker: RabbitBroker, consumer: EventConsumer) -> None:
        db = self.db
        queue = RabbitQueue(
            consumer.name,
            queue_type=QueueType.QUORUM,
            durable=True,
            # RabbitQueue adds x-queue-type itself (quorum_arguments for the rest)
            arguments=dead_letter_arguments(consumer.name, self.settings.delivery_limit),
            # Declared with the topology at start (or by the operator): looked up passively, as
            # a least-privilege broker user may.
            declare=False,
        )

        @broker.subscriber(
            queue,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            no_reply=True,
            # The body reaches the handler as bytes: FastStream's own JSON decoding would fail
            # before it, and a failure there is nacked like a failing handler (redelivered up
            # to the delivery limit) instead of dead-lettered at once as poison.
            decoder=raw_body,
            title=f"{consumer.name}:consume",
            description="Events: " + ", ".join(consumer.queue.routing_keys),
        )
        async def consume(body: bytes, message: RabbitMessage) -> None:
            try:
                handled = await consumer.handle(body, db, message.headers)
            except PoisonMessage as exc:
                metrics.event_handled(consumer.name, "poison")
                log.error("event.poison", queue=consumer.name, error=str(exc))
                raise RejectMessage(requeue=False) from exc
            except Exception:
                metrics.event_handled(consumer.name, "failed")
                log.exception("event.failed", queue=consumer.name)
                await pause_before_retry(message.headers)
                raise
            metrics.event_handled(consumer.name, "handled" if handled else "duplicate")

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(
            self._build_broker(documentation=True),
            title=f"MBO Cultuurkaart {self.service.name}",
            version="1",
            description=self.service.description,
        )

    def faststream_app(self) -> FastStream:
        return FastStream(self.broker, specification=self.asyncapi())

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        # The process clock while this service runs (tests that start a service with a moved
        # clock get it back as it was at stop).
        self._previous_clock = current_clock()
        install_clock(self.clock)
        metrics.configure(s.metrics_enabled)
        await upgrade_async(self.service.name, self.db.url)
        verifier = s.request_verifier() if self.service.rpc is not None else None
        self._connection = await connect(s.amqp_url, f"{self.service.name}-publisher")
        declared = await ensure_topology(self._connection, self.service.name, s.delivery_limit)
        if not declared:
            log.info("topology.provisioned", detail="declared by the operator; checked")
        self.relay = OutboxRelay(
            self.db,
            ConfirmingPublisher(self._connection, service=self.service.name),
            batch=s.outbox_batch,
            poll_seconds=s.outbox_poll_seconds,
            service=self.service.name,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for hook in self.service.on_start:
            await hook(self)
        await self.broker.start()
        if self.service.rpc is not None:
            assert verifier is not None
            self.rpc = RpcConsumer(
                self.service.name,
                self.service.rpc,
                self.db,
                self.service.deps,
                s.prefetch,
                self.clock,
                verifier=verifier,
            )
            await self.rpc.start(self._connection)
        for job in self.service.background:
            self._tasks.append(asyncio.create_task(job(self), name=job.__name__))
        self._tasks.append(asyncio.create_task(self.retention.run(), name="retention"))
        if s.metrics_enabled:
            self._tasks.append(asyncio.create_task(self._sample_metrics(), name="metrics"))
        if s.health_port:
            self.health = HealthServer(s.health_host, s.health_port, self.readiness)
            await self.health.start()
        log.info("service.started", health_port=s.health_port or None)

    async def check_health(self) -> dict[str, Any]:
        """The readiness answer (health.Readiness: probed at most every 2 s)."""
        return await self.readiness.check()

    async def _probe_database(self) -> None:
        await self.db.ping()

    async def _probe_broker(self) -> None:
        await probe_broker(self._connection)

    async def _sample_metrics(self) -> None:
        assert self._connection is not None
        queues = [consumer.name for consumer in self.service.consumers]
        await sample_forever(
            db=self.db,
            service=self.service.name,
            clock=self.clock,
            dead_letters=DeadLetterSampler(self._connection, queues) if queues else None,
            samplers=self.service.samplers,
            interval=self.settings.metrics_sample_seconds,
        )

    # A stop step that waits on a peer (the broker, the database) gets this long on top of
    # the handlers' graceful_timeout; a step past it is logged and the stop goes on, so that a
    # half-dead broker cannot keep a process (or a test's teardown) from ending.
    stop_step_seconds: float = 10.0

    async def stop(self) -> None:
        grace = self.settings.graceful_timeout
        if self.health is not None:
            await self._stop_step("health", self.health.stop())
        if self.rpc is not None:
            await self._stop_step("rpc", self.rpc.stop(grace), extra=grace)
        # Waits for handlers in flight (graceful_timeout).
        await self._stop_step("consumers", self.broker.stop(), extra=grace)
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        await self._stop_step("tasks", asyncio.gather(*self._tasks, return_exceptions=True))
        if self._connection is not None:
            await self._stop_step("connection", self._connection.close())
        await self._stop_step("database", self.db.dispose())
        self.readiness.invalidate()
        if self._previous_clock is not None:
            install_clock(self._previous_clock)
        log.info("service.stopped")

    async def _stop_step(self, step: str, awaitable: Awaitable[object], extra: float = 0.0) -> None:
        try:
            await asyncio.wait_for(awaitable, self.stop_step_seconds + extra)
        except TimeoutError:
            seconds = self.stop_step_seconds + extra
            log.error("service.stop_step_timed_out", step=step, seconds=seconds)
        except Exception as exc:  # a failing step must not keep the later ones from running
            log.error("service.stop_step_failed", step=step, error=repr(exc))

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopped.set)
        await self.start()
        await self._stopped.wait()
        log.info("service.stopping")
        await self.stop()


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """FastStream decoder that leaves the body alone (EventConsumer.handle decodes it)."""
    return bytes(message.body)


def run_service(build: Callable[[], Service]) -> None:
    """Entry point of every service process. An unreachable broker or a missing or wrong
    setting (a secret outside development mode: fail closed) ends the process with one
    sentence on stderr and exit code 2."""
    # ck_weborders.app -> weborders: the name for a sentence printed before build() returns.
    name = build.__module__.split(".")[0].removeprefix("ck_")
    try:
        service = build()
        name = service.name
        configure_logging(service.name, service.settings.log_level, service.settings.log_json)
        # Before the runtime: its database engine is instrumented when it is made.
        if tracing.setup_from_environment(service.name):
            log.info("tracing.on", detail="OTLP export (OTEL_EXPORTER_OTLP_ENDPOINT)")
        runtime = ServiceRuntime(service)
        event_loop.run(runtime.run_until_signalled())
    except (BrokerUnreachable, SettingsError, TopologyMissing) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        tracing.shutdown()  # flush the spans still batched
