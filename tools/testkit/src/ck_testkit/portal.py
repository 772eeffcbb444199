"""Driving the whole portal over HTTP in end-to-end tests (see tests/conftest.py)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.message import EmailMessage

import httpx
from ck_devstack import Stack
from ck_notifier.smtp_sink import read_mails


@dataclass
class Portal:
    stack: Stack
    admin_email: str
    admin_password: str

    @property
    def url(self) -> str:
        return self.stack.portal_url

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15, follow_redirects=False)

    def admin_token(self) -> str:
        with self.client() as http:
            reply = http.post(
                "/api/v1/auth/login",
                json={"email": self.admin_email, "password": self.admin_password},
            )
            reply.raise_for_status()
            return str(reply.json()["token"])

    def register_school(
        self, name: str, holder_email: str, correlation_id: str | None = None
    ) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        body = {
            "settings": {
                "name": name,
                "brin_codes": ["25LG"],
                "locations": ["Haarlem"],
                "duo_student_count": 1001,
                "contacts": [],
            },
            "budget_holder": {"name": "Bea Budget", "email": holder_email},
        }
        with self.client() as http:
            reply = http.post("/api/v1/schools", json=body, headers=headers)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    # A bound against a lost mail, not a timing check: on a loaded two-core machine (the suite
    # on two workers beside benchmarks) a welcome mail once took over 30 s to arrive.
    def wait_for_mail(self, to: str, deadline: float = 90) -> EmailMessage:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for mail in read_mails(self.stack.mail_dir):
                if str(mail["To"]) == to:
                    return mail
            time.sleep(0.2)
        raise AssertionError(f"no mail arrived for that recipient within {deadline} s")


def mail_text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(mail: EmailMessage) -> str:
    found = re.search(r"https?://\S+/wachtwoord-instellen\?token=[\w-]+", mail_text(mail))
    assert found, "the mail has no password link"
    return found.group(0)


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)
