"""The one notion of "now" in every process, injected so that tests move time instead of
sleeping or depending on today's date.

Times are aware datetimes in UTC; dates a school sees are Europe/Amsterdam
(`amsterdam_date`). A service gets its clock from `Service.clock` (handlers: `call.clock`,
consumers and background jobs: the clock their factory was given). Events stamp
`occurred_at` from the clock the runtime installed (`install_clock`).

`OffsetClock` lets a whole stack of processes run at a chosen moment (the end-to-end tests
give every process the same `CK_CLOCK_OFFSET_SECONDS`, honoured only in development mode), so
no test depends on the day it runs.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from ck_contracts import messaging

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock needs an aware datetime")
    return moment.astimezone(UTC)


class ManualClock:
    """A clock that stands still until it is moved (tests, demos)."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = _aware(moment)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class OffsetClock:
    """The system clock moved by a fixed offset: every process given the same offset agrees
    on the time to the microsecond, and a stack started "on 2 March" stays on 2 March
    whatever the calendar says (the run command and the end-to-end tests)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def offset_to(moment: datetime) -> timedelta:
    """The offset that makes an OffsetClock read `moment` now."""
    return _aware(moment) - datetime.now(UTC)


def amsterdam_date(moment: datetime) -> date:
    """The calendar date in the Netherlands at this moment."""
    return _aware(moment).astimezone(AMSTERDAM).date()


def amsterdam_today(clock: Clock) -> date:
    return amsterdam_date(clock.now())


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with a zone (`2026-03-02T09:00:00+00:00`, `...Z`)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return _aware(moment)


def clock_from_environment() -> Clock:
    """The clock a process starts with: the system clock, or in development mode
    (CK_DEV_MODE=true) one moved by CK_CLOCK_OFFSET_SECONDS, so that command-line tools
    started beside a moved stack (or by a test) agree with it. ServiceSettings.clock()
    refuses the offset outside development mode."""
    offset = os.environ.get("CK_CLOCK_OFFSET_SECONDS", "").strip()
    dev = os.environ.get("CK_DEV_MODE", "").strip().lower() in ("1", "true", "yes", "on")
    if offset and dev:
        return OffsetClock(timedelta(seconds=float(offset)))
    return SystemClock()


_installed: Clock = clock_from_environment()
messaging.set_event_clock(_installed.now)


def install_clock(clock: Clock) -> None:
    """The process clock: events stamp `occurred_at` from it, and it is the default of every
    handler's `call.clock`. ServiceRuntime installs its service's clock; tests install a
    ManualClock."""
    global _installed
    _installed = clock
    messaging.set_event_clock(clock.now)


def current_clock() -> Clock:
    return _installed
