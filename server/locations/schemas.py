"""What the nearby-accounts API answers."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class NearbyAccount(msgspec.Struct, kw_only=True):
    """An account and how far it is from the position asked about."""

    id: uuid.UUID
    name: str
    reading: str | None
    address: str | None  # prefecture, city and street as one line
    lat: float
    lon: float
    source: str  # where the point came from: checkin | geocoder | manual
    located_at: datetime  # when it was observed (a check-in: the visit's time)
    distance_km: float  # great-circle, rounded to metres
    directions_url: str  # Google Maps directions from where the phone is


class NearbyPage(msgspec.Struct, kw_only=True):
    """Nearest first; one page only (``next_cursor`` is always null)."""

    items: list[NearbyAccount]
    next_cursor: str | None = None
