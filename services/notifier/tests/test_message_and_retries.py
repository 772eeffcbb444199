"""Pure parts: composing the message, the retry schedule, error descriptions without addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aiosmtplib
import pytest
from ck_notifier.message import Mail, compose, message_id, valid_address
from ck_notifier.retries import AfterFailure, after_failure, retry_delay
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


def test_message_has_text_html_and_a_message_id_from_the_mail_id() -> None:
    mail = _mail()
    message = compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>")
    assert message["Message-ID"] == f"<{mail.id}@cjp.nl>"
    assert message["To"] == "budgethouder@school.example"
    assert message["From"] == "MBO Cultuurkaart <noreply@cjp.nl>"
    assert message["Subject"] == "Welkom bij het schoolportaal: ROC één"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and text.get_content() == "Hallo, één keer.\n"
    assert html is not None and "<p>Hallo, één keer.</p>" in html.get_content()
    # A resend composes the same identity.
    assert compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>")["Message-ID"] == message["Message-ID"]


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
