"""announce the people already on the rosters (RosterPeopleAdded)

Revision ID: 71ee60e369a8
Revises: 25d530a53fa3
Create Date: 2026-12-05 02:49:33.568615

A data migration, no schema change. Since this release the weborders service keeps who is on
each school's roster (ids only) from the roster's events, and its dossier refuses anyone else
(R-DOSSIER-1). Uploads and hand additions from before it were never announced with their ids,
so this puts one RosterPeopleAdded event per 1,000 people already stored into the outbox, once;
the relay publishes them as usual. An empty database (every new installation, every test)
writes nothing. The envelope is written out here (version 1 of the event) so the migration
does not change with later versions of the contract.
"""
from collections.abc import Sequence
from itertools import groupby
from uuid import uuid4

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables
from ck_contracts.messaging import utcnow


revision: str = '71ee60e369a8'
down_revision: str | None = '25d530a53fa3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUTING_KEY = "roster.people.added"
PEOPLE_PER_EVENT = 1000

people = sa.table(
    "people",
    sa.column("id", sa.Uuid()),
    sa.column("school_id", sa.Uuid()),
    sa.column("kind", sa.String()),
)
outbox = sa.table(
    "outbox",
    sa.column("id", sa.Uuid()),
    sa.column("routing_key", sa.String()),
    sa.column("body", sa.JSON()),
    sa.column("correlation_id", sa.String()),
    sa.column("created_at", ck_runtime.tables.UtcDateTime(timezone=True)),
    sa.column("attempts", sa.Integer()),
)


def upgrade() -> None:
    connection = op.get_bind()
    now = utcnow()
    announcement = str(uuid4())  # stands in for the upload id: the people already there
    rows = connection.execute(
        sa.select(people.c.school_id, people.c.kind, people.c.id).order_by(
            people.c.school_id, people.c.kind, people.c.id
        )
    )
    events = []
    for (school_id, kind), group in groupby(rows, key=lambda r: (r.school_id, r.kind)):
        ids = [str(r.id) for r in group]
        for start in range(0, len(ids), PEOPLE_PER_EVENT):
            event_id = uuid4()
            events.append(
                {
                    "id": event_id,
                    "routing_key": ROUTING_KEY,
                    "body": {
                        "id": str(event_id),
                        "occurred_at": now.isoformat(),
                        "correlation_id": None,
                        "school_id": str(school_id),
                        "upload_id": announcement,
                        "kind": kind,
                        "person_ids": ids[start : start + PEOPLE_PER_EVENT],
                        "type": ROUTING_KEY,
                        "version": 1,
                    },
                    "correlation_id": None,
                    "created_at": now,
                    "attempts": 0,
                }
            )
    for start in range(0, len(events), 100):
        connection.execute(outbox.insert(), events[start : start + 100])


def downgrade() -> None:
    pass  # the events are facts once published; nothing to undo in the roster's own tables
