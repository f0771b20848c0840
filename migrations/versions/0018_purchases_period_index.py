"""Purchases of a period covered: (purchased_at, account_id, amount) replaces (purchased_at).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_purchases_period", "purchases", ["purchased_at", "account_id", "amount"]
    )
    op.drop_index("ix_purchases_purchased_at", table_name="purchases")


def downgrade() -> None:
    op.create_index("ix_purchases_purchased_at", "purchases", ["purchased_at"])
    op.drop_index("ix_purchases_period", table_name="purchases")
