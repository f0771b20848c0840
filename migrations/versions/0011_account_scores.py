"""Account scores: each customer's RFM segment among all customers, predicted lifetime value.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 21:31:19.953318
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_scores",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("f", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("clv", sa.BigInteger(), nullable=True),
        sa.Column("p_alive", sa.Double(), nullable=True),
        sa.Column("scored_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_scores_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_scores")),
    )


def downgrade() -> None:
    op.drop_table("account_scores")
