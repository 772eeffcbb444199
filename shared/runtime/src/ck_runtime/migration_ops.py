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


def create_audit_log() -> None:
    """The audit trail's table (ck_runtime.audit.add_audit_table)."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_school_at", "audit_log", ["school_id", "at", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at", "id"])


def drop_audit_log() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_school_at", table_name="audit_log")
    op.drop_table("audit_log")
