"""The weborders service. Providers, API keys, offer, weborders, Schooltoer, exports, dossier."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.clock import Clock
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, ServiceRuntime, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_weborders.consumers import budget_consumer, roster_consumer
from ck_weborders.mails import digest_scheduler
from ck_weborders.ops import router
from ck_weborders.settings import WebordersDeps, WebordersSettings, get_settings


def build(settings: ServiceSettings | None = None, clock: Clock | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, WebordersSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(WebordersSettings, "weborders", **given)
    # Fail closed before anything starts: no pepper, no service (outside development mode).
    settings.require_pepper()
    deps = WebordersDeps(settings)
    clock = clock or settings.clock()

    async def read_pepper(_runtime: ServiceRuntime) -> None:
        assert deps.pepper

    return Service(
        name="weborders",
        settings=settings,
        rpc=router,
        deps=deps,
        clock=clock,
        on_start=(read_pepper,),
        consumers=(
            known_schools_consumer("weborders"),
            budget_consumer(clock, settings.portal_url),
            roster_consumer(clock),
        ),
        background=(digest_scheduler(settings, clock),),
        publishes=PUBLISHERS["weborders"],
        description="Cultural providers and their API keys, the offer, weborders and their "
        "approval saga with the budget, Schooltoer, the spending export and the "
        "Cultuurkaart-dossier.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
