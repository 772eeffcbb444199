"""The budget service. Budget orders, objection period, ledger, allocation, the budget half of
the weborder saga (debits and credits of the collective balance) and card payments."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.clock import Clock
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_budget.consumers import (
    approval_scheduler,
    members_consumer,
    objection_mail_scheduler,
    payments_consumer,
    spending_consumer,
)
from ck_budget.ops import router
from ck_budget.settings import BudgetSettings, get_settings


def build(settings: ServiceSettings | None = None, clock: Clock | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, BudgetSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(BudgetSettings, "budget", **given)
    clock = clock or settings.clock()
    return Service(
        name="budget",
        settings=settings,
        rpc=router,
        deps=settings,
        clock=clock,
        consumers=(
            known_schools_consumer("budget"),
            payments_consumer(clock),
            members_consumer(clock),
            spending_consumer(settings, clock),
        ),
        background=(
            approval_scheduler(settings, clock),
            objection_mail_scheduler(settings, clock),  # issue 13
        ),
        publishes=PUBLISHERS["budget"],
        description="Budget orders, objection period, ledger, allocation, spending, card payments.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
