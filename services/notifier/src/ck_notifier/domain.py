"""The notifier's rules, without I/O: one outgoing mail as an RFC 5322 message (plain text
with an HTML alternative), which addresses are valid, and when a failed mail is tried again.

The message: `compose` writes the bytes for the wire itself instead of building an
`EmailMessage` (whose header registry and generator cost about 1.5 ms per mail on the slow
test machine, against about 25 µs here): fixed headers, both bodies UTF-8 in quoted-printable
(binascii, in C), a boundary that cannot occur in quoted-printable text ("=" there is always
followed by two hex digits or a line break). Headers that need encoding (a subject with "é", a
long subject, a display name in MAIL_FROM) are encoded and folded by the standard library
(`Header`, or the address policy for From), cached per value. An address with non-ASCII
characters (sent with SMTPUTF8) stands in the To header as UTF-8 (RFC 6532); it took the
standard library's 1.5 ms path before: about one student in nine of the benchmark's roster.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from functools import lru_cache
from uuid import UUID

from ck_notifier.tables import MailStatus

FALLBACK_DOMAIN = "cultuurkaart.invalid"
CRLF = "\r\n"


@dataclass(frozen=True)
class Mail:
    """What the sender reads from an outgoing_mails row that is due."""

    id: UUID
    template: str
    recipient: str | None  # None: the mail can never be sent (an invalid address, erased)
    subject: str | None
    text_body: str | None
    html_body: str | None
    attempts: int
    created_at: datetime
    correlation_id: str | None = None


# The common shape (a dot-atom at a dotted domain), checked without the standard library's
# header parser, which costs about 100 µs per address: 5 s for a roster of 50,000.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


# RFC 6531 (SMTPUTF8): UTF-8 letters in the local part and the domain, e.g. yılmaz@school.nl
# (names of the rosters' students are not all ASCII). Sent with the SMTPUTF8 option.
_ATEXT_UTF8 = r"[^\x00-\x20\x7f\"(),.:;<>@\[\\\]]+"
_INTERNATIONAL_ADDRESS = re.compile(
    rf"{_ATEXT_UTF8}(?:\.{_ATEXT_UTF8})*@[^\x00-\x20\x7f@.\"(),:;<>\[\\\]]+"
    r"(?:\.[^\x00-\x20\x7f@.\"(),:;<>\[\\\]]+)+"
)


def valid_address(address: str) -> bool:
    """One plain addr-spec (no display name, no line breaks) with a local part and a domain."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return True
    if not address.isascii() and _INTERNATIONAL_ADDRESS.fullmatch(address):
        return True
    if address != address.strip() or any(ch in address for ch in "\r\n,"):
        return False
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, TypeError, HeaderParseError):
        return False
    return bool(parsed.username) and "." in parsed.domain


def message_id(mail_id: UUID, mail_from: str) -> str:
    """Stable per mail: a resend after a crash carries the same Message-ID (RFC 5322 3.6.4)."""
    return f"<{mail_id}@{_domain(mail_from)}>"


@lru_cache(maxsize=16)
def _domain(mail_from: str) -> str:
    addresses = getaddresses([mail_from])
    _, at, domain = addresses[0][1].rpartition("@") if addresses else ("", "", "")
    return domain if at and domain else FALLBACK_DOMAIN


@lru_cache(maxsize=16)
def envelope_sender(mail_from: str) -> str:
    """The bare address of MAIL_FROM, for the SMTP envelope (MAIL FROM)."""
    addresses = getaddresses([mail_from])
    return addresses[0][1] if addresses else mail_from


def _header(name: str, value: str) -> str:
    """`Name: value` CRLF, folded and RFC 2047-encoded where needed. Plain short ASCII values
    (nearly all) skip the standard library."""
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= 78 and "\r" not in value and "\n" not in value:
        return line + CRLF
    if name == "To":  # not cached: an address is personal data (R-AVG-2)
        return _fold(name, value)
    return _fold_cached(name, value)


def _fold(name: str, value: str) -> str:
    if name in ("From", "To"):  # an address header: only the display name is encoded
        return str(SMTP.header_factory(name, value).fold(policy=SMTP))
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(" ".join(value.split()), charset, header_name=name).encode(linesep=CRLF)
    return f"{name}: {folded}{CRLF}"


_fold_cached = lru_cache(maxsize=1024)(_fold)  # From and subjects: the same for many mails


# The mails of one EmailsRequested share their queueing time: formatted once per batch.
_date = lru_cache(maxsize=64)(format_datetime)


def _qp(body: str) -> str:
    """UTF-8 quoted-printable with CRLF line ends (soft breaks at 76 characters). A lone CR is
    a line end too: b2a_qp would pass it on bare, and the wire takes CRLF only."""
    data = body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF).encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).decode("ascii")


def compose(mail: Mail, mail_from: str) -> bytes:
    """The message as it goes over the wire: every line end CRLF, no bare CR or LF (the SMTP
    client sends it without normalising, ck_notifier.smtp_client). Raises ValueError when the mail
    has no recipient or content (it can never be sent)."""
    if mail.recipient is None or mail.subject is None:
        raise ValueError("the mail has no recipient or content")
    if mail.recipient.isascii():
        to = _header("To", mail.recipient)
    else:
        # An internationalised address (RFC 6531) goes out with SMTPUTF8, which lets headers
        # carry UTF-8 as it is (RFC 6532), as the standard library's SMTPUTF8 policy writes
        # it; valid_address let through no line break, space or display name.
        to = f"To: {mail.recipient}{CRLF}"
    boundary = f"==_ck_{mail.id.hex}"
    parts = [
        _header("From", mail_from),
        to,
        _header("Subject", mail.subject),
        f"Date: {_date(mail.created_at)}{CRLF}",
        f"Message-ID: {message_id(mail.id, mail_from)}{CRLF}",
        # RFC 3834: machine-made mail; keeps out-of-office replies away from the no-reply address.
        f"Auto-Submitted: auto-generated{CRLF}",
        f"Content-Language: nl{CRLF}",
        f"MIME-Version: 1.0{CRLF}",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}',
        CRLF,
        f"--{boundary}{CRLF}",
        f'Content-Type: text/plain; charset="utf-8"{CRLF}',
        f"Content-Transfer-Encoding: quoted-printable{CRLF}",
        CRLF,
        _qp(mail.text_body or ""),
        f"{CRLF}--{boundary}{CRLF}",
        f'Content-Type: text/html; charset="utf-8"{CRLF}',
        f"Content-Transfer-Encoding: quoted-printable{CRLF}",
        CRLF,
        _qp(mail.html_body or ""),
        f"{CRLF}--{boundary}--{CRLF}",
    ]
    return "".join(parts).encode("utf-8")  # ASCII but for an internationalised To


# --- retries: when a mail that failed is tried again, and when the notifier gives up ---------
def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Pause after the n-th failed try: base, 2 x base, 4 x base, ... at most max_seconds."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 x base is beyond any sensible cap
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


@dataclass(frozen=True)
class AfterFailure:
    status: MailStatus
    attempts: int
    next_attempt_at: datetime


def after_failure(
    attempts_before: int,
    now: datetime,
    *,
    permanent: bool,
    max_attempts: int,
    base_seconds: float,
    max_seconds: float,
) -> AfterFailure:
    """A failed try counts; a permanent refusal or the last allowed try makes the mail failed."""
    attempts = attempts_before + 1
    if permanent or attempts >= max_attempts:
        return AfterFailure(MailStatus.FAILED, attempts, now)
    return AfterFailure(
        MailStatus.PENDING, attempts, now + retry_delay(attempts, base_seconds, max_seconds)
    )
