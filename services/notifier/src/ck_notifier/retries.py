"""When a mail that failed is tried again, and when the notifier gives up on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ck_notifier.tables import MailStatus


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Pause after the n-th failed try: base, 2 x base, 4 x base, ... at most max_seconds."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 x base is beyond any sensible cap
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


@dataclass(frozen=True)
class AfterFailure:
    status: MailStatus
    attempts: int
    next_attempt_at: datetime


def after_failure(
    attempts_before: int,
    now: datetime,
    *,
    permanent: bool,
    max_attempts: int,
    base_seconds: float,
    max_seconds: float,
) -> AfterFailure:
    """A failed try counts; a permanent refusal or the last allowed try makes the mail failed."""
    attempts = attempts_before + 1
    if permanent or attempts >= max_attempts:
        return AfterFailure(MailStatus.FAILED, attempts, now)
    return AfterFailure(
        MailStatus.PENDING, attempts, now + retry_delay(attempts, base_seconds, max_seconds)
    )
