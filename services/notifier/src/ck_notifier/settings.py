"""Settings of the notifier (environment variables NOTIFIER_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field, SecretStr, model_validator


class NotifierSettings(ServiceSettings):
    # The SMTP server mails are handed to. The defaults match `ck-smtp-sink` for local runs.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False  # upgrade a plain connection with STARTTLS (port 587)
    smtp_use_tls: bool = False  # TLS from the first byte (port 465)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # A reused connection is closed politely after this long without mail to send.
    smtp_idle_seconds: float = Field(default=60.0, gt=0)
    mail_from: str = "MBO Cultuurkaart <noreply@cjp.nl>"
    # Tries per mail before it becomes `failed` (the dead letter an operator replays).
    max_attempts: int = Field(default=8, ge=1, le=100)
    # Pause after the n-th failed try: retry_base_seconds * 2**(n-1), at most retry_max_seconds.
    # With the defaults a mail survives an SMTP outage of about an hour.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    # SMTP connections used at once (a pass opens one per 20 of its mails, at most this many;
    # a server that refuses the extra ones only slows the pass down). On the 2-core machine 4
    # and 8 send 50,000 mails to the local sink equally fast (25 s and 28 s); 4 is kinder to a
    # provider's connection limits.
    smtp_connections: int = Field(default=4, ge=1, le=32)
    # Mails taken per pass (one read, one write of the outcomes); the pause between passes
    # when idle.
    batch_size: int = Field(default=400, ge=1, le=1000)
    poll_seconds: float = Field(default=0.5, gt=0)
    # Retention (R-AVG-2, ck_notifier.retention). A failed mail keeps its address, subject and
    # text this long, so an operator can still replay it (`ck-notifier replay`); then they are
    # erased and the mail stays listed as failed, without anything to send.
    failed_mail_retention_days: float = Field(default=7.0, ge=0)
    # What is left of a sent mail (id, template, times, a masked error) and of an erased failed
    # one is deleted after this long. At least the inbox's window: the mail id is what keeps
    # a batch that arrives again from becoming a second mail.
    mail_record_retention_days: float = Field(default=30.0, ge=1)

    @model_validator(mode="after")
    def _one_kind_of_tls(self) -> NotifierSettings:
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("set smtp_starttls or smtp_use_tls, not both")
        return self


def get_settings(**overrides: object) -> NotifierSettings:
    return load_settings(NotifierSettings, "notifier", **overrides)
