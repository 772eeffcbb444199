"""Jobs that run on the clock (schedulers), safe with several replicas of a service.

One way for every service:

- `run_periodic` is the loop: a pass, then a pause of the poll interval (at once again when the
  pass says more is due; after an error a pause doubling up to 5 minutes). Every replica runs
  it; nothing is elected.
- A pass makes each of its effects happen once, whichever replica gets there first, in the
  transaction that writes the effect's event to the outbox:
  * an effect on one row: a conditional UPDATE (the budget's approval: `status` still open and
    the period ended; a reminder: `reminders_sent` still n), and the event only when the
    UPDATE changed the row;
  * an effect that belongs to no row (one digest per school per day): `claim_once`, a unique
    key in the service's `inbox` table (`ck_runtime.inbox.claim_message`, INSERT ... ON
    CONFLICT DO NOTHING), the very claim that makes a redelivered event harmless. A second
    replica's insert waits for the first one's commit (PostgreSQL) or its write lock (SQLite)
    and then finds the key taken.
  On PostgreSQL a pass may select its candidates `FOR UPDATE SKIP LOCKED` so replicas share the
  work instead of waiting on each other; that is an optimisation, the conditional UPDATE or the
  claim is what makes it once-only.
- Time is the service's Clock, given to the job: tests move a ManualClock and call the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.inbox import claim_message
from ck_runtime.logs import get_logger

log = get_logger(__name__)

MAX_PAUSE_SECONDS = 300.0
# The inbox's message id column holds at most this many characters.
MAX_KEY_LENGTH = 64


async def claim_once(session: AsyncSession, job: str, key: str) -> bool:
    """True for the one caller (of any replica) that first claims `key` for `job`, in this
    transaction; False when it was claimed before. The claim is rolled back with the
    transaction, so a pass that fails leaves the key free for the next one. Keys live as long
    as inbox rows (`<SERVICE>_INBOX_RETENTION_DAYS`, at least a day): put a date in a key
    that must never repeat (a daily digest), and use a conditional UPDATE of the row itself
    for effects that must stay done for longer."""
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"claim key of {len(key)} characters: at most {MAX_KEY_LENGTH}")
    return await claim_message(session, key, f"job:{job}")


async def run_periodic(
    name: str,
    one_pass: Callable[[], Awaitable[bool]],
    poll_seconds: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Until cancelled (or `stop` is set): `one_pass()`, then wait `poll_seconds`. A pass
    returns True when more may be due at once (a full batch): then the next pass starts
    without a pause. A pass that raises (database unreachable or busy) is logged and tried
    again after a pause doubling from `poll_seconds` to 5 minutes."""
    stop = stop or asyncio.Event()
    pause = poll_seconds
    while not stop.is_set():
        try:
            more = await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("periodic.pass_failed", job=name, error=type(exc).__name__, retry_in=pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
            continue
        pause = poll_seconds
        if more:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)
