"""Account rules as plain functions: no I/O, no framework."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ck_contracts.accounts import SchoolSettings

SESSION_LIFETIME = timedelta(hours=12)
PASSWORD_LINK_LIFETIME = timedelta(days=7)
FIRST_SCHOOL_NUMBER = 10001

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128

# Log-in throttling per account: after FREE_ATTEMPTS failures within the window, each further
# failure locks the account for twice as long as the last (30 s, 60 s, ... at most 15 min).
FREE_ATTEMPTS = 5
FAILURE_WINDOW = timedelta(minutes=15)
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)

_BRIN = re.compile(r"^\d{2}[A-Z]{2}(\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_error(email: str) -> str | None:
    if not _EMAIL.match(email.strip()):
        return "Vul een geldig e-mailadres in (met @ en een punt in het domein)."
    return None


def password_error(password: str, email: str) -> str | None:
    """None when the password is acceptable; otherwise a Dutch reason."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Kies een wachtwoord van minstens {MIN_PASSWORD_LENGTH} tekens."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Kies een wachtwoord van hoogstens {MAX_PASSWORD_LENGTH} tekens."
    if password.strip().lower() == normalise_email(email):
        return "Het wachtwoord mag niet gelijk zijn aan uw e-mailadres."
    if len(set(password)) < 4:
        return "Dit wachtwoord is te eenvoudig."
    return None


def settings_errors(settings: SchoolSettings) -> dict[str, str]:
    """Rules beyond the schema: BRIN format, contact e-mail format."""
    errors: dict[str, str] = {}
    for i, brin in enumerate(settings.brin_codes):
        if not _BRIN.match(brin.strip().upper()):
            errors[f"brin_codes.{i}"] = (
                f"'{brin}' is geen geldige BRIN-code (twee cijfers en twee letters, bv. 00AA)."
            )
    for i, contact in enumerate(settings.contacts):
        if contact.email and email_error(contact.email):
            errors[f"contacts.{i}.email"] = "Vul een geldig e-mailadres in."
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


@dataclass(frozen=True)
class Throttle:
    failures: int
    first_failure_at: datetime
    locked_until: datetime | None

    def locked(self, now: datetime) -> timedelta | None:
        """How long the account stays locked, or None."""
        if self.locked_until is not None and self.locked_until > now:
            return self.locked_until - now
        return None


def after_failure(previous: Throttle | None, now: datetime) -> Throttle:
    if previous is None or now - previous.first_failure_at > FAILURE_WINDOW:
        return Throttle(failures=1, first_failure_at=now, locked_until=None)
    failures = previous.failures + 1
    locked_until = None
    if failures > FREE_ATTEMPTS:
        lock = min(FIRST_LOCK * (2 ** (failures - FREE_ATTEMPTS - 1)), MAX_LOCK)
        locked_until = now + lock
    return Throttle(
        failures=failures, first_failure_at=previous.first_failure_at, locked_until=locked_until
    )
