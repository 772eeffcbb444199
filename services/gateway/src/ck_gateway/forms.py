"""HTML forms <-> contract models (and the one place a form's errors are merged).

A form that fails is shown again with exactly what the user typed and one Dutch message per
field, so bad input loses nothing. Errors come from two places with the same field paths: the
gateway's own schema check (pydantic) and the owning service's rules (e.g. BRIN format); both
are mapped to the form's field names here.

One round of errors (issue 14): the gateway's own check never stops at the first group (blank
fields, numbers and the contract's limits are all reported together), and when it refuses a
form the page still asks the owning service for the rules only it knows, through the service's
check operation (nothing is stored), and shows both at once: `also_checked`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ck_contracts.accounts import (
    MAX_BRIN_CODES,
    CheckSchoolInput,
    RegisterSchool,
    SchoolSettings,
)
from ck_contracts.accounts import MAX_CONTACTS as CONTRACT_MAX_CONTACTS
from ck_contracts.bounds import SEARCH_MAX, clean_text
from ck_contracts.rpc import FieldProblems
from ck_runtime.rpc_client import RpcFailed, ServiceUnavailable
from pydantic import BaseModel, ValidationError

from ck_gateway.errors import dutch_errors, render_fields

MAX_CONTACTS = 3
CONTACT_PARTS = ("name", "role", "email", "phone")
ADDRESS_FIELDS = ("street", "postcode", "city")  # the postal address (issue 14)
SETTINGS_FIELDS = (
    "name",
    "brin_codes",
    "locations",
    "duo_student_count",
    "default_order_reference",
    "street",
    "postcode",
    "city",
    *(f"contact_{i}_{part}" for i in range(MAX_CONTACTS) for part in CONTACT_PARTS),
)
REGISTER_FIELDS = (
    "name",
    "brin_codes",
    "locations",
    "duo_student_count",
    "budget_holder_name",
    "budget_holder_email",
)
GENERAL = "__all__"  # errors that belong to no single field

_LIST_SEPARATORS = re.compile(r"[\n,;]")
M = TypeVar("M", bound=BaseModel)


def validated(
    model: type[M], data: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> tuple[M | None, dict[str, str]]:
    """A form's values -> the contract's command, or its Dutch messages by form field: the
    same rules (lengths, control characters, ranges) as the API and the services, so a page
    never turns a refused value into a 500. names: contract field -> form field; a problem
    in any other field is GENERAL."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for path, message in dutch_errors(exc).items():
            name = (names or {}).get(path.rsplit(".", 1)[-1], GENERAL)
            errors.setdefault(name, message)
        return None, errors


def merged(own: Mapping[str, str], more: Mapping[str, str]) -> dict[str, str]:
    """Per form field one message: the page's own first (it knows the form's words), then
    the service's for every other field."""
    errors = dict(own)
    for name, message in more.items():
        errors.setdefault(name, message)
    return errors


async def also_checked(
    own: dict[str, str],
    check: Awaitable[FieldProblems],
    to_form: Callable[[Mapping[str, str]], dict[str, str]],
) -> dict[str, str]:
    """The page's own errors and the owning service's, in one round. `check` is the service's
    check operation over what was typed (it stores nothing); `to_form` maps its field paths
    to the form's names. The check helps, it does not decide: the command itself is checked
    again when the form is sent without errors, so a refused or unanswered check leaves the
    page's own errors. So does text the check's request cannot even hold (a 300,000-character
    name): the page has refused it already."""
    try:
        problems = await check
    except (RpcFailed, ServiceUnavailable, ValidationError):
        return own
    return merged(own, to_form(render_fields(problems.fields)))


def search_term(raw: Any) -> str:
    """A search or filter term from a query string or a form, cleaned the way stored text is
    (ck_contracts.bounds.clean_text: control characters out, one line) and cut at SEARCH_MAX:
    a search box narrows a list, it never answers with an error."""
    return clean_text(raw, max_length=SEARCH_MAX) if isinstance(raw, str) else ""


def split_codes(text: str) -> list[str]:
    """BRIN codes: one per line, or separated by commas (or semicolons)."""
    return [part.strip() for part in _LIST_SEPARATORS.split(text) if part.strip()]


def split_lines(text: str) -> list[str]:
    """Locations: one per line (a location name may contain a comma)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def text_field(form: Mapping[str, Any], name: str) -> str:
    """The submitted text of one field; a file or a missing field counts as empty."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def raw_values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The submitted text of each known field; unknown fields are ignored."""
    return {name: text_field(form, name) for name in names}


@dataclass
class Parsed:
    """The outcome of reading a form: a payload or errors, and the input to show again."""

    values: dict[str, str]
    payload: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    contact_rows: list[int] = field(default_factory=list)  # payload index -> form row

    @property
    def ok(self) -> bool:
        return self.payload is not None and not self.errors


def _contacts(values: dict[str, str]) -> tuple[list[dict[str, str]], list[int]]:
    """Filled-in contact rows; a row left wholly blank is no contact."""
    contacts: list[dict[str, str]] = []
    rows: list[int] = []
    for i in range(MAX_CONTACTS):
        row = {part: values[f"contact_{i}_{part}"].strip() for part in CONTACT_PARTS}
        if any(row.values()):
            contacts.append(row)
            rows.append(i)
    return contacts, rows


