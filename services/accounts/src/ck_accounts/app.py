"""The accounts service: schools, users, sessions, password links, Docent+ access with the
teachers' memberships it depends on (R-SCHOOL-1, R-ROLE-1..6)."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.logs import get_logger
from ck_runtime.service import Service, ServiceRuntime, run_service

from ck_accounts.admins import ensure_admin
from ck_accounts.consumers import mails_consumer, teachers_consumer
from ck_accounts.ops import router
from ck_accounts.retention import retention_rules
from ck_accounts.settings import AccountsSettings, get_settings

log = get_logger(__name__)


async def _bootstrap_admin(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, AccountsSettings)
    if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
        await ensure_admin(
            runtime.db,
            settings.bootstrap_admin_email,
            "CJP beheerder",
            settings.bootstrap_admin_password,
            runtime.clock,
        )
        log.info("admin.bootstrapped")


def build(settings: AccountsSettings | None = None) -> Service:
    settings = settings or get_settings()
    return Service(
        name="accounts",
        settings=settings,
        rpc=router,
        consumers=(teachers_consumer(), mails_consumer()),
        deps=settings,
        on_start=(_bootstrap_admin,),
        retention=retention_rules(),
        publishes=PUBLISHERS["accounts"],
        description="Schools, users, roles, sessions, password links and Docent+ access.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
