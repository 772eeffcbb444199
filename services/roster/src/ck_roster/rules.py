"""Field rules of a roster row (R-ROSTER-2) and the matching rule of an upload (R-ROSTER-4).

Every rule takes a raw cell value (str, int, float, bool, date, ... as a spreadsheet reader
gives it, or None) and returns ``(clean value, Dutch error message or None)``. The same rules
serve the file validation and hand edits (R-ROSTER-5, :func:`validate_person`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from ck_contracts.bounds import FORBIDDEN, Text, fold_single_line
from ck_contracts.roster import PersonFields, RosterKind

from ck_roster.columns import COLUMNS

Rule = Callable[[Any], tuple[Any, str | None]]

MSG_REQUIRED = "Dit veld is verplicht en mag niet leeg zijn."
MSG_EMAIL = "Geen geldig e-mailadres: gebruik het formaat naam@domein.nl (een @ en een punt)."
MSG_MOBIEL_06 = (
    "Geldig internationaal nummer +31612345678 - Beginnend met 06 is dus fout! "
    "Schrijf het nummer als +316..."
)
MSG_MOBIEL_INTERNATIONAL = (
    "Geen geldig internationaal mobiel nummer: begin met + en de landcode, "
    "bijvoorbeeld +31612345678."
)
MSG_MOBIEL_INVALID = "Geen geldig mobiel nummer: gebruik het formaat +31612345678."
MSG_STUDIEJAAR = "Studiejaar moet een heel getal zijn: 1, 2, 3, 4, 5 of 6."
MSG_STUDIEJAAR_DATE = (
    "Studiejaar is als datum opgemaakt; vul een heel getal in (1, 2, 3, 4, 5 of 6) "
    "en maak de cel op als getal of tekst."
)
MSG_DATE_IN_TEXT = "Deze cel is als datum opgemaakt; maak de cel op als tekst."
MSG_CONTROL = (
    "Deze cel bevat een onzichtbaar stuurteken (teken {position}) dat niet is toegestaan; vaak "
    "is het meegekopieerd uit een ander programma. Haal het weg en sla het bestand opnieuw op."
)
MSG_TOO_LONG = "Maximaal {limit} tekens (deze cel heeft er {length})."


def _text_limit(field: str) -> int | None:
    for item in PersonFields.model_fields[field].metadata:
        if isinstance(item, Text):
            return item.max_length
    return None


# The contract's length of each text field (ck_contracts.bounds): a file is held to the same
# limits as the API and the page form.
TEXT_LIMITS: dict[str, int] = {
    name: limit for name in PersonFields.model_fields if (limit := _text_limit(name)) is not None
}


def email_duplicate_message(first_row: int) -> str:
    return (
        f"Dit e-mailadres komt al voor in rij {first_row}; "
        "een e-mailadres mag maar één keer voorkomen."
    )


# --- cell values --------------------------------------------------------------------------------
def to_text(value: Any) -> str:
    """A cell as trimmed text: numbers typed as numbers lose a trailing ".0"."""
    if value.__class__ is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, bool):
        return "WAAR" if value else "ONWAAR"
    return str(value).strip()


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date | dt.time | dt.timedelta)


def required_text(value: Any) -> tuple[str, str | None]:
    if _is_date(value):
        return str(value), MSG_DATE_IN_TEXT
    text = to_text(value)
    return text, (None if text else MSG_REQUIRED)


def optional_text(value: Any) -> tuple[str, str | None]:
    if _is_date(value):
        return str(value), MSG_DATE_IN_TEXT
    return to_text(value), None


EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def email(value: Any) -> tuple[str, str | None]:
    """Optional; when given: one @ and a dot in the domain (the duplicate check is per file)."""
    text = to_text(value)
    if not text:
        return "", None
    if EMAIL.fullmatch(text) is None:
        return text, MSG_EMAIL
    return text, None


# Dutch mobile numbers as the metadata of `phonenumbers` defines them (06-1..5 and 06-8 + 7
# digits); everything else goes through the library. Verified against it in test_rules.py.
DUTCH_MOBILE = re.compile(r"\+316[1-58]\d{7}")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def mobiel(value: Any) -> tuple[str, str | None]:
    """Optional; when given a valid international number, returned as E.164 (+31612345678)."""
    text = to_text(value)
    if not text:
        return "", None
    if DUTCH_MOBILE.fullmatch(text) is not None:
        return text, None
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("06"):
        return text, MSG_MOBIEL_06
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        return text, MSG_MOBIEL_INTERNATIONAL
    if DUTCH_MOBILE.fullmatch(compact) is not None:
        return compact, None
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return text, MSG_MOBIEL_INVALID
    if not phonenumbers.is_valid_number(number):
        return text, MSG_MOBIEL_INVALID
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


_WHOLE_1_6 = re.compile(r"([1-6])(?:[.,]0+)?")


def studiejaar(value: Any) -> tuple[int | None, str | None]:
    """Required whole number 1..6: 3, "3" and 3.0 are fine; 3.5, "drie" and dates are not."""
    cls = value.__class__
    if cls is int:
        return (value, None) if 1 <= value <= 6 else (None, MSG_STUDIEJAAR)
    if cls is float:
        if value.is_integer() and 1 <= value <= 6:
            return int(value), None
        return None, MSG_STUDIEJAAR
    if cls is str:
        text = value.strip()
        if not text:
            return None, MSG_REQUIRED
        match = _WHOLE_1_6.fullmatch(text)
        return (int(match.group(1)), None) if match else (None, MSG_STUDIEJAAR)
    if value is None:
        return None, MSG_REQUIRED
    if _is_date(value):
        return None, MSG_STUDIEJAAR_DATE
    return None, MSG_STUDIEJAAR  # bool and anything else


_FIELD_RULES: dict[str, Rule] = {
    "email": email,
    "mobiel": mobiel,
    "studiejaar": studiejaar,
}


def text_problem(value: Any, limit: int) -> str | None:
    """The contract's bounds for a cell's text (control characters, length after folding and
    trimming), as a Dutch message for the cell, or None."""
    if value.__class__ is not str:
        return None
    found = FORBIDDEN.search(value)
    if found is not None:
        return MSG_CONTROL.format(position=found.start() + 1)
    length = len(fold_single_line(value).strip())
    if length > limit:
        return MSG_TOO_LONG.format(limit=limit, length=length)
    return None


def _bounded(rule: Rule, limit: int) -> Rule:
    def bounded(value: Any) -> tuple[Any, str | None]:
        problem = text_problem(value, limit)
        if problem is not None:
            return to_text(value), problem
        if value.__class__ is str:
            value = fold_single_line(value)  # a tab or a line break inside: one space
        return rule(value)

    return bounded


def _base_rule(field: str, required: bool) -> Rule:
    special = _FIELD_RULES.get(field)
    if special is not None:
        return special
    return required_text if required else optional_text


_RULES: dict[tuple[str, bool], Rule] = {}


def rule_for(field: str, required: bool) -> Rule:
    """The rule of one template column: the text bounds first, then the field's own rule."""
    key = (field, required)
    if key not in _RULES:
        rule = _base_rule(field, required)
        limit = TEXT_LIMITS.get(field)
        _RULES[key] = rule if limit is None else _bounded(rule, limit)
    return _RULES[key]


# --- matching (R-ROSTER-4) ---------------------------------------------------------------------
# --- hand edits (R-ROSTER-5) -------------------------------------------------------------------
def validate_person(kind: RosterKind, fields: PersonFields | Mapping[str, Any]) -> dict[str, str]:
    """The field errors of one person entered by hand: {field name: Dutch message}; empty when
    valid. Fields that do not belong to the kind are ignored."""
    values = fields.model_dump() if isinstance(fields, PersonFields) else dict(fields)
    errors: dict[str, str] = {}
    for column in COLUMNS[kind]:
        _, message = rule_for(column.field, column.required)(values.get(column.field))
        if message is not None:
            errors[column.field] = message
    return errors


def clean_person(kind: RosterKind, fields: PersonFields | Mapping[str, Any]) -> PersonFields:
    """The person with every field cleaned by its rule (trimmed, mobiel as E.164); call after
    :func:`validate_person` returned no errors."""
    values = fields.model_dump() if isinstance(fields, PersonFields) else dict(fields)
    clean: dict[str, Any] = {}
    for column in COLUMNS[kind]:
        clean[column.field], _ = rule_for(column.field, column.required)(values.get(column.field))
    return PersonFields.model_construct(**clean)
