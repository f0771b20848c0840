"""Account coordinates for the day route and nearby accounts.

Each account's point, where a rep checked in on a visit, in a table of its own. The visits
already logged place their accounts: the latest visit (not a call, e-mail or meeting) whose
check-in reported an accuracy of 200 m or better.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same rule as `server.locations.service.checkin_point`, as of this revision.
BACKFILL = """
INSERT INTO account_locations
    (account_id, lat, lon, accuracy, source, located_at, visit_id, updated_at)
SELECT account_id, location_lat, location_lon, location_accuracy, 'checkin', occurred_at, id,
       CURRENT_TIMESTAMP
FROM (
    SELECT v.*, ROW_NUMBER() OVER (
        PARTITION BY v.account_id ORDER BY v.occurred_at DESC, v.id DESC
    ) AS latest
    FROM visits v
    WHERE v.kind = 'visit'
      AND v.location_lat IS NOT NULL
      AND v.location_lon IS NOT NULL
      AND v.location_accuracy IS NOT NULL
      AND v.location_accuracy <= 200
) AS checkins
WHERE latest = 1
"""


def upgrade() -> None:
    op.create_table(
        "account_locations",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("accuracy", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("located_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_locations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_account_locations_visit_id_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_locations")),
    )
    op.create_index("ix_account_locations_lat_lon", "account_locations", ["lat", "lon"])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_account_locations_lat_lon", table_name="account_locations")
    op.drop_table("account_locations")
