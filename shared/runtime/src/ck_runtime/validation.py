"""Pydantic validation errors per field as stable reasons with params (`field_errors`): what
services answer; the gateway renders them in Dutch from its catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ck_contracts.bounds import CONTROL_CHARACTERS
from ck_contracts.rpc import FieldError, Param
from pydantic import ValidationError

# FastAPI checks a query parameter's length as a generic constraint ("too_long", field type
# "Value"); for lists the generic reasons stay.
_TEXT_LENGTH = {"too_long": "string_too_long", "too_short": "string_too_short"}


def field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "request"


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
    "value_error": "field.value_error",  # a validator's own words, in its `msg` param
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
        if reason == "field.value_error":
            params["msg"] = str(item.get("msg", "")).removeprefix("Value error, ")
        out.setdefault(path, FieldError(reason=reason, params=params))
    return out


def _param(value: Any) -> Param:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
