"""Where an account is: one point per account, with where the point came from.

The point lives beside the account rather than in it: it is derived (like the last-contact
time), carries its own provenance (which check-in, how accurate, when), is written by visits
without touching the account's version or its edit form, and only located accounts need a
row, so the index the nearby search reads holds located accounts alone.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class LocationSource(enum.StrEnum):
    """Where a point came from, weakest first: a stronger source is never overwritten by a
    weaker one (a geocoded address never moves a point a rep checked in at)."""

    GEOCODER = "geocoder"
    CHECKIN = "checkin"
    MANUAL = "manual"


RANK = {LocationSource.GEOCODER: 1, LocationSource.CHECKIN: 2, LocationSource.MANUAL: 3}


class AccountLocation(Base):
    __tablename__ = "account_locations"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    lat: Mapped[float]
    lon: Mapped[float]
    accuracy: Mapped[float | None]  # metres, as the phone reported it
    source: Mapped[str] = mapped_column(String(16))
    # When the point was observed (a check-in: the visit's time), so an older visit synced
    # late never moves a point a newer one set.
    located_at: Mapped[datetime]
    # The check-in visit the point came from, if any.
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # The nearby search's bounding box: a range on lat, then lon, over located accounts.
        Index("ix_account_locations_lat_lon", "lat", "lon"),
    )
