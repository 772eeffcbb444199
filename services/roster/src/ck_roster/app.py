"""The roster service. People of a school: templates, validation, roster uploads."""

from __future__ import annotations

from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings


def build(settings: ServiceSettings | None = None) -> Service:
    return Service(
        name="roster",
        settings=settings or load_settings(ServiceSettings, "roster"),
        consumers=(known_schools_consumer("roster"),),
        description="People of a school: templates, validation, roster uploads.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
