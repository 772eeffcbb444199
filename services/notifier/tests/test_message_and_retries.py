"""Pure parts: composing the message, the retry schedule, error descriptions without addresses."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from uuid import uuid4

import aiosmtplib
import pytest
from ck_notifier.domain import (
    AfterFailure,
    Mail,
    after_failure,
    compose,
    message_id,
    retry_delay,
    valid_address,
)
from ck_notifier.smtp_client import classify, describe
from ck_notifier.tables import MailStatus

NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _mail() -> Mail:
    return Mail(
        id=uuid4(),
        template="welcome_budget_holder",
        recipient="budgethouder@school.example",
        subject="Welkom bij het schoolportaal: ROC één",
        text_body="Hallo, één keer.\n",
        html_body="<p>Hallo, één keer.</p>\n",
        attempts=0,
        created_at=NOW,
    )


def _parse(wire: bytes) -> EmailMessage:
    return email.message_from_bytes(wire, policy=default)  # type: ignore[return-value]


def test_message_has_text_html_and_a_message_id_from_the_mail_id() -> None:
    mail = _mail()
    wire = compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>")
    # What goes over the wire: 7-bit, CRLF line ends, no line longer than 78 characters.
    assert wire.isascii()
    lines = wire.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and max(len(line) for line in lines) <= 78
    message = _parse(wire)
    assert message["Message-ID"] == f"<{mail.id}@cjp.nl>"
    assert message["To"] == "budgethouder@school.example"
    assert message["From"] == "MBO Cultuurkaart <noreply@cjp.nl>"
    assert message["Subject"] == "Welkom bij het schoolportaal: ROC één"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "nl"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] == "Fri, 01 Mar 2024 09:30:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == "Hallo, één keer.\n"
    assert "<p>Hallo, één keer.</p>" in html.get_content()
    assert not message.defects and not text.defects and not html.defects
    # A resend composes the same message, with the same identity.
    assert compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>") == wire


def test_long_lines_and_odd_text_survive_the_encoding() -> None:
    body = "Eén regel " + "met veel woorden " * 30 + "\n.begint met punt\nFrom x\ttab \n=is\n"
    html = "<p>" + "lang " * 100 + "&amp; ë</p>\n"
    subject = "Je MBO Cultuurkaart is actief: " + "Grafisch Lyceum Zuid één " * 4
    mail = replace(_mail(), subject=subject, text_body=body, html_body=html)
    wire = compose(mail, "Cultuurkaart één <noreply@cjp.nl>")
    assert wire.isascii()
    assert max(len(line) for line in wire.split(b"\r\n")) <= 78
    message = _parse(wire)
    assert message["Subject"] == " ".join(subject.split())
    assert message["From"] == "Cultuurkaart één <noreply@cjp.nl>"
    text = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text is not None and html_part is not None
    assert text.get_content().replace("\r\n", "\n") == body
    assert html_part.get_content().replace("\r\n", "\n") == html


def test_an_international_address_takes_the_standard_library() -> None:
    mail = replace(_mail(), recipient="josé@school.example")
    message = _parse(compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>"))
    assert message["To"] == "josé@school.example"
    assert message["Message-ID"] == f"<{mail.id}@cjp.nl>"
    text = message.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n") == "Hallo, één keer.\n"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("yılmaz.ali3@gmail.com", True),
        ("çelik@school.nl", True),
        ("jan@bücher.de", True),
        ("a b@x.nl", False),
        ("a@x", False),
        ("a@@x.nl", False),
        ("ab@x..nl", False),
        ("a..b@x.nl", False),
        ("x@y.nl\r\nBcc: z@q.nl", False),
    ],
)
def test_valid_addresses_include_international_ones(address: str, valid: bool) -> None:
    assert valid_address(address) is valid


def test_a_mail_without_recipient_cannot_be_composed() -> None:
    with pytest.raises(ValueError):
        compose(replace(_mail(), recipient=None), "noreply@cjp.nl")


def test_message_id_without_a_domain_in_the_sender() -> None:
    mail_id = uuid4()
    assert message_id(mail_id, "noreply") == f"<{mail_id}@cultuurkaart.invalid>"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("jan@school.nl", True),
        ("j.de.vries+cjp@mbo-college.example.org", True),
        ("jan", False),
        ("jan@localhost", False),
        ("", False),
        ("jan@school.nl\r\nBcc: x@y.nl", False),
        ("a@b.nl, c@d.nl", False),
        (" jan@school.nl", False),
        ("Jan <jan@school.nl>", False),
        ("jan@school..nl", False),
        (".jan@school.nl", False),
        ('"jan de vries"@school.nl', True),
    ],
)
def test_valid_address(address: str, valid: bool) -> None:
    assert valid_address(address) is valid


def test_retry_delay_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n, 30, 3600).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(10_000, 30, 3600) == timedelta(seconds=3600)


def test_after_failure_waits_then_gives_up_at_max_attempts() -> None:
    def fail(attempts_before: int) -> AfterFailure:
        return after_failure(
            attempts_before,
            NOW,
            permanent=False,
            max_attempts=3,
            base_seconds=10.0,
            max_seconds=100.0,
        )

    first = fail(0)
    assert (first.status, first.attempts) == (MailStatus.PENDING, 1)
    assert first.next_attempt_at == NOW + timedelta(seconds=10)
    second = fail(1)
    assert second.next_attempt_at == NOW + timedelta(seconds=20)
    third = fail(2)
    assert (third.status, third.attempts) == (MailStatus.FAILED, 3)


def test_permanent_refusal_fails_at_once() -> None:
    outcome = after_failure(0, NOW, permanent=True, max_attempts=8, base_seconds=1, max_seconds=1)
    assert (outcome.status, outcome.attempts) == (MailStatus.FAILED, 1)


def test_error_descriptions_hold_no_address() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [
            aiosmtplib.SMTPRecipientRefused(
                550, "5.1.1 <jan.devries@school.nl>: Recipient address rejected", "jan@school.nl"
            )
        ]
    )
    text = describe(refused)
    assert "@" not in text
    assert text.startswith("SMTPRecipientsRefused 550: 5.1.1 <[adres]>")
    assert classify(refused).permanent
    busy = aiosmtplib.SMTPDataError(451, "try again later, jan@school.nl")
    assert "@" not in describe(busy)
    assert not classify(busy).permanent and not classify(busy).outage
    down = aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 1")
    assert classify(down).outage and not classify(down).permanent
    closing = aiosmtplib.SMTPResponseException(421, "shutting down")
    assert classify(closing).outage
