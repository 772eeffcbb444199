"""Dutch mail templates (Jinja2): a subject, a plain-text body and an HTML body per template.

Files in templates/: `<name>.subject.txt`, `<name>.txt`, `<name>.html`. HTML is autoescaped;
every context key a template uses must be given (StrictUndefined). A mail that cannot be
rendered can never be sent: it is a poison message, dead-lettered at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ck_contracts.notifier import MailTemplate
from ck_runtime.consumers import PoisonMessage
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, select_autoescape

# The context keys each template needs. Keep in step with the templates/ folder.
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    MailTemplate.WELCOME_BUDGET_HOLDER: frozenset(
        {"recipient_name", "school_name", "school_number", "link"}
    ),
}

_environment = Environment(
    loader=PackageLoader("ck_notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


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


def render(template: str, context: Mapping[str, str]) -> RenderedMail:
    """Render one mail. Errors name the template and keys, never a context value."""
    required = REQUIRED_KEYS.get(template)
    if required is None:
        raise UnknownTemplate(f"unknown mail template {template!r}")
    missing = sorted(required - context.keys())
    if missing:
        raise MissingContext(f"mail template {template} misses context keys: {', '.join(missing)}")
    values = {key: context[key] for key in required}
    try:
        subject = _environment.get_template(f"{template}.subject.txt").render(values)
        text = _environment.get_template(f"{template}.txt").render(values)
        html = _environment.get_template(f"{template}.html").render(values)
    except TemplateError as exc:
        raise UnrenderableTemplate(
            f"mail template {template} failed: {type(exc).__name__}"
        ) from exc
    # A subject is one header line: no line breaks, no runs of white space.
    return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)
