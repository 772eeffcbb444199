"""Person ids: time-ordered UUIDs (the layout of RFC 9562's version 7).

The first 48 bits are the Unix time in milliseconds of the write (the caller's clock, so tests
stay off the wall clock), then the version, 74 random bits and the variant. Why not random
version-4 ids: `uq_people_id` is an index over every school's people. With 60 schools of 50,000
it is about 120 MB, more than PostgreSQL's shared_buffers here, and the 50,000 random ids of one
upload landed on nearly every leaf page of it: on a table of 2.95 M people one upload's INSERT
read 10-15 thousand pages from disk, dirtied 18,900 (3,800 on an empty table) and wrote 15,250
full-page images to the WAL (124 MB instead of 40 MB; EXPLAIN (ANALYZE, BUFFERS, WAL), see
docs/performance.md "Scale"). Ids that start with the time all fall at the right-hand edge of
that index, so an upload appends a few hundred pages whatever the number of schools.

What the id reveals: the moment the person was stored (also in `created_at`), nothing about the
person. 74 random bits keep ids unguessable; access is checked by school anyway (R-ROLE-6).
"""

from __future__ import annotations

import os
from datetime import datetime
from uuid import UUID

_TIME_BITS = 48
# A version-7 UUID's fixed bits, set on random bytes a byte at a time (bytes.translate):
# byte 6 is 0111xxxx (the version), byte 8 is 10xxxxxx (the variant).
_VERSION_BYTE = bytes(0x70 | (b & 0x0F) for b in range(256))
_VARIANT_BYTE = bytes(0x80 | (b & 0x3F) for b in range(256))


def _millis(at: datetime) -> bytes:
    millis = int(at.timestamp() * 1000) & ((1 << _TIME_BITS) - 1)
    return millis.to_bytes(_TIME_BITS // 8, "big")


def time_ordered_hexes(count: int, at: datetime) -> list[str]:
    """`count` distinct time-ordered ids of the moment `at`, as 32 hex digits each, ascending
    (hex digits sort as the UUIDs do). Made with C-level bytes operations: at 50,000 ids
    building uuid.UUID objects would cost more than storing the rows."""
    if count <= 0:
        return []
    data = bytearray(os.urandom(16 * count))
    for index, byte in enumerate(_millis(at)):
        data[index::16] = bytes((byte,)) * count
    data[6::16] = data[6::16].translate(_VERSION_BYTE)
    data[8::16] = data[8::16].translate(_VARIANT_BYTE)
    # 74 random bits per id: a repeat among 50,000 of one millisecond is about 1 in 10^13 (as
    # likely as with version 4's 122 bits among 10^11 ids); uq_people_id would refuse it.
    return sorted(data.hex(" ", -16).split(" ") if count > 1 else [data.hex()])


def time_ordered_id(at: datetime) -> UUID:
    """One person's id (a person added by hand)."""
    return UUID(hex=time_ordered_hexes(1, at)[0])
