"""SMTP pipelining (RFC 2920) between the notifier's client and a real server (ck-smtp-sink's
aiosmtpd): MAIL, RCPT and DATA in one write, the content in a second; refusals inside a group
leave the connection usable; content that needs dot-stuffing arrives intact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from ck_contracts.messaging import utcnow
from ck_notifier.domain import Mail, compose
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_client import DeliveryError, SmtpClient, _PipeliningProtocol
from ck_notifier.smtp_sink import _Controller, _StoreHandler, read_mails
from ck_runtime.settings import load_settings

FROM = "MBO Cultuurkaart <noreply@cjp.nl>"


class _RefusingHandler(_StoreHandler):
    """The sink's handler, refusing one address for good (as a server with an unknown user)."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("onbekend@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
async def server(tmp_path: Path, smtp_port: int) -> AsyncIterator[Path]:
    folder = tmp_path / "mail"
    folder.mkdir()
    controller = _Controller(
        _RefusingHandler(folder), hostname="127.0.0.1", port=smtp_port, enable_SMTPUTF8=True
    )
    await asyncio.to_thread(controller.start)
    yield folder
    await asyncio.to_thread(controller.stop)


def _client(smtp_port: int) -> SmtpClient:
    settings = load_settings(
        NotifierSettings,
        "notifier",
        database_url="sqlite+aiosqlite:///unused.db",
        smtp_port=smtp_port,
        smtp_timeout_seconds=5.0,
    )
    return SmtpClient(settings)


def _message(recipient: str, text: str) -> bytes:
    mail = Mail(
        uuid4(), "invitation", recipient, "Je uitnodiging", text, f"<p>{text}</p>", 0, utcnow()
    )
    return compose(mail, FROM)


async def test_pipelined_mails_arrive_intact_and_a_refusal_keeps_the_connection(
    server: Path, smtp_port: int
) -> None:
    client = _client(smtp_port)
    texts = {
        "een@school.example": "Beste Eén,\n.\n..punten aan het begin\nDe code werkt één keer.",
        "twee@school.example": "." + "x" * 200,
    }
    gates: list[str] = []

    async def gate() -> None:
        gates.append("receipt written")

    try:
        await client.send("noreply@cjp.nl", "een@school.example", _message("een", ""), None)
        smtp = client._smtp
        assert smtp is not None and smtp.supports_extension("pipelining")
        assert isinstance(smtp.protocol, _PipeliningProtocol)
        with pytest.raises(DeliveryError) as refused:
            await client.send("noreply@cjp.nl", "onbekend@school.example", _message("x", "y"), gate)
        assert refused.value.permanent and not refused.value.outage
        assert "onbekend" not in refused.value.description
        assert gates == []  # refused before DATA: the content never went, nor the gate
        for recipient, text in texts.items():
            await client.send("noreply@cjp.nl", recipient, _message(recipient, text), gate)
        assert gates == ["receipt written"] * 2
        assert client.connections_opened == 1  # the refusal left the connection usable
    finally:
        await client.close()

    mails = read_mails(server)
    assert [m["X-Original-To"] for m in mails] == [
        "een@school.example",
        "een@school.example",
        "twee@school.example",
    ]
    for mail, text in zip(mails[1:], texts.values(), strict=True):
        plain = mail.get_body(("plain",))
        assert plain is not None
        assert plain.get_content().replace("\r\n", "\n") == text


def test_compose_writes_crlf_line_ends_only() -> None:
    """The pipelined client sends compose()'s bytes without normalising them: no bare CR or LF
    may reach the wire (a bare line end is how SMTP smuggling starts)."""
    import re

    texts = ["a\rb\r\nc\nd\n\r.e", "één\n\n.\r", "x" * 300 + "\r"]
    for text in texts:
        for recipient in ("leerling@school.example", "yılmaz@school.example"):
            mail = Mail(uuid4(), "invitation", recipient, "Onderwerp", text, text, 0, utcnow())
            message = compose(mail, FROM)
            assert re.search(rb"\r(?!\n)|(?<!\r)\n", message) is None, (text, recipient)


def test_pipelining_works_on_uvloop(tmp_path: Path, smtp_port: int) -> None:
    """The notifier runs on uvloop (ck_runtime.event_loop), whose transport keeps the
    protocol's data_received bound at connect: the switch to the pipelining protocol must reach
    it, or every pipelined reply is dropped and the mail times out."""
    import uvloop

    folder = tmp_path / "mail"
    folder.mkdir()
    controller = _Controller(
        _StoreHandler(folder), hostname="127.0.0.1", port=smtp_port, enable_SMTPUTF8=True
    )

    async def send_two() -> bool:
        client = _client(smtp_port)
        try:
            for recipient in ("een@school.example", "twee@school.example"):
                await client.send("noreply@cjp.nl", recipient, _message(recipient, "Hallo"), None)
            return isinstance(client._smtp and client._smtp.protocol, _PipeliningProtocol)
        finally:
            await client.close()

    controller.start()
    try:
        pipelined = uvloop.run(send_two())
    finally:
        controller.stop()
    assert pipelined
    assert [m["X-Original-To"] for m in read_mails(folder)] == [
        "een@school.example",
        "twee@school.example",
    ]
