"""Pydantic validation errors as Dutch messages per field, for the portal and the API."""

from __future__ import annotations

from typing import Any

from ck_contracts.bounds import CONTROL_CHARACTERS, CONTROL_MESSAGE
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


def dutch_errors(error: ValidationError | list[dict[str, Any]]) -> dict[str, str]:
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
