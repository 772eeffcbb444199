"""The portal's Dutch: one gettext catalogue for the services' reason codes, the gateway's own
messages and the templates' text.

Services answer with stable reasons and params (ck_contracts.rpc); this module turns them into
the sentences a school reads. The catalogue is `locale/nl/LC_MESSAGES/messages.po`, read with
Babel when the gateway starts (no compiled .mo to keep in step). A reason's msgstr is a Python
format string over its params; money and dates are prepared here so every message writes them
the same way: a param `amount_cents` is also offered as `amount` ("€ 21,00"), a date param
(`*_on`, `*_date`, ISO text) as "2 maart 2026".
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.messages.pofile import read_po
from ck_contracts.money import format_euro

CATALOGUE = Path(__file__).parent / "locale" / "nl" / "LC_MESSAGES" / "messages.po"
LOCALE = "nl_NL"


@cache
def messages() -> dict[str, str]:
    """msgid -> msgstr; an empty msgstr means the msgid is the Dutch itself (template text)."""
    with CATALOGUE.open("rb") as file:
        catalog = read_po(file, locale="nl")
    out: dict[str, str] = {}
    for message in catalog:
        if not isinstance(message.id, str) or not message.id:  # the header, plural forms
            continue
        text = message.string if isinstance(message.string, str) else ""
        out[message.id] = text or message.id
    return out


def has(msgid: str) -> bool:
    return msgid in messages()


def gettext(msgid: str) -> str:
    return messages().get(msgid, msgid)


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def euro(cents: int) -> str:
    return format_euro(cents)  # the one Dutch money format (R-INVOICE-2), as on invoices


def dutch_date(value: date) -> str:
    return format_date(value, format="long", locale=LOCALE)


def prepared(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params with money and dates also in Dutch form (see the module's docstring)."""
    out = dict(params)
    for key, value in params.items():
        if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
            out[key.removesuffix("_cents")] = euro(value)
        elif key.endswith(("_on", "_date")) and isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a date after all: as it is
                out[key] = dutch_date(date.fromisoformat(value))
    return out


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(reason: str, params: Mapping[str, Any] | None = None) -> str:
    """The Dutch sentence for a reason; an unknown reason (a catalogue gap, which the
    catalogue test catches) falls back to the generic message."""
    template = messages().get(reason) or messages()["internal"]
    try:
        return template.format_map(_Missing(prepared(params or {})))
    except (ValueError, IndexError):
        return template
