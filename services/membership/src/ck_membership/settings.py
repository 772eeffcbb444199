"""Settings of the membership service (environment variables MEMBERSHIP_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings


class MembershipSettings(ServiceSettings):
    # Where the portal lives: invitation mails link to {portal_url}/activeren?code=...
    portal_url: str = "http://127.0.0.1:8000"


def get_settings(**overrides: object) -> MembershipSettings:
    return load_settings(MembershipSettings, "membership", **overrides)
