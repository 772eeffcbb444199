"""Free TCP ports for a local stack, a test's server or a second RabbitMQ node.

A port is picked now and bound later by another process. A port from the kernel's ephemeral
range (bind to port 0) can be taken in between by any outgoing connection on the machine
(the source port of a connection to RabbitMQ or PostgreSQL): a service of a test stack once
failed to start with "address already in use" that way. Ports below that range are never
handed to outgoing connections, so the picks come from there, at random (parallel test
workers rarely meet), each checked free by binding it, and never twice from one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

# Below: the servers this machine runs or a developer's `ck-dev run` uses (8000-8400).
LOWEST = 10_000
# Well-known ports above LOWEST that a local server may hold while it restarts.
RESERVED = frozenset({15672, 15692, 25672, 27017})
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")

_given: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def _first_ephemeral() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing holds now and that no outgoing connection will take
    before its user binds it."""
    highest = _first_ephemeral() - 1
    if highest <= LOWEST:  # an unusual ephemeral range: let the kernel pick instead
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    with _lock:
        for _ in range(1000):
            port = _random.randint(LOWEST, highest)
            if port in _given or port in RESERVED or not _bindable(port):
                continue
            _given.add(port)
            return port
    raise OSError(f"no free TCP port found between {LOWEST} and {highest}")
