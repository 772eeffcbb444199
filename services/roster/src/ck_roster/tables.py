"""The roster service's own tables."""

from __future__ import annotations

from ck_runtime.known_schools import add_known_schools_table
from ck_runtime.tables import add_runtime_tables
from sqlalchemy import MetaData

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
known_schools = add_known_schools_table(metadata)
