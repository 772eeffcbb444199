"""The port picker never hands out a port an outgoing connection could take meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from ck_devstack import ports


def _ephemeral() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    low, _ = _ephemeral()
    picked = [ports.free_port() for _ in range(200)]
    assert len(set(picked)) == len(picked)
    assert all(ports.LOWEST <= port < low for port in picked)
    assert not set(picked) & ports.RESERVED


def test_a_port_held_by_a_server_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        # every random pick is the held port until the fifth: the picker must skip it
        draws = iter([taken] * 4 + [ports.LOWEST + 7])
        monkeypatch.setattr(ports._random, "randint", lambda a, b: next(draws))
        monkeypatch.setattr(ports, "_first_ephemeral", lambda: 65_536)
        ports._given.discard(ports.LOWEST + 7)
        assert ports.free_port() == ports.LOWEST + 7


def test_with_no_room_below_the_ephemeral_range_the_kernel_picks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "_first_ephemeral", lambda: 1024)
    port = ports.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free
