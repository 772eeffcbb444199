"""The invoicing service. Invoices, their numbers, PDFs and payments."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime import audit
from ck_runtime.clock import Clock
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_invoicing.consumers import budget_consumer, payout_scheduler, spending_consumer
from ck_invoicing.ops import router
from ck_invoicing.settings import InvoicingSettings, get_settings


def build(settings: ServiceSettings | None = None, clock: Clock | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, InvoicingSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(InvoicingSettings, "invoicing", **given)
    clock = clock or settings.clock()
    return Service(
        name="invoicing",
        settings=settings,
        rpc=router,
        deps=settings,
        clock=clock,
        consumers=(
            known_schools_consumer("invoicing", address=True),
            budget_consumer(portal_url=settings.portal_url),
            spending_consumer(settings),  # payouts (issue 13)
        ),
        background=(payout_scheduler(settings, clock),),
        retention=(audit.retention_rule(settings),),
        publishes=PUBLISHERS["invoicing"],
        description="Invoices for approved budget orders: gapless numbers per year, the "
        "deviation of ordered versus uploaded, PDFs, and payments recorded by CJP; the "
        "providers' reimbursement statements (uitbetalingsoverzichten) per period.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
