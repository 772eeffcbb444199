"""The Dutch mail templates (R-MEMBER-5): text and HTML, school name, link; bad input is poison."""

from __future__ import annotations

import pytest
from ck_contracts.notifier import MailTemplate
from ck_notifier.rendering import REQUIRED_KEYS, MissingContext, UnknownTemplate, render
from ck_runtime.consumers import PoisonMessage

LINK = "https://scholen.example/wachtwoord-instellen?token=abc123&x=1"
CONTEXT = {
    "recipient_name": "Fatima de Vries",
    "school_name": "Grafisch Lyceum Zuid",
    "school_number": "10289",
    "link": LINK,
}


def test_welcome_mail_is_dutch_plain_text() -> None:
    mail = render(MailTemplate.WELCOME_BUDGET_HOLDER, CONTEXT)
    assert mail.subject == (
        "Welkom bij het schoolportaal van de MBO Cultuurkaart: Grafisch Lyceum Zuid"
    )
    text = mail.text
    assert text.startswith("Beste Fatima de Vries,")
    assert "Grafisch Lyceum Zuid" in text
    assert "schoolnummer van Grafisch Lyceum Zuid is 10289" in text
    assert "budgethouder" in text
    assert f"\n{LINK}\n" in text  # on a line of its own, unescaped
    assert "7 dagen geldig en werkt één keer" in text
    assert "wachtwoord" in text


def test_welcome_mail_html_has_the_link_and_the_school() -> None:
    html = render(MailTemplate.WELCOME_BUDGET_HOLDER, CONTEXT).html
    escaped_link = LINK.replace("&", "&amp;")
    assert '<html lang="nl">' in html
    assert f'href="{escaped_link}"' in html
    assert "Wachtwoord instellen" in html
    assert "<strong>Grafisch Lyceum Zuid</strong>" in html
    assert "<strong>10289</strong>" in html
    assert "7 dagen geldig en werkt één keer" in html


def test_html_escapes_the_context_and_text_does_not() -> None:
    context = {
        **CONTEXT,
        "recipient_name": '<script>alert("x")</script>',
        "school_name": "Roc & <b>Co</b>",
        "link": 'https://scholen.example/x?a="><img src=y>',
    }
    mail = render(MailTemplate.WELCOME_BUDGET_HOLDER, context)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "Roc &amp; &lt;b&gt;Co&lt;/b&gt;" in mail.html
    assert '"><img' not in mail.html
    assert "Roc & <b>Co</b>" in mail.text
    assert "Roc & <b>Co</b>" in mail.subject


def test_subject_is_one_line_whatever_the_school_name() -> None:
    context = {**CONTEXT, "school_name": "ROC\r\nBcc: iemand@example.org"}
    subject = render(MailTemplate.WELCOME_BUDGET_HOLDER, context).subject
    assert "\r" not in subject and "\n" not in subject


def test_extra_context_keys_are_ignored() -> None:
    mail = render(MailTemplate.WELCOME_BUDGET_HOLDER, {**CONTEXT, "unused": "x"})
    assert "Grafisch Lyceum Zuid" in mail.subject


def test_unknown_template_is_poison() -> None:
    with pytest.raises(PoisonMessage) as raised:
        render("no_such_template", CONTEXT)
    assert isinstance(raised.value, UnknownTemplate)
    assert "no_such_template" in str(raised.value)


def test_missing_context_key_is_poison_and_names_no_values() -> None:
    context = {k: v for k, v in CONTEXT.items() if k not in ("link", "school_number")}
    with pytest.raises(PoisonMessage) as raised:
        render(MailTemplate.WELCOME_BUDGET_HOLDER, context)
    assert isinstance(raised.value, MissingContext)
    message = str(raised.value)
    assert "link" in message and "school_number" in message
    assert "Fatima" not in message and "Grafisch" not in message


@pytest.mark.parametrize("template", list(MailTemplate))
def test_every_template_of_the_contract_renders(template: MailTemplate) -> None:
    context = {key: f"waarde-{key}" for key in REQUIRED_KEYS[template]}
    mail = render(template, context)
    assert mail.subject and mail.text.strip() and "<html" in mail.html
    for value in context.values():
        assert value in mail.text
