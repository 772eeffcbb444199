"""What the accounts service deletes once its time is up (ck_runtime.retention, R-AVG-2).

- Sessions, at their expiry (12 hours after log-in): an expired session opens nothing.
- Password links, once used or expired (7 days): a link works once, so a used or expired
  link's row (a hash of the token) has no purpose left.
- Log-in throttle rows (one per account or client-address bucket), once their failure window
  has passed and any lock they caused has ended (a lock lasts at most MAX_LOCK after the last
  failure): the next failure starts afresh anyway.

None of these needs a setting: each rule follows the lifetime the domain already gives the row.
"""

from __future__ import annotations

from datetime import datetime

from ck_runtime.retention import RetentionRule, delete_expired
from sqlalchemy import ColumnElement

from ck_accounts import domain
from ck_accounts.tables import login_throttle, password_links, sessions


def _not_locked(now: datetime) -> ColumnElement[bool]:
    return login_throttle.c.last_failure_at <= now - domain.MAX_LOCK


def retention_rules() -> list[RetentionRule]:
    return [
        delete_expired("sessions.expired", sessions, sessions.c.expires_at),
        delete_expired("password_links.expired", password_links, password_links.c.expires_at),
        delete_expired("password_links.used", password_links, password_links.c.used_at),
        delete_expired(
            "login_throttle.stale",
            login_throttle,
            login_throttle.c.first_failure_at,
            domain.FAILURE_WINDOW,
            _not_locked,
        ),
    ]
