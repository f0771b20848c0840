"""Analytics indexes: rollups ordered by total then account, accounts covered for the scope.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 23:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_account_rollups_total", table_name="account_rollups")
    op.create_index("ix_account_rollups_total", "account_rollups", ["purchase_total", "account_id"])
    op.create_index("ix_accounts_id_live", "accounts", ["id", "deleted_at", "owner_id"])


def downgrade() -> None:
    op.drop_index("ix_accounts_id_live", table_name="accounts")
    op.drop_index("ix_account_rollups_total", table_name="account_rollups")
    op.create_index("ix_account_rollups_total", "account_rollups", ["purchase_total"])
