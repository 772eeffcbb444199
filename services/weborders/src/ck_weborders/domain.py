"""Rules of the weborders service as plain functions (no I/O).

API keys (R-ROLE-3): `ck_live_` + 43 characters of secrets.token_urlsafe(32), i.e. 256 random
bits. Only HMAC-SHA256(pepper, key) is stored, looked up through a unique index. A slow
password hash (argon2) protects *guessable* secrets; a 256-bit random key cannot be guessed or
brute-forced from its hash, so a fast keyed hash is as safe here and costs microseconds instead
of tens of milliseconds on every API call (the weborder API is the hot path). The pepper keeps
a leaked table useless without the service's configuration.

Rules answer with reason codes (ck_contracts.weborders.WebordersReason), never with prose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from ck_contracts.rpc import FieldError, Param
from ck_contracts.weborders import DossierEntry, WeborderFields
from ck_contracts.weborders import WebordersReason as R
from ck_runtime.errors import Conflict, Invalid

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


def schooltoer_description(from_place: str, to_place: str, travel_date: date) -> str:
    return _fit(f"Schooltoer {from_place} - {to_place} ({dutch_date(travel_date)})")


def euros(cents: int) -> float:
    """Cents as a euro amount for a spreadsheet cell (exact to two decimals as a float)."""
    return round(cents / 100, 2)


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_date(moment: datetime) -> date:
    """The Dutch calendar day of a moment (dossier entries, export dates)."""
    return moment.astimezone(AMSTERDAM).date()


# --- rules the forms check too (the JSON API gets them from here) ------------------------------
def require_travel_date(travel_date: date, today: date) -> None:
    """A Schooltoer trip is not ordered for a day that has passed (R-WEB-4): `today` is the
    Dutch calendar day of the service's clock."""
    if travel_date < today:
        day, now = travel_date.isoformat(), today.isoformat()
        params: dict[str, Param] = {"travel_date": day, "today": now}
        problem = FieldError(reason=R.TRAVEL_DATE_IN_PAST, params=params)
        raise Invalid(
            R.TRAVEL_DATE_IN_PAST, fields={"travel_date": problem}, travel_date=day, today=now
        )


def rejection_reason(approve: bool, reason: str) -> str:
    """The reason as stored; rejecting without one is refused."""
    reason = reason.strip()
    if not approve and not reason:
        problem = FieldError(reason=R.REJECTION_REASON_REQUIRED)
        raise Invalid(R.REJECTION_REASON_REQUIRED, fields={"reason": problem})
    return "" if approve else reason


def require_participants(person_ids: Iterable[UUID], on_roster: set[UUID]) -> None:
    """A weborder's participants must be on the school's roster (R-DOSSIER-1, R-ROLE-6)."""
    unknown = [str(pid) for pid in dict.fromkeys(person_ids) if pid not in on_roster]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        params: dict[str, Param] = {"count": len(unknown), "shown": shown}
        problem = FieldError(reason=R.PARTICIPANTS_NOT_ON_ROSTER, params=params)
        raise Invalid(
            R.PARTICIPANTS_NOT_ON_ROSTER,
            fields={"participant_ids": problem},
            count=len(unknown),
            shown=shown,
        )


# --- the Cultuurkaart-dossier (R-DOSSIER-1) ------------------------------------------------------
DOSSIER_ORDER = {"activiteit": 0, "kaartbetaling": 1, "notitie": 2}


def activity_entry(day: date, activity: str, provider: str) -> DossierEntry:
    return DossierEntry(at=day, kind="activiteit", text=f"{activity} ({provider})")


def payment_entry(paid_at: datetime, description: str, provider: str | None) -> DossierEntry:
    text = f"{description} ({provider})" if provider else description
    return DossierEntry(at=local_date(paid_at), kind="kaartbetaling", text=text)


def note_entry(at: datetime, text: str, author: str) -> DossierEntry:
    return DossierEntry(at=local_date(at), kind="notitie", text=text, author=author)


def in_dossier_order(entries: list[DossierEntry]) -> list[DossierEntry]:
    """Oldest first; on one day activities, then card payments, then notes."""
    return sorted(entries, key=lambda e: (e.at, DOSSIER_ORDER.get(e.kind, 3)))


# --- issue 13: the weborder lifecycle ------------------------------------------------------------
# A refusal by the budget for lack of balance can be approved again once the school has money;
# a refusal because the programme period is over cannot: after R-BUDGET-8 nothing is ever
# debited again, so "opnieuw goedkeuren" could only be refused once more. Any other (unknown,
# future) refusal code is final too: re-approving it is a decision to make when it exists.
REAPPROVABLE_REFUSALS = frozenset({"insufficient_balance"})
# A refusal published by a budget service from before issue 13 carries Dutch text only; these
# are the beginnings of the sentences it wrote (the migration maps stored rows the same way).
_LEGACY_REFUSALS = (
    ("Onvoldoende saldo", "insufficient_balance"),
    ("Het saldo is te laag", "insufficient_balance"),
    ("De programmaperiode is voorbij", "period_over"),
)


def legacy_refusal_code(text: str) -> str:
    """The reason code of a refusal sent as Dutch text only ("" when it is not recognised)."""
    text = text.strip()
    return next((code for prefix, code in _LEGACY_REFUSALS if text.startswith(prefix)), "")


def reapprovable(status: str, refusal_code: str) -> bool:
    return status == "geweigerd" and refusal_code in REAPPROVABLE_REFUSALS


# Participants may be marked (by the school) or named (by the provider) on a weborder that is
# still alive: before the decision, while it is being debited, approved, or refused for balance
# (it may be approved again). Not on a rejected or cancelled one. The dossier shows them only
# while the weborder is approved (R-DOSSIER-1).
MARKABLE = frozenset({"ingediend", "in_behandeling", "goedgekeurd", "geweigerd"})


def require_markable(status: str) -> None:
    if status not in MARKABLE:
        raise Conflict(R.PARTICIPANTS_NOT_MARKABLE, status=status)


def normal_card_number(raw: str) -> str:
    """A card number as typed or sent: spaces, dots and dashes dropped, letters upper-cased."""
    return "".join(ch for ch in raw if ch not in " .-\t").upper()


def card_hash(key: bytes, card_number: str) -> str:
    """The keyed hash under which a card number is kept (never the number itself)."""
    return hmac.new(key, normal_card_number(card_number).encode(), hashlib.sha256).hexdigest()


def card_key(pepper: bytes) -> bytes:
    """The card-number key, derived from the API-key pepper with its own label, so the two
    hashes never coincide and the card key is as secret as the pepper."""
    return hmac.new(pepper, b"ck-weborders/member-card/v1", hashlib.sha256).digest()
