"""Daily reports (日報), their comments and the team's reminder time.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_reports",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("activities", sa.Text(), nullable=False),
        sa.Column("reflections", sa.Text(), nullable=False),
        sa.Column("issues", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("submitted_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["read_by"],
            ["users.id"],
            name=op.f("fk_daily_reports_read_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_daily_reports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_reports")),
        sa.UniqueConstraint("user_id", "day", name="uq_daily_reports_user_day"),
    )
    op.create_index("ix_daily_reports_day", "daily_reports", ["day"], unique=False)
    op.create_table(
        "daily_report_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_daily_report_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["daily_reports.id"],
            name=op.f("fk_daily_report_comments_report_id_daily_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_report_comments")),
    )
    op.create_index(
        op.f("ix_daily_report_comments_report_id"),
        "daily_report_comments",
        ["report_id"],
        unique=False,
    )
    op.create_table(
        "daily_report_settings",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("remind_time", sa.String(length=5), nullable=True),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_daily_report_settings_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_daily_report_settings")),
    )


def downgrade() -> None:
    op.drop_table("daily_report_settings")
    op.drop_index(op.f("ix_daily_report_comments_report_id"), table_name="daily_report_comments")
    op.drop_table("daily_report_comments")
    op.drop_index("ix_daily_reports_day", table_name="daily_reports")
    op.drop_table("daily_reports")
