"""Fixed moments and installed clocks for tests: no test depends on the day it runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from ck_runtime.clock import Clock, ManualClock, amsterdam_today, current_clock, install_clock

# A Monday morning in term time, well before any spending end date the tests configure.
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@contextmanager
def installed(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the process clock (event stamps, handlers' default) for a block."""
    previous = current_clock()
    install_clock(clock)
    try:
        yield clock
    finally:
        install_clock(previous)


def manual(start: datetime = MONDAY) -> ManualClock:
    return ManualClock(start)


def now() -> datetime:
    """Now by the process clock (the test session runs on MONDAY onwards, see conftest.py)."""
    return current_clock().now()


def today() -> date:
    """Today in Amsterdam by the process clock."""
    return amsterdam_today(current_clock())
