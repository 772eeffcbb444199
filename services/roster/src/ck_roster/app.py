"""The roster service. People of a school: templates, validation, roster uploads, the list."""

from __future__ import annotations

from ck_contracts.membership import InvitationsRequested
from ck_contracts.roster import (
    PersonAdded,
    PersonRemoved,
    RosterPeopleAdded,
    RosterUploaded,
    TeacherRemoved,
)
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.service import Service, run_service
from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field

from ck_roster.handlers import DEFAULT_MAX_UPLOAD_BYTES, router
from ck_roster.status import status_consumer


class RosterSettings(ServiceSettings):
    """Settings of the roster service (environment variables ROSTER_*)."""

    # Largest spreadsheet accepted (R-ROSTER-3: an oversized file gets a clear red result).
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1)


def get_settings(**overrides: object) -> RosterSettings:
    return load_settings(RosterSettings, "roster", **overrides)


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
        consumers=(known_schools_consumer("roster"), status_consumer()),
        publishes=(
            RosterUploaded,
            RosterPeopleAdded,
            PersonAdded,
            PersonRemoved,
            TeacherRemoved,
            InvitationsRequested,
        ),
        description="People of a school: templates, validation, roster uploads, the list, "
        "invitations (handed to the membership service) and the Excel export.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
