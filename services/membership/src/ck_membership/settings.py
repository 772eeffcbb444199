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

    def activation_limits(self) -> Limits:
        return Limits(
            address=self.activation_address_limit,
            prefix=self.activation_prefix_limit,
            everyone=self.activation_global_limit,
        )


def get_settings(**overrides: object) -> MembershipSettings:
    return load_settings(MembershipSettings, "membership", **overrides)
