"""audit_log: the audit trail of decisions and money movements (issue 13)

Revision ID: a0d1c0000003
Revises: 70638cb40eb2 (chained after issue 13's other migrations when the branches were merged)
Create Date: 2027-01-10 10:00:00
"""

from collections.abc import Sequence

from ck_runtime.migration_ops import create_audit_log, drop_audit_log

revision: str = "a0d1c0000003"
down_revision: str | None = "70638cb40eb2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_log()


def downgrade() -> None:
    drop_audit_log()
