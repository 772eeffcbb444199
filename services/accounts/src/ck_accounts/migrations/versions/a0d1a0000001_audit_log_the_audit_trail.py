"""audit_log: the audit trail of decisions and money movements (issue 13)

Revision ID: a0d1a0000001
Revises: e8ca808f2380
Create Date: 2027-01-10 10:00:00
"""

from collections.abc import Sequence

from ck_runtime.migration_ops import create_audit_log, drop_audit_log

revision: str = "a0d1a0000001"
down_revision: str | None = "e8ca808f2380"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_log()


def downgrade() -> None:
    drop_audit_log()