def _settings_data(values: dict[str, str]) -> dict[str, Any]:
    return {
        "name": values["name"],
        "brin_codes": split_codes(values["brin_codes"]),
        "locations": split_lines(values["locations"]),
        "duo_student_count": values["duo_student_count"].strip(),
    }


def parse_settings_form(form: Mapping[str, Any]) -> Parsed:
    values = raw_values(form, SETTINGS_FIELDS)
    contacts, rows = _contacts(values)
    data = {
        **_settings_data(values),
        "contacts": contacts,
        "default_order_reference": values["default_order_reference"],
        "street": values["street"],
        "postcode": values["postcode"],
        "city": values["city"],
    }
    parsed = Parsed(values=values, contact_rows=rows)
    parsed.errors = _plain_checks(data)
    for index, contact in enumerate(contacts):
        if not contact["name"]:
            parsed.errors[f"contact_{rows[index]}_name"] = "Vul de naam van de contactpersoon in."
    try:
        payload = SchoolSettings.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        for name, message in form_errors(dutch_errors(exc), rows).items():
            parsed.errors.setdefault(name, message)
    else:
        if not parsed.errors:
            parsed.payload = payload
    return parsed


def _plain_checks(settings: dict[str, Any]) -> dict[str, str]:
    """Messages clearer than the schema's generic ones, for the commonest slips."""
    errors: dict[str, str] = {}
    if not settings["brin_codes"]:
        errors["brin_codes"] = "Vul minstens één BRIN-code in."
    if not settings["duo_student_count"]:
        errors["duo_student_count"] = "Vul het aantal studenten volgens DUO in."
    return errors


def parse_register_form(form: Mapping[str, Any]) -> Parsed:
    values = raw_values(form, REGISTER_FIELDS)
    data = {
        "settings": _settings_data(values),
        "budget_holder": {
            "name": values["budget_holder_name"],
            "email": values["budget_holder_email"].strip(),
        },
    }
    parsed = Parsed(values=values)
    parsed.errors = _plain_checks(data["settings"])
    try:
        payload = RegisterSchool.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        for name, message in form_errors(dutch_errors(exc)).items():
            parsed.errors.setdefault(name, message)
    else:
        if not parsed.errors:
            parsed.payload = payload
    return parsed


def school_input_check(parsed: Parsed) -> CheckSchoolInput:
    """What accounts alone judges in a settings or registration form, as typed (cut to the
    check's bounds: a value that long is refused by the form's own check already)."""
    values = parsed.values
    contacts, _ = _contacts(values) if "contact_0_name" in values else ([], [])
    holder = values.get("budget_holder_email")
    return CheckSchoolInput(
        brin_codes=[code[:64] for code in split_codes(values.get("brin_codes", ""))][
            :MAX_BRIN_CODES
        ],
        contact_emails=[c["email"][:254] for c in contacts][:CONTRACT_MAX_CONTACTS],
        budget_holder_email=None if holder is None else holder.strip()[:254],
    )


def form_field(path: str, contact_rows: list[int] | None = None) -> str:
    """A field path of the contracts ("settings.contacts.1.email") -> a form field name."""
    parts = path.split(".")
    if parts and parts[0] == "settings":
        parts = parts[1:]
    if not parts:
        return GENERAL
    head = parts[0]
    if head in ("brin_codes", "locations"):
        return head
    if head == "contacts" and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        rows = contact_rows or []
        row = rows[index] if index < len(rows) else index
        part = parts[2] if len(parts) >= 3 and parts[2] in CONTACT_PARTS else "name"
        return f"contact_{row}_{part}"
    if head == "contacts":
        return "contact_0_name"
    if head == "budget_holder" and len(parts) >= 2:
        return f"budget_holder_{parts[1]}"
    if head in ("name", "duo_student_count", "default_order_reference", *ADDRESS_FIELDS):
        return head
    return GENERAL


def form_errors(fields: Mapping[str, str], contact_rows: list[int] | None = None) -> dict[str, str]:
    """Per form field the first message."""
    out: dict[str, str] = {}
    for path, message in fields.items():
        out.setdefault(form_field(path, contact_rows), message)
    return out


def settings_values(settings: Mapping[str, Any]) -> dict[str, str]:
    """A school's stored settings as the text the form shows."""
    values = {
        "name": str(settings.get("name", "")),
        "brin_codes": "\n".join(settings.get("brin_codes", [])),
        "locations": "\n".join(settings.get("locations", [])),
        "duo_student_count": str(settings.get("duo_student_count", "")),
        "default_order_reference": str(settings.get("default_order_reference", "")),
        **{name: str(settings.get(name, "")) for name in ADDRESS_FIELDS},
    }
    contacts = list(settings.get("contacts", []))
    for i in range(MAX_CONTACTS):
        contact = contacts[i] if i < len(contacts) else {}
        for part in CONTACT_PARTS:
            values[f"contact_{i}_{part}"] = str(contact.get(part, ""))
    return values
