"""Settings of the roster service (environment variables ROSTER_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_JOB_WORKERS = 2
DEFAULT_JOB_STALE_SECONDS = 300.0
DEFAULT_JOB_RETENTION_DAYS = 30


class RosterSettings(ServiceSettings):
    """Settings of the roster service (environment variables ROSTER_*)."""

    # Largest spreadsheet accepted (R-ROSTER-3: an oversized file gets a clear red result).
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1)
    # Jobs (issue 14): files read, checked and stored at a time by one process (the others
    # wait, queued), and how long an unfinished job's heartbeat may be silent before the job
    # counts as interrupted (a process that stopped without saying so).
    job_workers: int = Field(default=DEFAULT_JOB_WORKERS, ge=1, le=16)
    job_stale_seconds: float = Field(default=DEFAULT_JOB_STALE_SECONDS, ge=10)
    # How long a finished job (its counts and report) can still be opened (ck_roster.retention).
    job_retention_days: int = Field(default=DEFAULT_JOB_RETENTION_DAYS, ge=1)


def get_settings(**overrides: object) -> RosterSettings:
    return load_settings(RosterSettings, "roster", **overrides)
