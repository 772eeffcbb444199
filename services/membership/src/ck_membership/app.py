"""The membership service. Memberships, invitations, activation codes and CJP cards."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.clock import Clock
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_membership.consumers import reminder_scheduler, roster_consumer
from ck_membership.ops import router
from ck_membership.settings import MembershipSettings, get_settings
from ck_membership.store import retention_rules


def build(settings: ServiceSettings | None = None, clock: Clock | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, MembershipSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(MembershipSettings, "membership", **given)
    clock = clock or settings.clock()
    return Service(
        name="membership",
        settings=settings,
        rpc=router,
        deps=settings,
        clock=clock,
        consumers=(
            known_schools_consumer("membership"),
            roster_consumer(settings.portal_url, clock),
        ),
        background=(reminder_scheduler(settings, clock),),  # issue 13
        retention=retention_rules(),
        publishes=PUBLISHERS["membership"],
        description="Memberships, invitations, activation codes and CJP cards.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
