"""Retention in the budget service (R-AVG-2): the data migration that takes the card number off
the tombstones of students removed before removals erased it (SQLite and PostgreSQL). The
removal itself is tested in test_card_service.py."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from ck_budget.tables import student_memberships
from ck_runtime.db import Database
from ck_runtime.migrations import alembic_config, upgrade_async
from ck_testkit.clocks import MONDAY
from sqlalchemy import insert, select


async def test_the_migration_erases_card_numbers_of_students_removed_before_it(
    database_url: str,
) -> None:
    config = alembic_config("budget", database_url)
    await asyncio.to_thread(command.upgrade, config, "b634c36aa487")  # the revision before
    db = Database(database_url)
    removed, active = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            insert(student_memberships),
            [
                {
                    "person_id": person,
                    "school_id": uuid.uuid4(),
                    "active": not gone,
                    "removed": gone,
                    "updated_at": MONDAY,
                    "card_number": f"CJP{i:013d}",
                }
                for i, (person, gone) in enumerate(((removed, True), (active, False)))
            ],
        )
    await db.dispose()
    await upgrade_async("budget", database_url)
    db = Database(database_url)
    columns = (student_memberships.c.person_id, student_memberships.c.card_number)
    async with db.read() as session:
        cards = dict((await session.execute(select(*columns))).all())
    assert cards == {removed: None, active: "CJP0000000000001"}
    await db.dispose()
