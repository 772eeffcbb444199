"""argon2id password hashing (argon2-cffi), with OWASP's minimum: m=19 MiB, t=2, p=1.

Hashing takes tens of milliseconds of CPU: it runs in a worker thread so the event loop keeps
serving other requests.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = HASHER.hash("not a real password, only for equal timing")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)
