"""Field rules of a roster row (R-ROSTER-2) and the matching rule of an upload (R-ROSTER-4).

Every rule takes a raw cell value (str, int, float, bool, date, ... as a spreadsheet reader
gives it, or None) and returns ``(clean value, Problem or None)``: a problem is a reason code
with its params, rendered in Dutch by the gateway. The same rules serve the file validation
and hand edits (R-ROSTER-5, :func:`validate_person`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from ck_contracts.bounds import FORBIDDEN, Text, fold_single_line
from ck_contracts.roster import PersonFields, RosterKind, RosterReason
from ck_contracts.rpc import FieldError

from ck_roster.domain import Problem
from ck_roster.domain.columns import COLUMNS

Rule = Callable[[Any], tuple[Any, Problem | None]]

REQUIRED = Problem(RosterReason.CELL_REQUIRED)
INVALID_EMAIL = Problem(RosterReason.CELL_INVALID_EMAIL)
MOBIEL_06 = Problem(RosterReason.CELL_MOBIEL_06)
MOBIEL_INTERNATIONAL = Problem(RosterReason.CELL_MOBIEL_INTERNATIONAL)
MOBIEL_INVALID = Problem(RosterReason.CELL_MOBIEL_INVALID)
STUDIEJAAR = Problem(RosterReason.CELL_STUDIEJAAR)
STUDIEJAAR_DATE = Problem(RosterReason.CELL_STUDIEJAAR_DATE)
DATE_IN_TEXT = Problem(RosterReason.CELL_DATE_IN_TEXT)


def control_character(position: int) -> Problem:
    return Problem(RosterReason.CELL_CONTROL_CHARACTER, {"position": position})


def too_long(limit: int, length: int) -> Problem:
    return Problem(RosterReason.CELL_TOO_LONG, {"limit": limit, "length": length})


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


def duplicate_email(first_row: int) -> Problem:
    return Problem(RosterReason.CELL_DUPLICATE_EMAIL, {"first_row": first_row})


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


def required_text(value: Any) -> tuple[str, Problem | None]:
    if _is_date(value):
        return str(value), DATE_IN_TEXT
    text = to_text(value)
    return text, (None if text else REQUIRED)


def optional_text(value: Any) -> tuple[str, Problem | None]:
    if _is_date(value):
        return str(value), DATE_IN_TEXT
    return to_text(value), None


# Possessive: each class excludes the character that follows it, so giving back is never
# useful, and the engine skips the bookkeeping for it (a third of a 50,000-cell column's time).
EMAIL = re.compile(r"[^@\s]++@[^@\s.]++(?:\.[^@\s.]++)++")


def email(value: Any) -> tuple[str, Problem | None]:
    """Optional; when given: one @ and a dot in the domain (the duplicate check is per file)."""
    text = to_text(value)
    if not text:
        return "", None
    if EMAIL.fullmatch(text) is None:
        return text, INVALID_EMAIL
    return text, None


# Dutch mobile numbers as the metadata of `phonenumbers` defines them (06-1..5 and 06-8 + 7
# digits); everything else goes through the library. Verified against it in test_rules.py.
DUTCH_MOBILE = re.compile(r"\+316[1-58]\d{7}")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def mobiel(value: Any) -> tuple[str, Problem | None]:
    """Optional; when given a valid international number, returned as E.164 (+31612345678)."""
    text = to_text(value)
    if not text:
        return "", None
    if DUTCH_MOBILE.fullmatch(text) is not None:
        return text, None
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("06"):
        return text, MOBIEL_06
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        return text, MOBIEL_INTERNATIONAL
    if DUTCH_MOBILE.fullmatch(compact) is not None:
        return compact, None
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return text, MOBIEL_INVALID
    if not phonenumbers.is_valid_number(number):
        return text, MOBIEL_INVALID
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


_WHOLE_1_6 = re.compile(r"([1-6])(?:[.,]0+)?")


def studiejaar(value: Any) -> tuple[int | None, Problem | None]:
    """Required whole number 1..6: 3, "3" and 3.0 are fine; 3.5, "drie" and dates are not."""
    cls = value.__class__
    if cls is int:
        return (value, None) if 1 <= value <= 6 else (None, STUDIEJAAR)
    if cls is float:
        if value.is_integer() and 1 <= value <= 6:
            return int(value), None
        return None, STUDIEJAAR
    if cls is str:
        text = value.strip()
        if not text:
            return None, REQUIRED
        match = _WHOLE_1_6.fullmatch(text)
        return (int(match.group(1)), None) if match else (None, STUDIEJAAR)
    if value is None:
        return None, REQUIRED
    if _is_date(value):
        return None, STUDIEJAAR_DATE
    return None, STUDIEJAAR  # bool and anything else


_FIELD_RULES: dict[str, Rule] = {
    "email": email,
    "mobiel": mobiel,
    "studiejaar": studiejaar,
}


def text_problem(value: Any, limit: int) -> Problem | None:
    """The contract's bounds for a cell's text (control characters, length after folding and
    trimming), as the cell's problem, or None."""
    if value.__class__ is not str:
        return None
    found = FORBIDDEN.search(value)
    if found is not None:
        return control_character(found.start() + 1)
    length = len(fold_single_line(value).strip())
    if length > limit:
        return too_long(limit, length)
    return None


def _bounded(rule: Rule, limit: int) -> Rule:
    def bounded(value: Any) -> tuple[Any, Problem | None]:
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
def validate_person(
    kind: RosterKind, fields: PersonFields | Mapping[str, Any]
) -> dict[str, FieldError]:
    """The field errors of one person entered by hand: {field name: reason}; empty when
    valid. Fields that do not belong to the kind are ignored."""
    values = fields.model_dump() if isinstance(fields, PersonFields) else dict(fields)
    errors: dict[str, FieldError] = {}
    for column in COLUMNS[kind]:
        _, problem = rule_for(column.field, column.required)(values.get(column.field))
        if problem is not None:
            errors[column.field] = problem.field_error()
    return errors


def clean_person(kind: RosterKind, fields: PersonFields | Mapping[str, Any]) -> PersonFields:
    """The person with every field cleaned by its rule (trimmed, mobiel as E.164); call after
    :func:`validate_person` returned no errors."""
    values = fields.model_dump() if isinstance(fields, PersonFields) else dict(fields)
    clean: dict[str, Any] = {}
    for column in COLUMNS[kind]:
        clean[column.field], _ = rule_for(column.field, column.required)(values.get(column.field))
    return PersonFields.model_construct(**clean)
