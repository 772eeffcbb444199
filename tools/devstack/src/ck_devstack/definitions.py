"""RabbitMQ definitions (exchanges, queues, bindings) generated from ck_contracts.topology.

    uv run python -m ck_devstack.definitions > deploy/rabbitmq/definitions.json

The queue arguments come from ck_runtime.amqp, the same functions the services declare their
topology with at start-up, so the file and the services never disagree (RabbitMQ refuses a
redeclaration with other arguments).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ck_contracts.messaging import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    REPLIES_EXCHANGE,
    RPC_EXCHANGE,
    dead_letter_queue,
    rpc_queue,
)
from ck_contracts.topology import EVENT_QUEUES, SERVICES
from ck_runtime.amqp import RPC_QUEUE_ARGUMENTS, quorum_arguments
from ck_runtime.settings import ServiceSettings

DEFAULT_DELIVERY_LIMIT = int(ServiceSettings.model_fields["delivery_limit"].default)
DEAD_LETTER_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


def _exchange(name: str, kind: str, vhost: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "type": kind,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _queue(name: str, arguments: dict[str, Any], vhost: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": dict(arguments),
    }


def _binding(source: str, queue: str, routing_key: str, vhost: str) -> dict[str, Any]:
    return {
        "source": source,
        "vhost": vhost,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": routing_key,
        "arguments": {},
    }


def build_definitions(
    vhost: str = "/", delivery_limit: int = DEFAULT_DELIVERY_LIMIT
) -> dict[str, Any]:
    """The platform's topology as a RabbitMQ definitions document. No users, no passwords:
    those come from the deployment's secrets."""
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for spec in EVENT_QUEUES:
        queues.append(_queue(spec.name, quorum_arguments(spec.name, delivery_limit), vhost))
        for key in spec.routing_keys:
            bindings.append(_binding(EVENTS_EXCHANGE, spec.name, key, vhost))
        dead = dead_letter_queue(spec.name)
        queues.append(_queue(dead, DEAD_LETTER_QUEUE_ARGUMENTS, vhost))
        bindings.append(_binding(DEAD_LETTER_EXCHANGE, dead, spec.name, vhost))
    for service in SERVICES:
        queues.append(_queue(rpc_queue(service), RPC_QUEUE_ARGUMENTS, vhost))
        bindings.append(_binding(RPC_EXCHANGE, rpc_queue(service), rpc_queue(service), vhost))
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [
            _exchange(EVENTS_EXCHANGE, "topic", vhost),
            _exchange(DEAD_LETTER_EXCHANGE, "direct", vhost),
            _exchange(RPC_EXCHANGE, "direct", vhost),
            _exchange(REPLIES_EXCHANGE, "direct", vhost),
        ],
        "queues": queues,
        "bindings": bindings,
        "policies": [],
        "parameters": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ck_devstack.definitions",
        description="Print the RabbitMQ definitions of the platform (JSON) on stdout.",
    )
    parser.add_argument("--vhost", default="/")
    parser.add_argument("--delivery-limit", type=int, default=DEFAULT_DELIVERY_LIMIT)
    args = parser.parse_args()
    print(json.dumps(build_definitions(args.vhost, args.delivery_limit), indent=2))


if __name__ == "__main__":
    main()
