"""Settings of the roster service (environment variables ROSTER_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class RosterSettings(ServiceSettings):
    """Settings of the roster service (environment variables ROSTER_*)."""

    # Largest spreadsheet accepted (R-ROSTER-3: an oversized file gets a clear red result).
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1)


def get_settings(**overrides: object) -> RosterSettings:
    return load_settings(RosterSettings, "roster", **overrides)
