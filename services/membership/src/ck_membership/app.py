"""The membership service. Memberships, invitations, activation codes and CJP cards."""

from __future__ import annotations

from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings


def build(settings: ServiceSettings | None = None) -> Service:
    return Service(
        name="membership",
        settings=settings or load_settings(ServiceSettings, "membership"),
        consumers=(known_schools_consumer("membership"),),
        description="Memberships, invitations, activation codes and CJP cards.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
