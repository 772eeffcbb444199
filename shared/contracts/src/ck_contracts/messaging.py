"""Exchange and queue names, and the envelope every event and RPC message uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

EVENTS_EXCHANGE = "cultuurkaart.events"  # durable topic exchange: all facts
DEAD_LETTER_EXCHANGE = "cultuurkaart.dead-letter"  # direct exchange: poison messages
# Requests travel through their own exchange, which only the gateway may write to; replies
# through another, which services may write to. Neither is the default exchange, so a service
# with broker credentials cannot put a request on another service's queue.
RPC_EXCHANGE = "cultuurkaart.rpc"  # direct: routing key = the service's rpc queue
REPLIES_EXCHANGE = "cultuurkaart.replies"  # direct: routing key = the caller's reply queue
CORRELATION_HEADER = "x-correlation-id"
EVENT_TYPE_HEADER = "x-event-type"
# The gateway's signature over each request (ck_runtime.signing).
SIGNATURE_HEADER = "x-ck-signature"
SIGNING_KEY_HEADER = "x-ck-key-id"
SIGNED_AT_HEADER = "x-ck-signed-at"


def rpc_queue(service: str) -> str:
    """The queue a service answers commands and queries on."""
    return f"{service}.rpc"


def event_queue(service: str, concern: str) -> str:
    """A consuming service's own durable queue for one concern."""
    return f"{service}.events.{concern}"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead-letter"


def _system_now() -> datetime:
    return datetime.now(UTC)


_event_clock: Callable[[], datetime] = _system_now


def set_event_clock(now: Callable[[], datetime]) -> None:
    """The runtime installs its process clock here (ck_runtime.clock.install_clock), so events
    stamp `occurred_at` with the same time as everything else the process records."""
    global _event_clock
    _event_clock = now


def utcnow() -> datetime:
    """Now, by the clock the process installed (the wall clock unless a test moved it)."""
    return _event_clock()


class Event(BaseModel):
    """A fact, past tense. Carries ids, not personal data, unless its consumer needs it (R-AVG-2).

    Subclasses set `routing_key` (which is also the type name on the wire) and `version`.
    """

    # hide_input_in_errors: a validation error must not carry an address into a log line.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    routing_key: ClassVar[str]
    version: ClassVar[int] = 1

    id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    school_id: UUID | None = None

    def envelope(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        body["type"] = self.routing_key
        body["version"] = self.version
        return body


EVENT_TYPES: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def register_event(cls: E) -> E:
    """Class decorator: makes an event type decodable by its routing key."""
    if cls.routing_key in EVENT_TYPES:
        raise ValueError(f"routing key {cls.routing_key} registered twice")
    EVENT_TYPES[cls.routing_key] = cls
    return cls


def decode_event(body: dict[str, Any]) -> Event:
    """Envelope -> typed event. Unknown types raise KeyError (the consumer dead-letters them)."""
    cls = EVENT_TYPES[body["type"]]
    if int(body.get("version", 1)) > cls.version:
        raise ValueError(f"{body['type']} version {body['version']} is newer than this consumer")
    return cls.model_validate(body)
