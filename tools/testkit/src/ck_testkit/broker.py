"""A RabbitMQ virtual host of one's own, for a test session, a module or a single test."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def can_make_vhosts() -> bool:
    return shutil.which("rabbitmqctl") is not None


@contextmanager
def virtual_host(prefix: str = "ck-test") -> Iterator[str]:
    """Create a vhost on the local RabbitMQ (rabbitmqctl), yield its URL, delete it after."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)  # noqa: S603, S607
    subprocess.run(  # noqa: S603
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],  # noqa: S607
        check=True,
    )
    try:
        yield f"{LOCAL_AMQP}{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)  # noqa: S603, S607
