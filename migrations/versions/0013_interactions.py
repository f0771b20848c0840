"""Interactions: an e-mail's subject on the visit record.

Calls, e-mails and meetings are visits of their own kind; an e-mail is found again by its
subject, so the record gains one (required for e-mails by the visit service, optional for the
other kinds).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("subject")
