"""Pydantic validation errors per field: as stable reasons (`field_errors`, what services
answer) and, TRANSITION (issue 12), as Dutch messages (`dutch_errors`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ck_contracts.bounds import CONTROL_CHARACTERS, CONTROL_MESSAGE
from ck_contracts.rpc import FieldError, Param
from pydantic import ValidationError

_MESSAGES: dict[str, str] = {
    "missing": "Dit veld is verplicht.",
    "string_too_short": "Dit veld mag niet leeg zijn.",
    "string_too_long": "Maximaal {max_length} tekens.",
    CONTROL_CHARACTERS: CONTROL_MESSAGE,
    "too_short": "Vul minstens {min_length} waarde(n) in.",
    "too_long": "Te veel waarden (maximaal {max_length}).",
    "int_parsing": "Vul een heel getal in.",
    "int_type": "Vul een heel getal in.",
    "int_from_float": "Vul een heel getal in.",
    "int_parsing_size": "Dit getal is te groot.",
    "greater_than_equal": "Het getal moet minimaal {ge} zijn.",
    "less_than_equal": "Het getal mag hoogstens {le} zijn.",
    "greater_than": "Het getal moet groter zijn dan {gt}.",
    "string_type": "Vul tekst in.",
    "value_error": "{msg}",
    "uuid_parsing": "Ongeldige verwijzing.",
    "extra_forbidden": "Dit veld is onbekend.",
    "json_invalid": "Geen geldige JSON.",
    "model_type": "Verwacht een object.",
    "list_type": "Verwacht een lijst.",
}
# FastAPI checks a query parameter's length as a generic constraint ("too_long", field type
# "Value"); for lists the generic messages above stay.
_TEXT_LENGTH = {"too_long": "string_too_long", "too_short": "string_too_short"}


def field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "request"


def dutch_errors(error: ValidationError | Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """{field path: Dutch message}; the first problem per field."""
    items = error.errors() if isinstance(error, ValidationError) else error
    out: dict[str, str] = {}
    for item in items:
        path = field_path(tuple(item.get("loc", ())))
        kind = item.get("type", "")
        ctx = dict(item.get("ctx") or {})
        if kind in _TEXT_LENGTH and ctx.get("field_type") != "List":
            kind = _TEXT_LENGTH[kind]
        template = _MESSAGES.get(kind, "Ongeldige waarde.")
        ctx.setdefault("msg", str(item.get("msg", "")).removeprefix("Value error, "))
        try:
            message = template.format(**ctx)
        except (KeyError, IndexError):
            message = "Ongeldige waarde."
        out.setdefault(path, message)
    return out


# pydantic's error types as stable field reasons (the gateway's catalogue has their Dutch).
_FIELD_REASONS: dict[str, str] = {
    "missing": "field.required",
    "string_too_short": "field.empty",
    "string_too_long": "field.too_long",
    CONTROL_CHARACTERS: "field.control_characters",
    "too_short": "field.too_few",
    "too_long": "field.too_many",
    "int_parsing": "field.not_an_integer",
    "int_type": "field.not_an_integer",
    "int_from_float": "field.not_an_integer",
    "int_parsing_size": "field.number_too_large",
    "greater_than_equal": "field.at_least",
    "less_than_equal": "field.at_most",
    "greater_than": "field.greater_than",
    "string_type": "field.text",
    "uuid_parsing": "field.reference",
    "uuid_type": "field.reference",
    "extra_forbidden": "field.unknown",
    "json_invalid": "field.json",
    "model_type": "field.object",
    "list_type": "field.list",
    "date_parsing": "field.date",
    "date_from_datetime_parsing": "field.date",
    "date_type": "field.date",
    "bool_parsing": "field.boolean",
    "enum": "field.choice",
    "literal_error": "field.choice",
}
_PARAM_KEYS = ("max_length", "min_length", "ge", "le", "gt", "position")


def field_errors(error: ValidationError | Iterable[Mapping[str, Any]]) -> dict[str, FieldError]:
    """{field path: FieldError}; the first problem per field. A validator's own code
    (PydanticCustomError with a "field." type) is kept as it is."""
    items = error.errors() if isinstance(error, ValidationError) else error
    out: dict[str, FieldError] = {}
    for item in items:
        path = field_path(tuple(item.get("loc", ())))
        kind = str(item.get("type", ""))
        ctx = dict(item.get("ctx") or {})
        if kind in _TEXT_LENGTH and ctx.get("field_type") != "List":
            kind = _TEXT_LENGTH[kind]
        reason = kind if kind.startswith("field.") else _FIELD_REASONS.get(kind, "field.invalid")
        params: dict[str, Param] = {key: _param(ctx[key]) for key in _PARAM_KEYS if key in ctx}
        if kind.startswith("field."):
            params.update({key: _param(value) for key, value in ctx.items()})
        out.setdefault(path, FieldError(reason=reason, params=params))
    return out


def _param(value: Any) -> Param:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
