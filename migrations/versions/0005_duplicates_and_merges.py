"""Duplicate rules, pairs and scans; merges; accounts' sound keys and merged-into links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 17:03:51.480722
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db
from server.normalize import sound_key

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duplicate_rules",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_duplicate_rules")),
    )
    op.create_table(
        "duplicate_scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("position", sa.String(length=300), nullable=False),
        sa.Column("phases_done", sa.Integer(), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_scans")),
    )
    op.create_table(
        "duplicate_pairs",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("other_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("found_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dismissed_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dismissed_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_duplicate_pairs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["accounts.id"],
            name=op.f("fk_duplicate_pairs_other_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "other_id", name=op.f("pk_duplicate_pairs")),
    )
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_pairs_open", ["dismissed_at", "score"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_pairs_other_id"), ["other_id"], unique=False)

    op.create_table(
        "merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "merged_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("survivor_version", sa.Integer(), nullable=False),
        sa.Column("undone_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.Uuid(), nullable=True),
        sa.Column(
            "snapshot", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["accounts.id"],
            name=op.f("fk_merges_survivor_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
    )
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merges_survivor_id"), ["survivor_id"], unique=False)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sound_key", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("email_key", sa.String(length=254), nullable=False, server_default="")
        )
        batch_op.create_index("ix_accounts_email_key", ["email_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_accounts_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index("ix_accounts_sound_key", ["sound_key"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_accounts_merged_into_id_accounts"),
            "accounts",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE accounts SET email_key = lower(email) WHERE email IS NOT NULL")
    _fill_sound_keys()

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merge_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_entries_merge_id"), ["merge_id"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_contacts_merged_into_id_contacts"),
            "contacts",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )


def _fill_sound_keys() -> None:
    """Existing accounts' sound keys, as the application computes them."""
    connection = op.get_bind()
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("reading", sa.String()),
        sa.column("sound_key", sa.String()),
    )
    rows = connection.execute(sa.select(accounts.c.id, accounts.c.name, accounts.c.reading))
    batch: list[dict[str, object]] = []
    update = (
        accounts.update()
        .where(accounts.c.id == sa.bindparam("account_id"))
        .values(sound_key=sa.bindparam("key"))
    )
    for account_id, name, reading in rows.fetchall():
        key = sound_key(name or "", reading)
        if key:
            batch.append({"account_id": account_id, "key": key})
        if len(batch) >= 1000:  # noqa: PLR2004
            connection.execute(update, batch)
            batch = []
    if batch:
        connection.execute(update, batch)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_contacts_merged_into_id_contacts"), type_="foreignkey"
        )
        batch_op.drop_column("merged_into_id")

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_merge_id"))
        batch_op.drop_column("merge_id")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_accounts_merged_into_id_accounts"), type_="foreignkey"
        )
        batch_op.drop_index("ix_accounts_sound_key")
        batch_op.drop_index("ix_accounts_email_key")
        batch_op.drop_column("email_key")
        batch_op.drop_index(batch_op.f("ix_accounts_merged_into_id"))
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("sound_key")

    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merges_survivor_id"))

    op.drop_table("merges")
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_pairs_other_id"))
        batch_op.drop_index("ix_duplicate_pairs_open")

    op.drop_table("duplicate_pairs")
    op.drop_table("duplicate_scans")
    op.drop_table("duplicate_rules")
