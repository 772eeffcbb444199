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
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
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
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
