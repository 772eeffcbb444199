"""`ck-ops`: what the CJP platform team runs by hand (docs/operations.md).

ck-ops keys new [--id 2026a]
    a fresh Ed25519 pair: GATEWAY_RPC_SIGNING_KEY for the gateway, RPC_VERIFY_KEYS for
    every service (ck_runtime.signing; rotation: list old and new public keys, switch the
    gateway, drop the old one)

ck-ops broker provision (--management-url URL | --rabbitmqctl) [--vhost /] [--prefix ck]
    declares the topology (exchanges, queues, bindings) and one user per process with
    least-privilege permissions (ck_devstack.broker_access). Passwords come from the
    environment: <COMPONENT>_AMQP_PASSWORD (ACCOUNTS_AMQP_PASSWORD, ..., GATEWAY_AMQP_PASSWORD);
    the management API's administrator from RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD.
    User names: <prefix>-<component> (ck-accounts, ..., ck-gateway).

ck-ops dead-letters list [SERVICE] [--limit 100]
    every dead-letter queue (of one service, or all): its count and, per message, id, routing
    key, why it died (rejected: poison; delivery_limit: its handler kept failing) and when.
    Never the body. The messages stay where they are.

ck-ops dead-letters replay QUEUE (ID [ID ...] | --all)
    puts dead letters back on the queue they died in (QUEUE: the event queue or its
    .dead-letter queue), each acknowledged on the dead-letter queue only after the broker
    confirmed the copy; safe to run twice (the consumer's inbox drops a repeat).

The dead-letter commands connect to --amqp-url, else AMQP_URL, else the local broker
(ck_runtime.dead_letters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
from ck_runtime import dead_letters
from ck_runtime.amqp import BrokerUnreachable, connect
from ck_runtime.signing import KeySettingError, new_key_pair

from ck_devstack import broker_access
from ck_devstack.definitions import build_definitions


def _keys_new(args: argparse.Namespace) -> int:
    try:
        private, public = new_key_pair(args.id)
    except KeySettingError as exc:
        print(f"ck-ops: {exc}", file=sys.stderr)
        return 2
    print(f"GATEWAY_RPC_SIGNING_KEY={private}")
    print(f"RPC_VERIFY_KEYS={public}")
    return 0


def provisioning_document(vhost: str, prefix: str, environ: dict[str, str]) -> dict[str, Any]:
    """Topology plus users and permissions, passwords from the environment."""
    missing = [
        f"{c.upper()}_AMQP_PASSWORD"
        for c in broker_access.COMPONENTS
        if not environ.get(f"{c.upper()}_AMQP_PASSWORD")
    ]
    if missing:
        raise ValueError(f"set {', '.join(missing)} (one password per process)")
    users = {
        c: (f"{prefix}-{c}", environ[f"{c.upper()}_AMQP_PASSWORD"])
        for c in broker_access.COMPONENTS
    }
    document = build_definitions(vhost)
    document.update(broker_access.access_definitions(vhost, users))
    return document


def _broker_provision(args: argparse.Namespace) -> int:
    try:
        document = provisioning_document(args.vhost, args.prefix, dict(os.environ))
    except ValueError as exc:
        print(f"ck-ops: {exc}", file=sys.stderr)
        return 2
    if args.rabbitmqctl:
        broker_access.rabbitmqctl_import(document)
    else:
        admin = os.environ.get("RABBITMQ_ADMIN_USER", "")
        password = os.environ.get("RABBITMQ_ADMIN_PASSWORD", "")
        if not admin or not password:
            print("ck-ops: set RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD", file=sys.stderr)
            return 2
        url = f"{args.management_url.rstrip('/')}/api/definitions/{quote(args.vhost, safe='')}"
        # Users are global: the vhost-scoped endpoint takes topology only, so users and
        # permissions go to the global one.
        topology = {k: v for k, v in document.items() if k in ("queues", "exchanges", "bindings")}
        access = {k: document[k] for k in ("users", "permissions", "topic_permissions")}
        access["vhosts"] = document["vhosts"]
        with httpx.Client(auth=(admin, password), timeout=30) as http:
            for target, body in (
                (f"{args.management_url.rstrip('/')}/api/definitions", access),
                (url, topology),
            ):
                answer = http.post(target, json=body)
                if answer.status_code >= 300:
                    print(
                        f"ck-ops: the management API answered {answer.status_code} on {target}",
                        file=sys.stderr,
                    )
                    return 1
    print(f"provisioned vhost {args.vhost}: topology and {len(broker_access.COMPONENTS)} users")
    return 0


LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _amqp_url(args: argparse.Namespace) -> str:
    return str(args.amqp_url or os.environ.get("AMQP_URL") or LOCAL_AMQP)


def _print_queue(queue: dead_letters.DeadLetterQueue) -> None:
    print(f"{queue.name}: {queue.count} message(s)")
    for m in queue.messages:
        died = m.died_at.strftime("%Y-%m-%d %H:%M:%S") if m.died_at else "?"
        print(f"  {m.id:36}  {m.routing_key:40}  {m.reason:14}  {died} UTC")
    if len(queue.messages) < queue.count:
        print(f"  ... and {queue.count - len(queue.messages)} more (--limit)")


async def _dead_letters_list(args: argparse.Namespace) -> int:
    queues = dead_letters.dead_letter_queues(args.service)
    connection = await connect(_amqp_url(args), "ck-ops")
    try:
        total = 0
        for name in queues:
            try:
                queue = await dead_letters.inspect(connection, name, args.limit)
            except dead_letters.UnknownQueue as exc:
                print(f"{name}: {exc}", file=sys.stderr)
                continue
            total += queue.count
            if queue.count or args.service:
                _print_queue(queue)
        print(f"{total} dead letter(s) in {len(queues)} queue(s).")
    finally:
        await connection.close()
    return 0


async def _dead_letters_replay(args: argparse.Namespace) -> int:
    queue = dead_letters.resolve(args.queue)
    connection = await connect(_amqp_url(args), "ck-ops")
    try:
        result = await dead_letters.replay(connection, queue, None if args.all else args.ids)
    finally:
        await connection.close()
    for identity in result.ids:
        print(f"replayed: {identity}")
    for identity in result.missing:
        print(f"no dead letter with id {identity} in {queue}", file=sys.stderr)
    print(f"{len(result.ids)} message(s) back on {dead_letters.source_of(queue)}.")
    return 1 if result.missing else 0


def _dead_letters(args: argparse.Namespace) -> int:
    command = _dead_letters_list if args.dead_letters_command == "list" else _dead_letters_replay
    try:
        return asyncio.run(command(args))
    except (dead_letters.UnknownQueue, BrokerUnreachable) as exc:
        print(f"ck-ops: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ck-ops", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="signing keys of the gateway")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_commands.add_parser("new", help="print a fresh key pair")
    new.add_argument("--id", default="k1", help="the key id (letters, digits, . _ -)")
    new.set_defaults(run=_keys_new)
    broker = commands.add_parser("broker", help="the RabbitMQ topology and users")
    broker_commands = broker.add_subparsers(dest="broker_command", required=True)
    provision = broker_commands.add_parser("provision", help="declare topology and users")
    target = provision.add_mutually_exclusive_group(required=True)
    target.add_argument("--management-url", help="e.g. http://rabbitmq:15672")
    target.add_argument("--rabbitmqctl", action="store_true", help="the local node")
    provision.add_argument("--vhost", default="/")
    provision.add_argument("--prefix", default="ck")
    provision.set_defaults(run=_broker_provision)
    dead = commands.add_parser("dead-letters", help="list and replay dead letters")
    dead_commands = dead.add_subparsers(dest="dead_letters_command", required=True)
    listing = dead_commands.add_parser("list", help="counts and envelopes, never bodies")
    listing.add_argument("service", nargs="?", help="one service (default: all)")
    listing.add_argument("--limit", type=int, default=100, help="messages shown per queue")
    listing.set_defaults(run=_dead_letters)
    again = dead_commands.add_parser("replay", help="put dead letters back on their queue")
    for sub in (listing, again):
        sub.add_argument("--amqp-url", help="default: AMQP_URL, else the local broker")
    again.add_argument("queue", help="the event queue, e.g. roster.events.schools")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every message in it now")
    again.set_defaults(run=_dead_letters)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
