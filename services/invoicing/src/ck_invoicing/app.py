"""The invoicing service. Invoices, their numbers, PDFs and payments."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_invoicing.consumers import budget_consumer
from ck_invoicing.ops import router
from ck_invoicing.settings import InvoicingSettings, get_settings


def build(settings: ServiceSettings | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, InvoicingSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(InvoicingSettings, "invoicing", **given)
    return Service(
        name="invoicing",
        settings=settings,
        rpc=router,
        deps=settings,
        consumers=(
            known_schools_consumer("invoicing"),
            budget_consumer(portal_url=settings.portal_url),
        ),
        publishes=PUBLISHERS["invoicing"],
        description="Invoices for approved budget orders: gapless numbers per year, the "
        "deviation of ordered versus uploaded, PDFs, and payments recorded by CJP.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
