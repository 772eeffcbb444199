"""Database.read(): one snapshot for all the queries of a reader, on both databases. A page
that reads a balance and then its ledger lines must not show a payment in one and not in the
other (PostgreSQL's default READ COMMITTED would take a snapshot per statement)."""

from __future__ import annotations

import pytest
from ck_runtime.db import Database
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

_metadata = MetaData()
LINES = Table("test_snapshot_lines", _metadata, Column("n", Integer, primary_key=True))


@pytest.fixture
async def db(database_url: str) -> Database:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(_metadata.create_all)
    return database


async def test_a_reader_does_not_see_a_write_committed_between_its_queries(db: Database) -> None:
    count = select(func.count()).select_from(LINES)
    try:
        async with db.transaction() as session:
            await session.execute(insert(LINES).values(n=1))
        async with db.read() as reader:
            before = (await reader.execute(count)).scalar_one()
            async with db.transaction() as session:
                await session.execute(insert(LINES).values(n=2))
            during = (await reader.execute(count)).scalar_one()
        async with db.read() as reader:
            after = (await reader.execute(count)).scalar_one()
        assert (before, during, after) == (1, 1, 2)
    finally:
        await db.engine.dispose()
