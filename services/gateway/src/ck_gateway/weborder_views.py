"""Forms and labels of the weborder pages (Bestellingen > Weborders, Schooltoer, Exports, Aanbod,
Cultuurkaart-dossier, Aanbieders), without I/O: form fields -> contract models with one Dutch
message per field, and the service's field paths back to the form's names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from ck_contracts.bounds import (
    LONG_TEXT_MAX,
    MAX_PAGE,
    MESSAGE_MAX,
    REASON_MAX,
    SHORT_MAX,
    fold_single_line,
    normalise_lines,
    whole_number,
)
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.weborders import (
    MAX_AMOUNT_CENTS,
    OrderSchooltoer,
    ParticipantsNamed,
    ProviderFields,
    SchooltoerOrder,
    Weborder,
    WeborderPage,
    WebordersReason,
    WeborderStatus,
)
from pydantic import ValidationError

from ck_gateway import i18n
from ck_gateway.errors import dutch_errors
from ck_gateway.forms import GENERAL

STATUS_LABELS: dict[WeborderStatus, str] = {
    WeborderStatus.SUBMITTED: "Ingediend",
    WeborderStatus.APPROVING: "In behandeling",
    WeborderStatus.APPROVED: "Goedgekeurd",
    WeborderStatus.REFUSED: "Geweigerd",
    WeborderStatus.REJECTED: "Afgekeurd",
    WeborderStatus.CANCELLED: "Geannuleerd",
}
DOSSIER_KINDS = {
    "activiteit": "Activiteit",
    "kaartbetaling": "Kaartbetaling",
    "notitie": "Notitie",
}
MAX_REASON = REASON_MAX
MAX_MESSAGE = MESSAGE_MAX
MAX_NOTE = LONG_TEXT_MAX

# form field <- contract field
SCHOOLTOER_FIELDS = {
    "travel_date": "datum",
    "from_place": "van",
    "to_place": "naar",
    "travellers": "reizigers",
    "amount_cents": "bedrag",
}
PROVIDER_FIELDS = {
    "name": "naam",
    "kvk_number": "kvk",
    "contact_name": "contactpersoon",
    "contact_email": "email",
}
_DUTCH_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def parse_date(raw: str) -> date | None:
    """2024-03-14 (the date picker) or 14-03-2024 (typed the Dutch way)."""
    raw = raw.strip()
    try:
        if match := _DUTCH_DATE.match(raw):
            return date(int(match[3]), int(match[2]), int(match[1]))
        return date.fromisoformat(raw)
    except ValueError:
        return None


def page_number(raw: str | None) -> int:
    """?pagina=N; anything that is not a page number (x, ², 10^30) is the first page."""
    return whole_number(raw or "", low=1, high=MAX_PAGE) or 1


def status_filter(raw: str | None) -> WeborderStatus | None:
    try:
        return WeborderStatus(raw) if raw else None
    except ValueError:
        return None


def rename_fields(fields: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """The service's (or pydantic's) field paths -> the form's field names; the rest general."""
    out: dict[str, str] = {}
    for path, message in fields.items():
        name = names.get(path.rsplit(".", 1)[-1])
        if name is None:
            out.setdefault(GENERAL, message)
        else:
            out.setdefault(name, message)
    return out


