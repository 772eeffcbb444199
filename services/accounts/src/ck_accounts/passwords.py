"""argon2id password hashing (argon2-cffi), with OWASP's minimum: m=19 MiB, t=2, p=1.

Hashing takes tens of milliseconds of CPU: it runs in a worker thread so the event loop keeps
serving other requests. A hash made with other parameters is replaced at the next successful
log-in (argon2's check_needs_rehash), so raising the parameters reaches every active user.
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


def _needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return False  # verified, so argon2; a hash this library cannot read is left alone


async def rehash_if_needed(stored: str, password: str) -> str | None:
    """A new hash with today's parameters when the stored one (just verified against the
    password) was made with others, e.g. before OWASP's minimum was raised; else None."""
    if not _needs_rehash(stored):
        return None
    return await hash_password(password)
