"""rpc_requests: answers of commands, for repeats of the same request id (exactly once)

Revision ID: e8ca808f2380
Revises: 04b5bb8627b4
Create Date: 2026-12-05 10:00:00
"""
from collections.abc import Sequence

from ck_runtime.migration_ops import create_rpc_requests, drop_rpc_requests

revision: str = 'e8ca808f2380'
down_revision: str | None = '04b5bb8627b4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_rpc_requests()


def downgrade() -> None:
    drop_rpc_requests()
