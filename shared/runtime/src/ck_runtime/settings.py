"""Settings from the environment (pydantic-settings), one prefix per service.

`ACCOUNTS_DATABASE_URL` sets the accounts service's database; `AMQP_URL` is shared by all but
can be overridden per service (`ACCOUNTS_AMQP_URL`). `PORTAL_URL` likewise: one setting for the
portal's public address, which every link in a mail starts with.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ck_runtime.clock import Clock, OffsetClock, current_clock
from ck_runtime.signing import KeySettingError, RequestVerifier

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATA_DIR = Path("var")


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses add their own and set `service_name`."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    # Variables read before their current name was chosen (field -> variable), still honoured
    # below the current `<NAME>_X` and above the shared `X`.
    former_variables: ClassVar[dict[str, str]] = {}
    amqp_url: str = DEFAULT_AMQP_URL
    database_url: str = ""  # empty: one SQLite file per service under data_dir
    data_dir: Path = DEFAULT_DATA_DIR
    health_host: str = "127.0.0.1"
    health_port: int = 0  # 0: no health endpoint (tests); the run command assigns ports
    # GET /metrics and the recording behind it (ck_runtime.metrics); shared METRICS_ENABLED.
    metrics_enabled: bool = True
    # Pause between samples of the gauges that need a query (outbox, dead letters, mails).
    metrics_sample_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = True
    # Messages handled at once per queue. Small for SQLite (one writer), larger for PostgreSQL.
    prefetch: int = Field(default=16, ge=1, le=1000)
    # Deliveries before a message is dead-lettered (quorum queue x-delivery-limit).
    delivery_limit: int = Field(default=5, ge=1, le=100)
    graceful_timeout: float = 15.0
    outbox_batch: int = 200
    outbox_poll_seconds: float = 1.0
    # Retention (R-AVG-2, ck_runtime.retention): the job's pause between passes, and how long
    # the runtime's own rows stay. Published outbox rows have no body from the moment they are
    # published; the row (ids and times, for tracing) goes after this many days.
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    outbox_retention_days: float = Field(default=7.0, ge=0)
    # An inbox row must outlive every redelivery of its message (see retention.runtime_rules).
    inbox_retention_days: float = Field(default=30.0, ge=1)
    # The audit trail (ck_runtime.audit): an entry is kept this many whole calendar years after
    # the year it was written in (7: the Dutch fiscal retention of money records, art. 52 AWR).
    audit_retention_years: int = Field(default=7, ge=7, le=50)
    # Development mode (`ck-dev run`, the test stacks): a missing secret is generated instead
    # of stopping the process, and the clock may be pinned. Shared variable CK_DEV_MODE.
    dev_mode: bool = False
    # Development only: every process's clock runs this many seconds ahead (or behind), so a
    # stack of processes runs on a chosen date. Shared variable CK_CLOCK_OFFSET_SECONDS.
    clock_offset_seconds: float = 0.0
    # Public keys that sign requests (the gateway's, ck_runtime.signing): `<id>:<base64>`,
    # comma-separated during a rotation. Shared variable RPC_VERIFY_KEYS; required by every
    # service that answers requests.
    rpc_verify_keys: str = ""
    # A signed request older or newer than this (wall clock) is refused as stale.
    rpc_max_age_seconds: int = Field(default=120, ge=5, le=3600)
    # The portal's public address (scheme, host, optional path), e.g. https://mbo.cjp.nl: the
    # start of every link in a mail (password links, invitation links) and of absolute links.
    # Shared variable PORTAL_URL; `<NAME>_PORTAL_URL` (ACCOUNTS_, MEMBERSHIP_) still wins.
    portal_url: str = "http://127.0.0.1:8000"

    def request_verifier(self) -> RequestVerifier:
        if not self.rpc_verify_keys:
            raise SettingsError(
                "RPC_VERIFY_KEYS is not set: give every service the gateway's public key(s) "
                "('ck-ops keys new' makes a pair; the gateway gets GATEWAY_RPC_SIGNING_KEY)."
            )
        try:
            return RequestVerifier.from_setting(
                self.rpc_verify_keys, "RPC_VERIFY_KEYS", self.rpc_max_age_seconds
            )
        except KeySettingError as exc:
            raise SettingsError(str(exc)) from exc

    def clock(self) -> Clock:
        """The process clock: the installed one (the system clock unless a test installed
        another), or in development one moved by CK_CLOCK_OFFSET_SECONDS."""
        if self.clock_offset_seconds:
            if not self.dev_mode:
                raise SettingsError(
                    "CK_CLOCK_OFFSET_SECONDS is only allowed in development mode "
                    "(CK_DEV_MODE=true)."
                )
            return OffsetClock(timedelta(seconds=self.clock_offset_seconds))
        return current_clock()

    def require_secret(self, value: str, variable: str) -> str:
        """Fail closed: outside development mode a missing secret stops the process."""
        if not value and not self.dev_mode:
            raise SettingsError(
                f"{variable} is not set: set it to a long random value from the secret store "
                "(only development mode, CK_DEV_MODE=true, generates one)."
            )
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = (self.data_dir / f"{self.service_name}.sqlite3").resolve()
        return f"sqlite+aiosqlite:///{path}"


class SettingsError(RuntimeError):
    """A setting is missing or wrong; the message is one sentence saying which and what to do."""


S = TypeVar("S", bound=ServiceSettings)

# Variables that may be set once for all services, without a prefix (field -> variable).
SHARED_VARIABLES = {
    "amqp_url": "AMQP_URL",
    "data_dir": "DATA_DIR",
    "log_level": "LOG_LEVEL",
    "log_json": "LOG_JSON",
    "dev_mode": "CK_DEV_MODE",
    "clock_offset_seconds": "CK_CLOCK_OFFSET_SECONDS",
    "rpc_verify_keys": "RPC_VERIFY_KEYS",
    "portal_url": "PORTAL_URL",
    "metrics_enabled": "METRICS_ENABLED",
}


def load_settings(cls: type[S], service_name: str, **overrides: object) -> S:
    """Settings for one service: `<NAME>_X` wins over the shared `X`, overrides win over both."""
    prefix = f"{service_name.upper()}_"
    # raw environment strings and overrides of any type: the settings model validates them
    values: dict[str, Any] = {}
    for name, variable in SHARED_VARIABLES.items():
        shared = os.environ.get(variable)
        if shared is not None and f"{prefix}{name.upper()}" not in os.environ:
            values[name] = shared
    for name, variable in cls.former_variables.items():
        former = os.environ.get(variable)
        if former is not None and f"{prefix}{name.upper()}" not in os.environ:
            values[name] = former
    values.update(overrides)
    values["service_name"] = service_name
    return cls(_env_prefix=prefix, **values)
