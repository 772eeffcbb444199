"""Retention in the accounts service (R-AVG-2), on SQLite and PostgreSQL, through the real
operations on a moved clock: used password links go at the next pass, expired sessions and
links once they expire, log-in throttle rows once their window has passed and no lock runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ck_accounts.admins import ensure_admin
from ck_accounts.domain import account_bucket
from ck_accounts.ops import router
from ck_accounts.retention import retention_rules
from ck_accounts.settings import get_settings
from ck_accounts.tables import login_throttle, outbox, password_links, sessions
from ck_contracts.accounts import Ops
from ck_contracts.operations import Operation
from ck_contracts.rpc import RpcRequest
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.retention import Retention
from ck_testkit.clocks import MONDAY, installed
from sqlalchemy import func, insert, select

PASSWORD = "een lang genoeg wachtwoord"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url="https://portal.example"))


async def register(db: Database, admin: dict[str, Any], key: str) -> str:
    """A school whose budget holder gets a password link: the link's token."""
    school = {
        "settings": {"name": f"College {key}", "brin_codes": ["25LG"], "duo_student_count": 10},
        "budget_holder": {"name": f"Holder {key}", "email": f"holder@{key}.test"},
    }
    assert (await call(db, Ops.SCHOOL_REGISTER, school, admin))["ok"]
    async with db.read() as session:
        bodies = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).scalars()
        link = [b for b in bodies if b.get("type") == "notifier.email.requested"][-1]
    return str(link["context"]["link"].split("token=")[1])


async def counts(db: Database) -> list[int]:
    """Rows in sessions, password_links, login_throttle."""
    found = []
    async with db.read() as session:
        for table in (sessions, password_links, login_throttle):
            query = select(func.count()).select_from(table)
            found.append(int((await session.execute(query)).scalar_one()))
    return found


async def test_spent_and_expired_rows_are_deleted_on_the_clock(db: Database) -> None:
    clock = ManualClock(MONDAY)
    with installed(clock):
        await ensure_admin(db, "admin@cjp.test", "Admin", PASSWORD)
        login = await call(db, Ops.LOGIN, {"email": "admin@cjp.test", "password": PASSWORD})
        admin = login["result"]["actor"]
        used = await register(db, admin, "a")
        await register(db, admin, "b")  # this link is never used
        set_password = {"token": used, "password": PASSWORD}
        assert (await call(db, Ops.PASSWORD_LINK_USE, set_password))["ok"]
        for _ in range(2):  # someone mistypes an address: a throttle row for it
            await call(db, Ops.LOGIN, {"email": "onbekend@c.test", "password": "fout"})
        job = Retention(db, clock, retention_rules())
        # The admin's session (setting a password ends the holder's other sessions: none).
        assert await counts(db) == [1, 2, 1]

        handled = await job.run_once()
        assert handled["password_links.used"] == 1  # a used link has no purpose left
        assert await counts(db) == [1, 1, 1]

        clock.advance(timedelta(minutes=15))  # the throttle's window has passed
        assert (await job.run_once())["login_throttle.stale"] == 1
        clock.set(MONDAY + timedelta(hours=12))  # the session's lifetime
        assert (await job.run_once())["sessions.expired"] == 1
        session = await call(db, Ops.SESSION, {"token": login["result"]["token"]})
        assert session["error"]["code"] == "unauthenticated"
        clock.set(MONDAY + timedelta(days=7))  # the unused link expires
        assert (await job.run_once())["password_links.expired"] == 1
        assert await counts(db) == [0, 0, 0]


async def test_a_running_lock_keeps_its_throttle_row(db: Database) -> None:
    """A lock may outlast the failure window (late failures lock up to 15 minutes after the
    last one); the row stays until it ends."""
    clock = ManualClock(MONDAY)
    async with db.transaction() as session:
        await session.execute(
            insert(login_throttle).values(
                bucket=account_bucket("doelwit@c.test"),
                failures=9,
                first_failure_at=MONDAY,
                last_failure_at=MONDAY + timedelta(minutes=5),
            )
        )
    job = Retention(db, clock, retention_rules())
    clock.set(MONDAY + timedelta(minutes=20) - timedelta(seconds=1))
    assert (await job.run_once())["login_throttle.stale"] == 0
    clock.advance(timedelta(seconds=1))
    assert (await job.run_once())["login_throttle.stale"] == 1
