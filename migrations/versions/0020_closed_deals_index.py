"""The closed deals of a period covered: (status, closed_at, …) with what the sales cycle reads.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 05:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "status",
    "closed_at",
    "deleted_at",
    "account_id",
    "owner_id",
    "source",
    "created_at",
    "id",
]


def upgrade() -> None:
    op.create_index("ix_deals_closed", "deals", COLUMNS)
    op.drop_index("ix_deals_status_closed_at", table_name="deals")


def downgrade() -> None:
    op.create_index("ix_deals_status_closed_at", "deals", ["status", "closed_at"])
    op.drop_index("ix_deals_closed", table_name="deals")
