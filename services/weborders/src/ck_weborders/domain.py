"""Rules of the weborders service as plain functions (no I/O).

API keys (R-ROLE-3): `ck_live_` + 43 characters of secrets.token_urlsafe(32), i.e. 256 random
bits. Only HMAC-SHA256(pepper, key) is stored, looked up through a unique index. A slow
password hash (argon2) protects *guessable* secrets; a 256-bit random key cannot be guessed or
brute-forced from its hash, so a fast keyed hash is as safe here and costs microseconds instead
of tens of milliseconds on every API call (the weborder API is the hot path). The pepper keeps
a leaked table useless without the service's configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ck_contracts.weborders import WeborderFields

KEY_PREFIX = "ck_live_"
KEY_LENGTH = len(KEY_PREFIX) + 43
DISPLAY_PREFIX_LENGTH = 12  # "ck_live_AbCd": enough to recognise a key, useless to use it
DESCRIPTION_MAX = 200  # the budget's ledger description column


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


def plausible_key(key: str) -> bool:
    """A key of the wrong shape is refused without a database query."""
    return len(key) == KEY_LENGTH and key.startswith(KEY_PREFIX)


def request_fingerprint(fields: WeborderFields) -> str:
    """What an idempotent retry must repeat exactly: the validated, normalised body."""
    return hashlib.sha256(fields.model_dump_json().encode()).hexdigest()


def dutch_date(day: date) -> str:
    return f"{day:%d-%m-%Y}"


def _fit(text: str) -> str:
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


def weborder_description(provider_name: str, activity: str, activity_date: date) -> str:
    """The budget's ledger line: "Weborder <provider>: <activity> (dd-mm-jjjj)"."""
    tail = f" ({dutch_date(activity_date)})"
    head = f"Weborder {provider_name}: {activity}"
    if len(head) + len(tail) > DESCRIPTION_MAX:
        head = head[: DESCRIPTION_MAX - len(tail) - 1] + "…"
    return head + tail


def cancellation_description(provider_name: str, activity: str, activity_date: date) -> str:
    return _fit("Geannuleerd: " + weborder_description(provider_name, activity, activity_date))


def schooltoer_description(from_place: str, to_place: str, travel_date: date) -> str:
    return _fit(f"Schooltoer {from_place} - {to_place} ({dutch_date(travel_date)})")


def euros(cents: int) -> float:
    """Cents as a euro amount for a spreadsheet cell (exact to two decimals as a float)."""
    return round(cents / 100, 2)


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_date(moment: datetime) -> date:
    """The Dutch calendar day of a moment (dossier entries, export dates)."""
    return moment.astimezone(AMSTERDAM).date()
