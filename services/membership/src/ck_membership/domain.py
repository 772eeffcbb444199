"""Membership rules as plain functions: no I/O, no framework (R-MEMBER-3, R-MEMBER-4).

Activation codes
    12 characters from Crockford's base-32 alphabet (digits and upper-case letters without I,
    L, O and U), so 32**12 = 2**60 (about 1.15e18) codes: 60 random bits from `secrets`. Shown
    in groups of four, ``ABCD-EFGH-JKMN``. Input is forgiving: case, spaces and dashes do not
    matter, and the look-alikes O, I and L are read as 0, 1 and 1. Even with a million open
    codes a single guess hits one with a chance of about 1 in 10**12, and guessing is throttled
    per client address, per code prefix and overall (Limits, per FAILURE_WINDOW).

CJP card numbers
    13 digits: 12 random digits (the first never 0) and a Luhn check digit, so a typing error
    in one digit or a swap of two neighbours is caught before anything is looked up.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from ck_contracts.membership import MembershipReason
from ck_contracts.rpc import FieldError

# --- activation codes -----------------------------------------------------------------------
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
CODE_LENGTH = 12
CODE_BITS = 60  # 12 characters x 5 bits
CODE_GROUP = 4
_CODE_CHARS = frozenset(CODE_ALPHABET)
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Separators people type or paste between the groups: spaces, dashes, dots, dash look-alikes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212._]+")

assert len(CODE_ALPHABET) == 32 and len(_CODE_CHARS) == 32
assert 32**CODE_LENGTH == 2**CODE_BITS


def new_code() -> str:
    """A new activation code in its stored form: 12 characters, no dashes (60 random bits)."""
    return code_from_int(secrets.randbits(CODE_BITS))


def code_from_int(number: int) -> str:
    """The code of a number 0 <= number < 2**60 (five bits per character, high bits first)."""
    if not 0 <= number < 2**CODE_BITS:
        raise ValueError("number out of range")
    chars = []
    for _ in range(CODE_LENGTH):
        chars.append(CODE_ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def display_code(code: str) -> str:
    """ABCDEFGHJKMN -> ABCD-EFGH-JKMN: how schools and members see a code."""
    return "-".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def normalise_code(text: str) -> str | None:
    """What a member typed -> the stored form, or None when it cannot be a code at all.

    Upper-case, separators dropped, O -> 0 and I/L -> 1 (those letters are not in the alphabet,
    so the mapping never turns one valid code into another).
    """
    cleaned = _SEPARATORS.sub("", text).upper().translate(_LOOK_ALIKES)
    if len(cleaned) != CODE_LENGTH or not _CODE_CHARS.issuperset(cleaned):
        return None
    return cleaned


# --- CJP card numbers ------------------------------------------------------------------------
CARD_NUMBER_LENGTH = 13


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits` + it pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # the rightmost digit of the body is doubled (it sits left of the check)
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    if not (number.isascii() and number.isdigit()) or len(number) < 2:
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def new_card_number() -> str:
    """13 digits: a random 12-digit body (first digit 1-9) and its Luhn check digit."""
    body = str(secrets.randbelow(9 * 10**11) + 10**11)
    return body + luhn_check_digit(body)


# --- throttling of activation attempts -------------------------------------------------------
# A failed attempt (a well-formed code that is unknown, used or revoked) counts in three
# buckets, each a fixed window of FAILURE_WINDOW that starts at the bucket's first failure:
#
#   the client address  generous: a school's students share one NAT address, and a class
#                       activating together with a few typos must never reach it;
#   the code prefix     strict: the first PREFIX_LENGTH characters (20 of the 60 bits), from
#                       any address; one student typing their own code wrong holds up only
#                       that prefix (on average half a code nationwide), and someone who knows
#                       the first group of a code cannot search the other 40 bits;
#   everyone            a ceiling on all failures together, whatever the number of addresses.
#
# A bucket at its limit refuses every attempt it covers until its window ends, checked before
# the code is looked at (no oracle). The invitation mail's personal link carries a second
# value (link_key): the right pair of code and key skips every bucket, so a valid link always
# works. The arithmetic is in docs/architecture.md.
FAILURE_WINDOW = timedelta(minutes=15)
PREFIX_LENGTH = 4


@dataclass(frozen=True)
class Limits:
    """Failures per FAILURE_WINDOW (settings MEMBERSHIP_ACTIVATION_*_LIMIT)."""

    address: int = 100
    prefix: int = 10
    everyone: int = 100_000  # 0: no ceiling


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int


GLOBAL_BUCKET = "global"


def buckets(client: str, code: str | None, limits: Limits) -> list[Bucket]:
    """The buckets an attempt counts in: its client, its code's prefix (a well-formed code
    only) and everyone's, sorted by key (concurrent upserts then lock rows in one order)."""
    found = [Bucket(f"address:{client}", limits.address)]
    if code is not None:
        found.append(Bucket(f"prefix:{code[:PREFIX_LENGTH]}", limits.prefix))
    if limits.everyone > 0:
        found.append(Bucket(GLOBAL_BUCKET, limits.everyone))
    return sorted(found, key=lambda b: b.key)