def parse_schooltoer(
    form: Mapping[str, Any], school_id: UUID, today: date
) -> tuple[OrderSchooltoer | None, dict[str, str]]:
    """The Schooltoer form (R-WEB-4) -> the command, or the Dutch errors per field."""
    errors: dict[str, str] = {}
    travel_date = parse_date(text(form, "datum"))
    if travel_date is None:
        errors["datum"] = "Vul een datum in, bijvoorbeeld 14-03-2024."
    elif travel_date < today:
        # The same rule and words as the service's (WebordersReason.TRAVEL_DATE_IN_PAST), which
        # checks it for the API too; here it is shown beside the form's other errors.
        errors["datum"] = i18n.render(WebordersReason.TRAVEL_DATE_IN_PAST)
    travellers = whole_number(text(form, "reizigers"), low=1, high=2000)
    if travellers is None:
        errors["reizigers"] = "Vul een heel aantal reizigers in van 1 tot en met 2.000."
    amount = parse_euro(text(form, "bedrag"))
    if amount is None or amount <= 0 or amount > MAX_AMOUNT_CENTS:
        errors["bedrag"] = (
            f"Vul een bedrag in van € 0,01 tot en met {format_euro(MAX_AMOUNT_CENTS)}, "
            "bijvoorbeeld 125,50."
        )
    for name, label in (("van", "vertrekplaats"), ("naar", "bestemming")):
        value = text(form, name)
        if not value:
            errors[name] = f"Vul de {label} in."
        elif len(fold_single_line(value)) > SHORT_MAX:
            errors[name] = f"De {label} is hoogstens {SHORT_MAX} tekens lang."
    if errors or travellers is None:
        return None, errors
    try:
        command = OrderSchooltoer(
            school_id=school_id,
            travel_date=travel_date,
            from_place=text(form, "van"),
            to_place=text(form, "naar"),
            travellers=travellers,
            amount_cents=amount,
        )
    except ValidationError as exc:  # the contract's own limits, should the form's differ
        return None, rename_fields(dutch_errors(exc), SCHOOLTOER_FIELDS)
    return command, {}


def parse_provider(form: Mapping[str, Any]) -> tuple[ProviderFields | None, dict[str, str]]:
    """The CJP admin's form to register a provider -> the fields, or Dutch errors."""
    values = {field: text(form, name) for field, name in PROVIDER_FIELDS.items()}
    errors: dict[str, str] = {}
    if not re.fullmatch(r"\d{8}", values["kvk_number"]):
        errors["kvk"] = "Een KvK-nummer bestaat uit 8 cijfers, bijvoorbeeld 12345678."
    email = values["contact_email"]
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors["email"] = "Vul een geldig e-mailadres in, bijvoorbeeld info@theater.nl."
    try:
        provider = ProviderFields(**values)
    except ValidationError as exc:
        for name, message in rename_fields(dutch_errors(exc), PROVIDER_FIELDS).items():
            errors.setdefault(name, message)
        return None, errors
    return (None, errors) if errors else (provider, {})


def reason_error(reason: str, *, what: str) -> str | None:
    if not reason:
        return f"Vul een reden in voor het {what}."
    if len(normalise_lines(reason)) > MAX_REASON:
        return f"Een reden is hoogstens {MAX_REASON} tekens lang."
    return None


def message_error(message: str, limit: int, *, what: str) -> str | None:
    if not message:
        return f"Schrijf een {what}."
    if len(normalise_lines(message)) > limit:
        return f"Een {what} is hoogstens {limit:,} tekens lang.".replace(",", ".")
    return None


# --- issue 13: the budget's refusal in Dutch, re-approval, participants ---------------------------
Refusable = TypeVar("Refusable", Weborder, SchooltoerOrder)


def refusal_text(refusal_code: str, params: Mapping[str, Any], legacy: str) -> str:
    """The budget's refusal (a BudgetReason with params) from the catalogue. A refusal stored
    before issue 13 has no params: its Dutch text (`legacy`) is shown as it was."""
    if refusal_code and (params or not legacy) and i18n.has(refusal_code):
        return i18n.render(refusal_code, params)
    return legacy


def with_reason(item: Refusable) -> Refusable:
    """A weborder or Schooltoer order with `reason` in Dutch for a refusal code, as the pages
    and the JSON API (`reason`, documented as the Dutch reason) show it."""
    if item.status != WeborderStatus.REFUSED or not item.refusal_code:
        return item
    text = refusal_text(item.refusal_code, item.refusal_params, item.reason)
    return item.model_copy(update={"reason": text})


def page_with_reasons(page: WeborderPage) -> WeborderPage:
    return page.model_copy(update={"items": [with_reason(w) for w in page.items]})


def card_results(named: ParticipantsNamed) -> ParticipantsNamed:
    """Each unknown card number gets its Dutch message."""
    results = [
        r.model_copy(update={"message": i18n.render(r.reason)}) if r.reason else r
        for r in named.results
    ]
    return named.model_copy(update={"results": results})


def selected_ids(values: list[str]) -> list[UUID] | None:
    """Ticked or shown person ids from the participants form; None when one is not an id (a
    tampered form)."""
    out: list[UUID] = []
    for value in values:
        try:
            out.append(UUID(value))
        except ValueError:
            return None
    return out
