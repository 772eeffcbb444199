"""The roster service. People of a school: templates, validation, roster uploads, the list."""

from __future__ import annotations

import asyncio

from ck_contracts.topology import PUBLISHERS
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, ServiceRuntime, run_service
from ck_runtime.settings import ServiceSettings, load_settings

from ck_roster import jobs
from ck_roster.consumers import status_consumer
from ck_roster.filework import fix_mmap_threshold
from ck_roster.ops import router
from ck_roster.retention import retention_rules
from ck_roster.runs import runs_consumer
from ck_roster.settings import RosterSettings, get_settings

__all__ = ["RosterSettings", "build", "get_settings", "main"]


async def fail_abandoned_jobs(runtime: ServiceRuntime) -> None:
    """Before the first request: jobs no process runs any more are failed (ck_roster.jobs)."""
    stale = float(getattr(runtime.settings, "job_stale_seconds", 300.0))
    await jobs.fail_abandoned(runtime.db, runtime.clock, stale)


async def job_keeper(runtime: ServiceRuntime) -> None:
    """Waits for the stop; then this process's running jobs fail themselves (interrupted)."""
    try:
        await asyncio.Event().wait()
    finally:
        await jobs.stop_jobs(runtime.db)


def build(settings: ServiceSettings | None = None) -> Service:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, RosterSettings):
        given = settings.model_dump(exclude={"service_name"})
        settings = load_settings(RosterSettings, "roster", **given)
    return Service(
        name="roster",
        settings=settings,
        rpc=router,
        deps=settings,
        consumers=(known_schools_consumer("roster"), status_consumer(), runs_consumer()),
        on_start=(fail_abandoned_jobs,),
        retention=retention_rules(settings),
        background=(job_keeper,),
        publishes=PUBLISHERS["roster"],
        description="People of a school: templates, validation, roster uploads, the list, "
        "invitations (handed to the membership service) and the Excel export.",
    )


def main() -> None:
    fix_mmap_threshold()  # before the first file (ck_roster.filework)
    run_service(build)


if __name__ == "__main__":
    main()
