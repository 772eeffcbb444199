"""Settings of the membership service (environment variables MEMBERSHIP_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field

from ck_membership.domain import DEFAULT_LIMITS, Limits


class MembershipSettings(ServiceSettings):
    # Failed activation attempts per 15 minutes (domain.Limits, docs/architecture.md): per client
    # address, per code prefix, and for everyone together (0: no ceiling).
    activation_address_limit: int = Field(default=DEFAULT_LIMITS.address, ge=1)
    activation_prefix_limit: int = Field(default=DEFAULT_LIMITS.prefix, ge=1)
    activation_global_limit: int = Field(default=DEFAULT_LIMITS.everyone, ge=0)
    # issue 13: an invited member who has not activated this many days after the last mail
    # gets a reminder with the same code and link, at most `invitation_reminders` times in
    # all (0: no reminders). The job looks every reminder_poll_seconds.
    invitation_reminder_days: int = Field(default=14, ge=1, le=365)
    invitation_reminders: int = Field(default=2, ge=0, le=10)
    reminder_poll_seconds: float = Field(default=60.0, gt=0)
    reminder_batch: int = Field(default=500, ge=1, le=500)

    def activation_limits(self) -> Limits:
        return Limits(
            address=self.activation_address_limit,
            prefix=self.activation_prefix_limit,
            everyone=self.activation_global_limit,
        )


def get_settings(**overrides: object) -> MembershipSettings:
    return load_settings(MembershipSettings, "membership", **overrides)
