"""Account rules as plain functions: no I/O, no framework.

A broken rule is answered with a reason code and its params (ck_contracts.accounts.
AccountsReason), as the FieldError of the field it concerns; the gateway writes the Dutch.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ck_contracts import accounts as accounts_contract
from ck_contracts.accounts import AccountsReason, SchoolSettings
from ck_contracts.rpc import FieldError

SESSION_LIFETIME = timedelta(hours=12)
PASSWORD_LINK_LIFETIME = timedelta(days=7)
FIRST_SCHOOL_NUMBER = 10001

# The password rule lives in the contract (issue 14: the set-password page checks it with the
# repeat, in one round); re-exported here for the commands, the command line and the tests.
MIN_PASSWORD_LENGTH = accounts_contract.MIN_PASSWORD_LENGTH
MAX_PASSWORD_LENGTH = accounts_contract.MAX_PASSWORD_LENGTH
password_error = accounts_contract.password_error

# Log-in throttling, per account (the lower-case e-mail, known or not) and per client address
# (the gateway's keyed hash of it): after the bucket's free failures within the window, each
# further failure locks it for twice as long as the last (30 s, 60 s, ... at most 15 min),
# counted from that failure. The window starts at the bucket's first failure; a failure after
# it starts a new one. An address is shared (a school's staff behind one NAT), so it gets more
# free failures: enough for a busy office, few for one address trying many accounts.
FREE_ATTEMPTS = 5
ADDRESS_FREE_ATTEMPTS = 30
FAILURE_WINDOW = timedelta(minutes=15)
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
_MAX_DOUBLINGS = 10  # 30 s * 2**10 is far beyond MAX_LOCK; keeps the arithmetic small

_BRIN = re.compile(r"^\d{2}[A-Z]{2}(\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_error(email: str) -> FieldError | None:
    if not _EMAIL.match(email.strip()):
        return FieldError(reason=AccountsReason.EMAIL_INVALID)
    return None


def settings_errors(settings: SchoolSettings) -> dict[str, FieldError]:
    """Rules beyond the schema: at least one BRIN code, their format, contact e-mail format
    (on cleaned settings, see clean_settings)."""
    errors: dict[str, FieldError] = {}
    if not settings.brin_codes:
        errors["brin_codes"] = FieldError(reason=AccountsReason.BRIN_REQUIRED)
    errors.update(format_errors(settings.brin_codes, [c.email for c in settings.contacts]))
    return errors


def format_errors(
    brin_codes: list[str], contact_emails: list[str], budget_holder_email: str | None = None
) -> dict[str, FieldError]:
    """The format rules of a school's input, on text as typed: each BRIN code, each contact's
    address (when given), the budget holder's address (when asked). Used by the commands and
    by the check operation the forms ask (issue 14), so both say the same."""
    errors: dict[str, FieldError] = {}
    for i, brin in enumerate(brin_codes):
        if not _BRIN.match(brin.strip().upper()):
            errors[f"brin_codes.{i}"] = FieldError(
                reason=AccountsReason.BRIN_INVALID, params={"brin": brin.strip()}
            )
    for i, email in enumerate(contact_emails):
        if email.strip() and email_error(email):
            errors[f"contacts.{i}.email"] = FieldError(reason=AccountsReason.CONTACT_EMAIL_INVALID)
    if budget_holder_email is not None and (problem := email_error(budget_holder_email)):
        errors["budget_holder.email"] = problem
    return errors


def clean_settings(settings: SchoolSettings) -> SchoolSettings:
    """Upper-case BRIN codes, drop blank and repeated entries."""
    brins = list(dict.fromkeys(b.strip().upper() for b in settings.brin_codes if b.strip()))
    locations = list(dict.fromkeys(loc.strip() for loc in settings.locations if loc.strip()))
    return settings.model_copy(update={"brin_codes": brins, "locations": locations})


def next_school_number(highest: int | None) -> int:
    return FIRST_SCHOOL_NUMBER if highest is None else max(highest + 1, FIRST_SCHOOL_NUMBER)


def new_token() -> str:
    """256 random bits, URL-safe: session tokens and password links."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are stored hashed: a leaked table does not log anyone in."""
    return hashlib.sha256(token.encode()).hexdigest()


def account_bucket(email: str) -> str:
    return f"account:{normalise_email(email)}"


def address_bucket(client: str) -> str:
    return f"address:{client}"


def login_buckets(email: str, client: str | None) -> list[str]:
    """The throttle buckets of a log-in, sorted (concurrent upserts lock rows in one order)."""
    found = [account_bucket(email)]
    if client:
        found.append(address_bucket(client))
    return sorted(found)


def free_attempts(bucket: str) -> int:
    return ADDRESS_FREE_ATTEMPTS if bucket.startswith("address:") else FREE_ATTEMPTS


def lock_after(failures: int, free: int) -> timedelta | None:
    """How long the failure that brought the count to `failures` locks the bucket."""
    if failures <= free:
        return None
    doublings = min(failures - free - 1, _MAX_DOUBLINGS)
    return min(FIRST_LOCK * (1 << doublings), MAX_LOCK)


@dataclass(frozen=True)
class Throttle:
    """One bucket's failures in its window (a row of login_throttle)."""

    failures: int
    first_failure_at: datetime
    last_failure_at: datetime
    free: int = FREE_ATTEMPTS

    @property
    def locked_until(self) -> datetime | None:
        lock = lock_after(self.failures, self.free)
        return None if lock is None else self.last_failure_at + lock

    def locked(self, now: datetime) -> timedelta | None:
        """How long the bucket stays locked, or None."""
        until = self.locked_until
        if until is not None and until > now:
            return until - now
        return None


def window_expired(first_failure_at: datetime, now: datetime) -> bool:
    return now - first_failure_at > FAILURE_WINDOW


def after_failure(previous: Throttle | None, now: datetime, free: int = FREE_ATTEMPTS) -> Throttle:
    """The bucket after one more failure (the handler's single upsert does the same in SQL)."""
    if previous is None or window_expired(previous.first_failure_at, now):
        return Throttle(failures=1, first_failure_at=now, last_failure_at=now, free=free)
    return Throttle(
        failures=previous.failures + 1,
        first_failure_at=previous.first_failure_at,
        last_failure_at=max(previous.last_failure_at, now),
        free=free,
    )


def retry_after_seconds(lock: timedelta) -> int:
    """Whole seconds to wait, rounded up past the lock's end."""
    return int(lock.total_seconds()) + 1


def longest_lock(throttles: list[Throttle], now: datetime) -> timedelta | None:
    locks = [lock for t in throttles if (lock := t.locked(now)) is not None]
    return max(locks, default=None)
