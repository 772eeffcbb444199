"""The weborder hot path's key lookup, kept for a few seconds (issue 15).

Creating a weborder read the key's provider and the school of the number in one SELECT per
call. Measured in-process (the create dispatch on SQLite, with and without this cache in
turns), that statement was about a sixth of the service's CPU for the command; a provider
posting a stream of weborders sends the same key and school number again and again.

What is kept, per (key hash, school number): the provider's id and name, the school's id, the
key's id and its last use, for WINDOW by the service's clock. Only a key that was found with a
known school is kept: an unknown or revoked key and an unknown school number are looked up
every time (a school the service learns of counts at once).

Revocation stays effective: a revoke through this service (the CJP admin's, or the provider's
own in the portal) empties the cache of that process and keeps it off for WINDOW, so the key is
refused at once there (the revoke commits well within the window, and no lookup made before it
is kept). Another replica of the service may accept the revoked key for at most WINDOW.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

WINDOW = timedelta(seconds=5)
MAX_ENTRIES = 10_000  # a bound, not a tuning: full, the cache starts again empty


class KeyAndSchool(NamedTuple):
    """store.provider_and_school's row, by the same names."""

    id: uuid.UUID  # the provider's
    name: str
    school_id: uuid.UUID | None
    key_id: uuid.UUID | None
    last_used_at: datetime | None


class _Entry(NamedTuple):
    found: KeyAndSchool
    at: datetime  # when it was read from the database


class KeyCache:
    def __init__(self, window: timedelta = WINDOW, max_entries: int = MAX_ENTRIES) -> None:
        self.window = window
        self._max = max_entries
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._off_until: datetime | None = None

    def get(self, digest: str, school_number: int, now: datetime) -> KeyAndSchool | None:
        entry = self._entries.get((digest, school_number))
        if entry is None:
            return None
        if not entry.at <= now < entry.at + self.window:  # a clock set back does not extend it
            del self._entries[(digest, school_number)]
            return None
        return entry.found

    def put(self, digest: str, school_number: int, found: KeyAndSchool, now: datetime) -> None:
        """Keep a lookup made at `now` (from the database) for the window."""
        if found.school_id is None or found.key_id is None:
            return
        if self._off_until is not None:
            if now < self._off_until:
                return
            self._off_until = None
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[(digest, school_number)] = _Entry(found, now)

    def used(self, digest: str, school_number: int, now: datetime) -> None:
        """The key's use was recorded at `now` (store.touch_key); its entry keeps its expiry."""
        entry = self._entries.get((digest, school_number))
        if entry is not None:
            self._entries[(digest, school_number)] = entry._replace(
                found=entry.found._replace(last_used_at=now)
            )

    def revoked(self, now: datetime) -> None:
        """A key was revoked: forget every entry, and keep none until the window has passed
        (a lookup made before the revoke committed must not be kept)."""
        self._entries.clear()
        self._off_until = now + self.window
