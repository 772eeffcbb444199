"""A service process that answers the echo router (for benchmarks of the messaging path).

    python -m ck_testkit.echo_service   (AMQP_URL, ROSTER_DATABASE_URL from the environment)

It runs under the name "roster" because every service queue must exist in the topology.
"""

from __future__ import annotations

from ck_roster.app import build
from ck_runtime.service import Service, run_service

from ck_testkit.echo import echo_router


def build_echo() -> Service:
    service = build()
    service.rpc = echo_router
    return service


if __name__ == "__main__":
    run_service(build_echo)
