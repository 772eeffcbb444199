"""Alembic migrations per service, run at start-up and from the command line.

Convention: service `x` keeps its tables in `ck_x.tables.metadata` and its migration scripts
in the `ck_x/migrations` folder (env.py there calls `run_env`).
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from ck_runtime.db import create_engine, is_sqlite

MIGRATION_LOCK_KEY = 0x436B4D6967  # "CkMig": one advisory lock per database


def alembic_config(service: str, database_url: str) -> Config:
    package = importlib.import_module(f"ck_{service}")
    if package.__file__ is None:  # a namespace package: no folder of its own
        raise RuntimeError(f"ck_{service} is not an installed service package")
    folder = Path(package.__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, database_url: str) -> None:
    """Bring the service's database to the newest revision (blocking: call in a thread)."""
    command.upgrade(alembic_config(service, database_url), "head")


async def upgrade_async(service: str, database_url: str) -> None:
    await asyncio.to_thread(upgrade, service, database_url)


def new_revision(service: str, database_url: str, message: str) -> None:
    """Autogenerate a migration from the difference between tables.py and the database."""
    command.revision(alembic_config(service, database_url), message=message, autogenerate=True)


def _run_migrations(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=is_sqlite(str(connection.engine.url)),  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_engine(url, null_pool=True)
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait, then find nothing to do.
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_run_migrations, metadata)
        await connection.commit()
    await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata))


def main() -> None:
    """`ck-migrate SERVICE upgrade|revision MESSAGE`: the command-line face of this module."""
    import argparse

    from ck_runtime.settings import ServiceSettings, load_settings

    parser = argparse.ArgumentParser(prog="ck-migrate")
    parser.add_argument("service")
    parser.add_argument("action", choices=["upgrade", "revision"])
    parser.add_argument("message", nargs="?", default="change")
    args = parser.parse_args()
    url = load_settings(ServiceSettings, args.service).resolved_database_url()
    if args.action == "upgrade":
        upgrade(args.service, url)
    else:
        new_revision(args.service, url, args.message)
