"""Each customer's expected purchases and purchase value kept beside the CLV; CLV indexed.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_scores") as table:
        table.add_column(sa.Column("expected_purchases", sa.Double(), nullable=True))
        table.add_column(sa.Column("expected_value", sa.Double(), nullable=True))
    op.create_index("ix_account_scores_clv", "account_scores", ["clv", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_account_scores_clv", table_name="account_scores")
    with op.batch_alter_table("account_scores") as table:
        table.drop_column("expected_value")
        table.drop_column("expected_purchases")
