"""Briefcase change sequence.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:41:12.246842
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "briefing_changes",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", "user_id", "account_id", name=op.f("pk_briefing_changes")),
    )
    with op.batch_alter_table("briefing_changes", schema=None) as batch_op:
        batch_op.create_index("ix_briefing_changes_user_seq", ["user_id", "seq"], unique=False)

    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )


def downgrade() -> None:
    op.drop_table("change_counters")
    with op.batch_alter_table("briefing_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_briefing_changes_user_seq")

    op.drop_table("briefing_changes")
