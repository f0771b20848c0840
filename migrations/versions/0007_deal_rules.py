"""Deal rules (a stage entered, N days in a stage; a task or a push) and notices.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 19:47:09.406265
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_rule_firings",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("stage_entered_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("fired_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_deal_rule_firings_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["follow_up_rules.id"],
            name=op.f("fk_deal_rule_firings_rule_id_follow_up_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "rule_id", "deal_id", "stage_entered_at", name=op.f("pk_deal_rule_firings")
        ),
    )
    with op.batch_alter_table("follow_up_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("action", sa.String(length=16), server_default="task", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_follow_up_rules_stage_id"), ["stage_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_follow_up_rules_stage_id_stages"),
            "stages",
            ["stage_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_column("url")
        batch_op.drop_column("body")
        batch_op.drop_column("title")

    with op.batch_alter_table("follow_up_rules", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_follow_up_rules_stage_id_stages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_follow_up_rules_stage_id"))
        batch_op.drop_column("action")
        batch_op.drop_column("stage_id")

    op.drop_table("deal_rule_firings")
