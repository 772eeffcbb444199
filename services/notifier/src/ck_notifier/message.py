"""One outgoing mail as an RFC 5322 message: plain text with an HTML alternative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from uuid import UUID

FALLBACK_DOMAIN = "cultuurkaart.invalid"


@dataclass(frozen=True)
class Mail:
    """What the sender reads from an outgoing_mails row that is due."""

    id: UUID
    template: str
    recipient: str
    subject: str
    text_body: str
    html_body: str
    attempts: int
    created_at: datetime
    correlation_id: str | None = None


def valid_address(address: str) -> bool:
    """One plain addr-spec (no display name, no line breaks) with a local part and a domain."""
    if address != address.strip() or any(ch in address for ch in "\r\n,"):
        return False
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, TypeError):
        return False
    return bool(parsed.username) and "." in parsed.domain


def message_id(mail_id: UUID, mail_from: str) -> str:
    """Stable per mail: a resend after a crash carries the same Message-ID (RFC 5322 3.6.4)."""
    addresses = getaddresses([mail_from])
    _, at, domain = addresses[0][1].rpartition("@") if addresses else ("", "", "")
    return f"<{mail_id}@{domain if at and domain else FALLBACK_DOMAIN}>"


def compose(mail: Mail, mail_from: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = message_id(mail.id, mail_from)
    # RFC 3834: machine-made mail; keeps out-of-office replies away from the no-reply address.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    message["Content-Language"] = "nl"  # after the content: set_content drops Content-* headers
    return message
