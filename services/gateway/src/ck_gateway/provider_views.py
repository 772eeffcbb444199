"""Forms of the provider portal (issue 13, /aanbieder), without I/O: form fields -> contract
models with one Dutch message per field (from the catalogue, "# === provider portal"), and the
service's field paths back to the form's names. What the user typed is always kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from ck_contracts.bounds import whole_number
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.weborders import (
    MAX_AMOUNT_CENTS,
    Offering,
    OfferingFields,
    OfferRequest,
    WeborderFields,
)
from pydantic import BaseModel, ValidationError

from ck_gateway import i18n
from ck_gateway.errors import dutch_errors
from ck_gateway.weborder_views import parse_date, rename_fields, text

# contract field -> form field
WEBORDER_FIELDS = {
    "school_number": "schoolnummer",
    "activity": "activiteit",
    "activity_date": "datum",
    "participants": "deelnemers",
    "amount_cents": "bedrag",
    "provider_reference": "referentie",
    "docent_plus_email": "docent_email",
    "offering_id": "aanbod",
    "request_id": "aanvraag",
    "idempotency_key": "sleutel",
}
OFFERING_FIELDS = {
    "title": "titel",
    "description": "omschrijving",
    "discipline": "discipline",
    "city": "plaats",
    "price_cents": "prijs",
}
MAX_SCHOOL_NUMBER = 99_999_999
MAX_PARTICIPANTS = 10_000
Fields = TypeVar("Fields", bound=BaseModel)


def message(msgid: str, **params: Any) -> str:
    return i18n.render(f"provider_portal.{msgid}", params)


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


def weborder_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The form as typed, to show it again."""
    return {name: text(form, name) for name in WEBORDER_FIELDS.values()}


def parse_weborder(form: Mapping[str, Any]) -> tuple[WeborderFields | None, dict[str, str]]:
    """The weborder form -> the fields (the API's body), or Dutch errors per form field."""
    values = weborder_values(form)
    errors: dict[str, str] = {}
    number = whole_number(values["schoolnummer"], low=1, high=MAX_SCHOOL_NUMBER)
    if number is None:
        errors["schoolnummer"] = message("school_number")
    if not values["activiteit"]:
        errors["activiteit"] = message("activity")
    activity_date = parse_date(values["datum"])
    if activity_date is None:
        errors["datum"] = message("date")
    participants = whole_number(values["deelnemers"], low=1, high=MAX_PARTICIPANTS)
    if participants is None:
        errors["deelnemers"] = message(
            "participants", max=f"{MAX_PARTICIPANTS:,}".replace(",", ".")
        )
    amount = parse_euro(values["bedrag"])
    if amount is None or amount <= 0 or amount > MAX_AMOUNT_CENTS:
        errors["bedrag"] = message("amount", max=format_euro(MAX_AMOUNT_CENTS))
    offering_id, request_id = _uuid(values["aanbod"]), _uuid(values["aanvraag"])
    if values["aanbod"] and offering_id is None:
        errors["aanbod"] = message("offering")
    if values["aanvraag"] and request_id is None:
        errors["aanvraag"] = message("request")
    # The contract's limits too (lengths, control characters, an address's shape), in the same
    # round (issue 14): never stop at the first group. A field judged above keeps its message.
    data = {
        "school_number": number,
        "activity": values["activiteit"],
        "activity_date": activity_date,
        "participants": participants,
        "amount_cents": amount,
        "provider_reference": values["referentie"],
        "docent_plus_email": values["docent_email"],
        "offering_id": offering_id,
        "request_id": request_id,
    }
    fields, more = _validated(WeborderFields, data, WEBORDER_FIELDS)
    return (None, {**more, **errors}) if errors or fields is None else (fields, {})


def _validated(
    model: type[Fields], data: dict[str, Any], names: Mapping[str, str]
) -> tuple[Fields | None, dict[str, str]]:
    """The contract's own check of a form's fields, by form field name."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, rename_fields(dutch_errors(exc), names)


def answer_values(found: OfferRequest, offering: Offering | None) -> dict[str, str]:
    """The weborder form prefilled to answer a teacher's offer request (R-WEB-3)."""
    values = {name: "" for name in WEBORDER_FIELDS.values()}
    values.update(
        schoolnummer=str(found.school_number),
        activiteit=found.offering_title,
        aanbod=str(found.offering_id),
        aanvraag=str(found.request_id),
    )
    if offering is not None and offering.price_cents:
        values["bedrag"] = format_euro(offering.price_cents).replace("€", "").strip()
    return values


def offering_values(form: Mapping[str, Any]) -> dict[str, str]:
    values = {name: text(form, name) for name in OFFERING_FIELDS.values()}
    raw = form.get("omschrijving", "")
    values["omschrijving"] = raw.strip() if isinstance(raw, str) else ""
    return values


def values_of_offering(offering: Offering) -> dict[str, str]:
    return {
        "titel": offering.title,
        "omschrijving": offering.description,
        "discipline": offering.discipline,
        "plaats": offering.city,
        "prijs": format_euro(offering.price_cents).replace("€", "").strip(),
    }


def parse_offering(form: Mapping[str, Any]) -> tuple[OfferingFields | None, dict[str, str]]:
    values = offering_values(form)
    errors: dict[str, str] = {}
    if not values["titel"]:
        errors["titel"] = message("title")
    price = parse_euro(values["prijs"]) if values["prijs"] else None
    if price is None or price < 0 or price > MAX_AMOUNT_CENTS:
        errors["prijs"] = message("price", max=format_euro(MAX_AMOUNT_CENTS))
    data = {
        "title": values["titel"],
        "description": values["omschrijving"],
        "discipline": values["discipline"],
        "city": values["plaats"],
        "price_cents": price,
    }
    fields, more = _validated(OfferingFields, data, OFFERING_FIELDS)  # same round (issue 14)
    return (None, {**more, **errors}) if errors or fields is None else (fields, {})


@dataclass
class WeborderFilters:
    """The weborder list's filters (?status=&school=&van=&tot=), as typed and as parsed."""

    values: dict[str, str] = field(default_factory=dict)
    school_number: int | None = None
    activity_from: date | None = None
    activity_to: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


def parse_filters(query: Mapping[str, str]) -> WeborderFilters:
    """Filters that do not parse are ignored, with a message beside the field."""
    found = WeborderFilters(values={k: query.get(k, "").strip() for k in ("school", "van", "tot")})
    if raw := found.values["school"]:
        found.school_number = whole_number(raw, low=1, high=MAX_SCHOOL_NUMBER)
        if found.school_number is None:
            found.errors["school"] = message("school_number")
    for name in ("van", "tot"):
        if raw := found.values[name]:
            day = parse_date(raw)
            if day is None:
                found.errors[name] = message("date")
            elif name == "van":
                found.activity_from = day
            else:
                found.activity_to = day
    return found
