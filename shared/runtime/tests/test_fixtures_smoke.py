from ck_runtime.db import Database
from sqlalchemy import text


async def test_database_url_answers(database_url: str) -> None:
    db = Database(database_url)
    async with db.read() as session:
        assert (await session.execute(text("SELECT 1"))).scalar() == 1
    await db.dispose()
