"""Per-account purchase rollups (made from the purchases already there); purchases by time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 20:28:48.663698
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_rollups",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("first_purchase_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_purchase_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purchase_count", sa.Integer(), nullable=False),
        sa.Column("purchase_total", sa.BigInteger(), nullable=False),
        sa.Column("total_12m", sa.BigInteger(), nullable=False),
        sa.Column("window_start", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_rollups_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_rollups")),
    )
    with op.batch_alter_table("account_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_account_rollups_last", ["last_purchase_at"], unique=False)
        batch_op.create_index("ix_account_rollups_total", ["purchase_total"], unique=False)

    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index("ix_purchases_purchased_at", ["purchased_at"], unique=False)

    cutoff = datetime.now(UTC) - timedelta(days=365)
    op.execute(
        sa.text(
            "INSERT INTO account_rollups (account_id, first_purchase_at, last_purchase_at,"
            " purchase_count, purchase_total, total_12m, window_start)"
            " SELECT account_id, MIN(purchased_at), MAX(purchased_at), COUNT(*),"
            " COALESCE(SUM(amount), 0),"
            " COALESCE(SUM(CASE WHEN purchased_at > :cutoff THEN amount ELSE 0 END), 0), :cutoff"
            " FROM purchases GROUP BY account_id"
        ).bindparams(sa.bindparam("cutoff", cutoff, type_=server.db.UTCDateTime()))
    )


def downgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_purchases_purchased_at")

    with op.batch_alter_table("account_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_account_rollups_total")
        batch_op.drop_index("ix_account_rollups_last")

    op.drop_table("account_rollups")