@dataclass(frozen=True)
class Failures:
    count: int
    window_start: datetime


def after_failure(previous: Failures | None, now: datetime) -> Failures:
    """A bucket's state after one more failed attempt (store.record_failure's SQL does the
    same in one statement)."""
    if previous is None or now - previous.window_start >= FAILURE_WINDOW:
        return Failures(count=1, window_start=now)
    return Failures(count=previous.count + 1, window_start=previous.window_start)


def throttled_for(state: Failures | None, limit: int, now: datetime) -> timedelta | None:
    """How long a bucket refuses attempts, or None when it lets them through."""
    if state is None or state.count < limit:
        return None
    remaining = state.window_start + FAILURE_WINDOW - now
    return remaining if remaining > timedelta(0) else None


def wait_for(states: dict[str, Failures], checked: list[Bucket], now: datetime) -> timedelta | None:
    """The longest wait of the buckets at their limit, or None when none is."""
    waits = [
        wait
        for bucket in checked
        if (wait := throttled_for(states.get(bucket.key), bucket.limit, now)) is not None
    ]
    return max(waits, default=None)


def wait_minutes(wait: timedelta) -> int:
    """The wait in whole minutes, rounded up (the param of MembershipReason.THROTTLED)."""
    return max(1, -(-int(wait.total_seconds()) // 60))


# --- the personal link -------------------------------------------------------------------------
# The link in the invitation mail is /activeren?code=<code>&sleutel=<key>: the key is the
# invitation's own id (a uuid4: 122 random bits that nothing else publishes), written as 22
# characters of URL-safe base64. A resend keeps the invitation and so the link.


def link_key(invitation_id: UUID) -> str:
    return base64.urlsafe_b64encode(invitation_id.bytes).decode().rstrip("=")


def link_key_bytes(text: str) -> bytes | None:
    """The 16 bytes of a key as the link carries it, or None when it cannot be one."""
    text = text.strip()
    if len(text) != 22 or not _LINK_KEY.match(text):
        return None
    return base64.urlsafe_b64decode(text + "==")


def link_matches(invitation_id: UUID | None, text: str) -> bool:
    """Whether the key belongs to the invitation, in constant time."""
    given = link_key_bytes(text)
    if given is None:
        return False
    expected = invitation_id.bytes if invitation_id is not None else bytes(16)
    return hmac.compare_digest(expected, given) and invitation_id is not None


_LINK_KEY = re.compile(r"^[A-Za-z0-9_-]{22}$")


# --- the member's own details (R-MEMBER-4) ---------------------------------------------------
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# A plausible member: at least this old and at most that old on the day of activation.
MIN_AGE_YEARS = 12
MAX_AGE_YEARS = 100


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_error(email: str) -> FieldError | None:
    if not _EMAIL.match(email.strip()):
        return FieldError(reason=MembershipReason.EMAIL_INVALID)
    return None


def _years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birth_date_error(born: date, today: date) -> FieldError | None:
    if born > today:
        return FieldError(reason=MembershipReason.BIRTH_DATE_FUTURE)
    age = _years_between(born, today)
    if age < MIN_AGE_YEARS or age > MAX_AGE_YEARS:
        return FieldError(
            reason=MembershipReason.BIRTH_DATE_IMPLAUSIBLE,
            params={"min_age": MIN_AGE_YEARS, "max_age": MAX_AGE_YEARS},
        )
    return None


def details_errors(
    voornaam: str, achternaam: str, email: str, geboortedatum: date, today: date
) -> dict[str, FieldError]:
    """{field: reason} for the details the member typed on the activation page."""
    errors: dict[str, FieldError] = {}
    for field, value in (("voornaam", voornaam), ("achternaam", achternaam)):
        if not value.strip():
            errors[field] = FieldError(reason="field.required")
        elif any(ord(ch) < 32 for ch in value):
            errors[field] = FieldError(reason=MembershipReason.INVALID_CHARACTERS)
    if problem := email_error(email):
        errors["email"] = problem
    if problem := birth_date_error(geboortedatum, today):
        errors["geboortedatum"] = problem
    return errors
