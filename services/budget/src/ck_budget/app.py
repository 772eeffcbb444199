"""The budget service. Budget orders, objection period, ledger and allocation."""

from __future__ import annotations

from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings


def build(settings: ServiceSettings | None = None) -> Service:
    return Service(
        name="budget",
        settings=settings or load_settings(ServiceSettings, "budget"),
        consumers=(known_schools_consumer("budget"),),
        description="Budget orders, objection period, ledger and allocation.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
