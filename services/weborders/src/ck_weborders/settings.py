"""Settings of the weborders service (environment variables WEBORDERS_*).

WEBORDERS_API_KEY_PEPPER keys the HMAC under which provider API keys are stored. Set it in
production to a long random value from the secret store, the same on every replica, and keep
it out of the database: with it a leaked database does not even let anyone test a guessed key.
Left empty, the service does not start (fail closed), except in development mode
(CK_DEV_MODE=true, `ck-dev run` and the test stacks): there a random pepper is generated once
and kept in `<data dir>/weborders-api-key-pepper` (with a warning at start-up), fine on one
machine. Changing the pepper invalidates every key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call
from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field

from ck_weborders.key_cache import KeyCache

log = get_logger(__name__)

PEPPER_FILE = "weborders-api-key-pepper"


class WebordersSettings(ServiceSettings):
    api_key_pepper: str = ""
    # Offerings per page of the offer search (R-WEB-3).
    offer_page_size: int = Field(default=20, ge=1, le=200)
    # issue 13, the budget holders' daily digest of weborders awaiting a decision: sent once a
    # day per school from this hour (Europe/Amsterdam) when there is something to tell; a
    # weborder undecided for reminder_days is named once more, as a reminder.
    digest_hour: int = Field(default=8, ge=0, le=23)
    reminder_days: int = Field(default=7, ge=1, le=365)
    mail_poll_seconds: float = Field(default=60.0, gt=0)

    def require_pepper(self) -> None:
        """Fail closed: SettingsError (one sentence) when the pepper is missing outside
        development mode."""
        self.require_secret(self.api_key_pepper, "WEBORDERS_API_KEY_PEPPER")

    def effective_pepper(self) -> bytes:
        """The configured pepper; missing, SettingsError outside development mode, and in
        development mode one generated once and kept in the data dir."""
        if self.api_key_pepper:
            return self.api_key_pepper.encode()
        self.require_pepper()
        path = Path(self.data_dir) / PEPPER_FILE
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):  # another process was first
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w") as out:
                        out.write(secrets.token_urlsafe(32))
            pepper = path.read_text().strip().encode()
        except OSError as exc:
            raise RuntimeError(
                f"WEBORDERS_API_KEY_PEPPER is not set and {path} cannot be written or read "
                f"({type(exc).__name__}): set WEBORDERS_API_KEY_PEPPER"
            ) from exc
        log.warning(
            "weborders.api_key_pepper_generated",
            detail="WEBORDERS_API_KEY_PEPPER is empty: the pepper is kept in the data dir; "
            "replicas with another data dir refuse the keys issued here",
        )
        return pepper


def get_settings(**overrides: object) -> WebordersSettings:
    return load_settings(WebordersSettings, "weborders", **overrides)


@dataclass(frozen=True)
class WebordersDeps:
    """What the handlers get (call.deps): the settings and the API-key pepper, read once."""

    settings: WebordersSettings

    @cached_property
    def pepper(self) -> bytes:
        """Read once, at start-up (app.py's on_start hook), so its warning is logged with the
        service's logging and a missing data dir fails the start, not the first API call."""
        return self.settings.effective_pepper()

    @cached_property
    def key_cache(self) -> KeyCache:
        """The weborder hot path's key lookups, kept for a few seconds (key_cache)."""
        return KeyCache()

    @cached_property
    def card_key(self) -> bytes:
        """The key of the card-number hashes (issue 13), derived from the pepper."""
        from ck_weborders.domain import card_key

        return card_key(self.pepper)


def deps_of(call: Call) -> WebordersDeps:
    assert isinstance(call.deps, WebordersDeps), "the weborders service runs with WebordersDeps"
    return call.deps
