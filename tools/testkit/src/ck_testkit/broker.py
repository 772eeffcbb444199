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


# A broker that stops answering its command line (seen on an overloaded machine: add_vhost
# waiting forever) fails the test run with a sentence instead of holding it until CI's limit.
CTL_TIMEOUT_SECONDS = 120.0


def _ctl(*arguments: str, check: bool = True) -> None:
    command = ["rabbitmqctl", "-q", *arguments]
    try:
        subprocess.run(command, check=check, timeout=CTL_TIMEOUT_SECONDS)  # noqa: S603
    except subprocess.TimeoutExpired as error:
        if check:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(arguments)} did not answer within "
                f"{CTL_TIMEOUT_SECONDS:.0f} s: is the local RabbitMQ healthy (rabbitmqctl status)?"
            ) from error


@contextmanager
def virtual_host(prefix: str = "ck-test") -> Iterator[str]:
    """Create a vhost on the local RabbitMQ (rabbitmqctl), yield its URL, delete it after."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    _ctl("add_vhost", vhost)
    try:
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{LOCAL_AMQP}{vhost}"
    finally:
        _ctl("delete_vhost", vhost, check=False)
