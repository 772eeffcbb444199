"""Alembic operations for the tables the runtime adds to every service (ck_runtime.tables), so
each service's migration that brings one of them is two lines instead of a copy."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ck_runtime.tables import UtcDateTime


def create_rpc_requests() -> None:
    op.create_table(
        "rpc_requests",
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=100), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("reply", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_key"),
    )
    op.create_index("ix_rpc_requests_expires_at", "rpc_requests", ["expires_at"])


def drop_rpc_requests() -> None:
    op.drop_index("ix_rpc_requests_expires_at", table_name="rpc_requests")
    op.drop_table("rpc_requests")
