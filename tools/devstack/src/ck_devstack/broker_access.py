"""Least privilege on the broker: one RabbitMQ user per service and one for the gateway.

What each may do (RabbitMQ checks configure/write/read per resource name, and topic
permissions per routing key on the events exchange):

- gateway: configure its own reply queues; write the RPC exchange (and bind its reply
  queues); read the replies exchange and its reply queues.
- a service: configure nothing; write the events exchange (its own routing keys only) and
  the replies exchange; read its own RPC and event queues.

So only the gateway can put a request on a service's queue (services may not write to the RPC
exchange nor to the default exchange), a service can publish only the events it owns (a
compromised roster cannot fake `invoicing.invoice.paid`), and nobody but the operator declares
or deletes queues: the topology is provisioned (deploy/rabbitmq/definitions.json, or
`ck-ops broker provision`, or `ck-dev run` on the local broker) and services only check it.

The same definitions document serves every way of applying it: `rabbitmqctl import_definitions`
on the local broker (ck-dev run, tests) and the management API (`POST /api/definitions`) in
production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ck_contracts.messaging import (
    EVENTS_EXCHANGE,
    REPLIES_EXCHANGE,
    RPC_EXCHANGE,
    rpc_queue,
)
from ck_contracts.topology import PUBLISHERS, SERVICES, queues_of

GATEWAY = "gateway"
COMPONENTS: tuple[str, ...] = (*SERVICES, GATEWAY)
REPLY_QUEUE_PREFIX = f"{GATEWAY}.replies."  # RpcClient(name="gateway") names its queues so


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str
    publish_keys: str | None = None  # topic permission on the events exchange (write)


def _alternatives(names: list[str]) -> str:
    if not names:
        return "^$"
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def permissions(component: str) -> Permissions:
    if component == GATEWAY:
        replies = re.escape(REPLY_QUEUE_PREFIX) + ".*"
        return Permissions(
            configure=f"^{replies}$",
            # queue.bind needs write on the queue and read on the exchange.
            write=f"^({re.escape(RPC_EXCHANGE)}|{replies})$",
            read=f"^({re.escape(REPLIES_EXCHANGE)}|{replies})$",
            publish_keys="^$",
        )
    if component not in SERVICES:
        raise ValueError(f"unknown component {component}")
    own_queues = [rpc_queue(component), *(q.name for q in queues_of(component))]
    keys = sorted({event.routing_key for event in PUBLISHERS[component]})
    return Permissions(
        configure="^$",
        write=_alternatives([EVENTS_EXCHANGE, REPLIES_EXCHANGE]),
        read=_alternatives(own_queues),
        publish_keys=_alternatives(keys),
    )


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def access_definitions(vhost: str, users: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """Users, permissions and topic permissions for `users` (component -> (name, password))."""
    out: dict[str, Any] = {"users": [], "permissions": [], "topic_permissions": []}
    for component, (name, password) in users.items():
        rights = permissions(component)
        out["users"].append(
            {
                "name": name,
                "password_hash": password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        out["permissions"].append(
            {
                "user": name,
                "vhost": vhost,
                "configure": rights.configure,
                "write": rights.write,
                "read": rights.read,
            }
        )
        if rights.publish_keys is not None:
            out["topic_permissions"].append(
                {
                    "user": name,
                    "vhost": vhost,
                    "exchange": EVENTS_EXCHANGE,
                    "write": rights.publish_keys,
                    "read": ".*",
                }
            )
    return out


def user_url(amqp_url: str, name: str, password: str) -> str:
    """The broker URL with another user in it (host, port and vhost kept)."""
    parts = urlsplit(amqp_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(name, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return "/" if path in ("", "/") else path[1:].replace("%2F", "/").replace("%2f", "/")


def can_provision_locally(amqp_url: str) -> bool:
    """rabbitmqctl talks to the local node only; the URL must point at this machine's node on
    the standard port (a test's private node, ck_testkit.rabbit_node, is another node: its
    processes use the URL's own user)."""
    parts = urlsplit(amqp_url)
    host = parts.hostname or "127.0.0.1"
    return (
        host in ("127.0.0.1", "localhost", "::1")
        and (parts.port or 5672) == 5672
        and shutil.which("rabbitmqctl") is not None
    )


def rabbitmqctl_import(definitions: Mapping[str, Any]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(definitions, handle)
        path = Path(handle.name)
    try:
        os.chmod(path, 0o644)  # rabbitmqctl may read it as another user
        result = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            ["rabbitmqctl", "-q", "import_definitions", str(path)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    finally:
        path.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(
            "rabbitmqctl import_definitions failed: "
            + (result.stderr or result.stdout).strip()[:500]
        )


def vhost_user(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).username or "guest")


def vhost_commands(amqp_url: str, *, sudo: bool | None = None) -> str:
    """The rabbitmqctl line that makes the URL's vhost usable by the URL's user (for people);
    sudo: put sudo in front (None: when this process is not root)."""
    vhost, user = vhost_of(amqp_url), vhost_user(amqp_url)
    if sudo is None:
        sudo = os.geteuid() != 0
    prefix = "sudo " if sudo else ""
    return (
        f"{prefix}rabbitmqctl add_vhost {vhost} && "
        f"{prefix}rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'"
    )


def ensure_vhost_locally(amqp_url: str) -> None:
    """Create the URL's vhost on the local broker, with every right on it for the URL's user
    (development: running beside another stack on the same broker). Idempotent: the import
    only adds what is missing."""
    vhost = vhost_of(amqp_url)
    rabbitmqctl_import(
        {
            "vhosts": [{"name": vhost}],
            "permissions": [
                {
                    "user": vhost_user(amqp_url),
                    "vhost": vhost,
                    "configure": ".*",
                    "write": ".*",
                    "read": ".*",
                }
            ],
        }
    )


def remove_vhost_locally(amqp_url: str) -> None:
    subprocess.run(  # noqa: S603
        ["rabbitmqctl", "-q", "delete_vhost", vhost_of(amqp_url)],  # noqa: S607
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


def remove_users_locally(names: list[str]) -> None:
    """Delete users, one rabbitmqctl call after the other: every call is an Erlang node of its
    own on one of only 11 distribution ports (35672-35682), so calls in parallel (several test
    stacks stopping at once) run out of ports and fail."""
    for name in names:
        subprocess.run(  # noqa: S603
            ["rabbitmqctl", "-q", "delete_user", name],  # noqa: S607
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )


def local_users(amqp_url: str, prefix: str) -> dict[str, tuple[str, str]]:
    """Fresh credentials per component: names `<prefix>.<component>`, random passwords."""
    return {
        component: (f"{prefix}.{component}", secrets.token_urlsafe(24)) for component in COMPONENTS
    }


def provision_locally(amqp_url: str, prefix: str) -> dict[str, str]:
    """Create (or update) one user per component on the local broker, with its permissions in
    the URL's vhost. Returns component -> its own broker URL."""
    users = local_users(amqp_url, prefix)
    rabbitmqctl_import(access_definitions(vhost_of(amqp_url), users))
    return {
        component: user_url(amqp_url, name, password)
        for component, (name, password) in users.items()
    }
