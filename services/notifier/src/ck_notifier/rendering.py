"""Dutch mail templates (Jinja2): a subject, a plain-text body and an HTML body per template.

Files in templates/: `<name>.subject.txt`, `<name>.txt`, `<name>.html`. HTML is autoescaped;
every context key a template uses must be given (StrictUndefined). A mail that cannot be
rendered can never be sent: it is a poison message, dead-lettered at once.

Cheap to render: every template is compiled once (the first time it is used) and kept, without
Jinja's check of the file's modification time on every use; a subject that depends only on the
school (no personal data) is rendered once per school, not once per mail. About 30 µs per mail
on the slow test machine (tests/test_rendering.py, bench/bench_notifier_mails.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

from ck_contracts.money import format_euro
from ck_contracts.notifier import MailTemplate
from ck_runtime.consumers import PoisonMessage
from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    meta,
    select_autoescape,
)
from markupsafe import escape

_WEBORDER_KEYS = frozenset(
    {
        "provider_name",
        "school_name",
        "school_number",
        "activity",
        "activity_date",
        "amount_cents",
        "provider_reference",
        "link",
    }
)

# The context keys each template needs. Keep in step with the templates/ folder and with the
# comments of ck_contracts.notifier.MailTemplate.
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    MailTemplate.WELCOME_BUDGET_HOLDER: frozenset(
        {"recipient_name", "school_name", "school_number", "link"}
    ),
    # voornaam may be "": the mail then greets without a name.
    MailTemplate.INVITATION: frozenset({"voornaam", "school_name", "link", "code"}),
    MailTemplate.MEMBERSHIP_CONFIRMED: frozenset({"voornaam", "school_name", "card_number"}),
    MailTemplate.DOCENT_PLUS_ACCESS: frozenset(
        {"recipient_name", "school_name", "school_number", "link"}
    ),
    # --- provider portal (issue 13) ---
    MailTemplate.PROVIDER_ACCESS: frozenset({"recipient_name", "provider_name", "link"}),
    # --- issue 13: the mails that drive the process, and reminders ---
    MailTemplate.OFFER_REQUESTED: frozenset(
        {
            "provider_name",
            "school_name",
            "school_number",
            "offering_title",
            "requested_by",
            "message",
            "link",
        }
    ),
    MailTemplate.WEBORDER_APPROVED: _WEBORDER_KEYS,
    MailTemplate.WEBORDER_REJECTED: _WEBORDER_KEYS | {"reason"},
    # Issue 13 (lifecycle): the budget's refusal as a code and its params, worded here
    # (templates/_refusal_reason.txt); `reason` is "" unless the refusal was stored as Dutch
    # text before issue 13. Params the code does not have are "".
    MailTemplate.WEBORDER_REFUSED: _WEBORDER_KEYS
    | {"reason", "refusal_code", "balance_cents", "shortfall_cents", "ends_on"},
    MailTemplate.WEBORDERS_AWAITING: frozenset(
        {
            "recipient_name",
            "school_name",
            "school_number",
            "new_count",
            "reminder_count",
            "reminder_days",
            "link",
        }
    ),
    MailTemplate.ORDER_OBJECTION_ENDING: frozenset(
        {
            "recipient_name",
            "school_name",
            "school_number",
            "order_reference",
            "total_cents",
            "last_day",
            "link",
        }
    ),
    MailTemplate.INVOICE_ISSUED: frozenset(
        {
            "recipient_name",
            "school_name",
            "school_number",
            "invoice_number",
            "total_cents",
            "invoice_date",
            "link",
        }
    ),
    MailTemplate.INVITATION_REMINDER: frozenset({"voornaam", "school_name", "link", "code"}),
}

# The keys each row of a listing template needs (EmailRequested.items).
REQUIRED_ITEM_KEYS: dict[str, frozenset[str]] = {
    MailTemplate.WEBORDERS_AWAITING: frozenset(
        {"activity", "provider_name", "activity_date", "amount_cents", "submitted_on", "kind"}
    ),
}

_environment = Environment(
    loader=PackageLoader("ck_notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,  # compiled once per process: no stat() of the file per mail
)

_MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)
_WEEKDAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


def dutch_date(iso: str, *, weekday: bool = False) -> str:
    """Filter `datum`: an ISO date from the producer ("2026-03-02") in Dutch ("2 maart 2026",
    with weekday=True "maandag 2 maart 2026"). Producers send ISO dates and amounts in cents,
    so the Dutch way of writing them lives here, once, for every mail."""
    day = date.fromisoformat(iso.strip())
    text = f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    return f"{_WEEKDAYS[day.weekday()]} {text}" if weekday else text


def euro(cents: str) -> str:
    """Filter `euro`: an amount in cents ("12999") as Dutch money ("€ 129,99")."""
    return format_euro(int(cents))


_environment.filters["datum"] = dutch_date
_environment.filters["euro"] = euro


class UnknownTemplate(PoisonMessage):
    """The notifier has no template of this name."""


class MissingContext(PoisonMessage):
    """The event lacks a context key the template needs."""


class UnrenderableTemplate(PoisonMessage):
    """The template failed to render (a bug in the template)."""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


# Context keys that are no personal data: a subject using only these is cached per value.
_SCHOOL_KEYS = frozenset({"school_name", "school_number"})


@dataclass(frozen=True)
class _Compiled:
    subject: Template
    subject_keys: tuple[str, ...]  # the context keys the subject uses (cache key)
    text: Template
    html: Template


@cache
def _compiled(template: str) -> _Compiled:
    def load(name: str) -> Template:
        return _environment.get_template(name)

    source = _environment.loader.get_source(_environment, f"{template}.subject.txt")[0]  # type: ignore[union-attr]
    subject_keys = tuple(sorted(meta.find_undeclared_variables(_environment.parse(source))))
    return _Compiled(
        subject=load(f"{template}.subject.txt"),
        subject_keys=subject_keys,
        text=load(f"{template}.txt"),
        html=load(f"{template}.html"),
    )


@cache
def _sorted_keys(keys: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(keys))


@lru_cache(maxsize=1024)
def _subject(template: str, values: tuple[str, ...]) -> str:
    compiled = _compiled(template)
    subject = compiled.subject.render(dict(zip(compiled.subject_keys, values, strict=True)))
    # A subject is one header line: no line breaks, no runs of white space.
    return " ".join(subject.split())


def check_context(template: str, context: Mapping[str, str]) -> frozenset[str]:
    """The keys the template needs; raises when the template is unknown or keys are missing."""
    required = REQUIRED_KEYS.get(template)
    if required is None:
        raise UnknownTemplate(f"unknown mail template {template!r}")
    missing = sorted(required - context.keys())
    if missing:
        raise MissingContext(f"mail template {template} misses context keys: {', '.join(missing)}")
    return required


def check_items(template: str, items: Sequence[Mapping[str, str]]) -> None:
    """Every row has the keys its template needs (a template without rows takes none)."""
    required = REQUIRED_ITEM_KEYS.get(template)
    if required is None:
        if items:
            raise MissingContext(f"mail template {template} takes no items")
        return
    for item in items:
        missing = sorted(required - item.keys())
        if missing:
            raise MissingContext(f"mail template {template} misses item keys: {', '.join(missing)}")


# Templates of whole rosters (50,000 mails at once) whose bodies only print context values
# (`{{ key }}`, HTML-escaped in .html) and test them for being empty (`{% if key %}`): nothing
# else of a value (no filter, no comparison) changes what they write. Such a body is the same
# text around the values for every mail with the same empty keys, so it is rendered by Jinja
# once per "shape" (which keys are empty), with markers for the values, and each mail joins
# those pieces with its own values: about 3 µs per mail instead of about 20 µs. A template goes
# on this list only after a look at its files; tests/test_rendering.py checks the joined
# bodies against Jinja's for many contexts.
_SUBSTITUTION_ONLY = frozenset({MailTemplate.INVITATION, MailTemplate.INVITATION_REMINDER})

_MARK = "\x00"  # around a key's number in the probe render; no template text holds a NUL

Pieces = tuple[str | int, ...]  # text as it is, or the index of the key whose value goes there


def _pieces(rendered: str) -> Pieces:
    parts = rendered.split(_MARK)
    # Odd positions are the key numbers between two marks.
    return tuple(int(part) if n % 2 else part for n, part in enumerate(parts) if part or n % 2)


@lru_cache(maxsize=64)
def _shape(template: str, keys: tuple[str, ...], filled: tuple[bool, ...]) -> tuple[Pieces, Pieces]:
    """The text and HTML bodies of `template` for contexts whose keys are empty where `filled`
    says so, as pieces (no personal data: markers only)."""
    compiled = _compiled(template)
    probe = {
        key: f"{_MARK}{n}{_MARK}" if full else ""
        for n, (key, full) in enumerate(zip(keys, filled, strict=True))
    }
    return _pieces(compiled.text.render(probe)), _pieces(compiled.html.render(probe))


def _join(pieces: Pieces, values: Sequence[str]) -> str:
    return "".join(values[piece] if piece.__class__ is int else piece for piece in pieces)  # type: ignore[misc]


def _render_by_pieces(
    template: str, keys: tuple[str, ...], context: Mapping[str, str]
) -> tuple[str, str]:
    values = [context[key] for key in keys]
    text, html = _shape(template, keys, tuple(bool(value) for value in values))
    escaped = [str(escape(value)) for value in values]
    return _join(text, values), _join(html, escaped)


def render(
    template: str, context: Mapping[str, str], items: Sequence[Mapping[str, str]] = ()
) -> RenderedMail:
    """Render one mail. Errors name the template and keys, never a context value."""
    required = check_context(template, context)
    check_items(template, items)
    by_pieces = template in _SUBSTITUTION_ONLY and all(
        type(context[key]) is str for key in required
    )
    values: dict[str, object] = {key: context[key] for key in required}
    if template in REQUIRED_ITEM_KEYS:
        values["items"] = [dict(item) for item in items]
    try:
        compiled = _compiled(template)
        if _SCHOOL_KEYS.issuperset(compiled.subject_keys):
            subject = _subject(template, tuple(context[key] for key in compiled.subject_keys))
        else:  # personal data in the subject: not kept in a cache
            subject = " ".join(compiled.subject.render(values).split())
        if by_pieces:
            text, html = _render_by_pieces(template, _sorted_keys(required), context)
        else:
            text = compiled.text.render(values)
            html = compiled.html.render(values)
    except (TemplateError, KeyError, ValueError) as exc:
        raise UnrenderableTemplate(
            f"mail template {template} failed: {type(exc).__name__}"
        ) from exc
    return RenderedMail(subject=subject, text=text, html=html)
