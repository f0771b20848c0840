"""Distances, a travel order for a day's stops, and links that open the phone's map app.

Pure Python: a rep's day has a handful of stops (we plan at most `MAX_PLANNED_STOPS`), so a
nearest-neighbour tour improved by 2-opt takes well under a millisecond and needs no routing
service. Distances are great-circle (haversine) kilometres, "as the crow flies"; the map app
the links open works out the roads. No map API key, no tiles: a link is all we send.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlencode

EARTH_RADIUS_KM: Final = 6371.0088  # the mean radius (IUGG)
KM_PER_DEGREE: Final = EARTH_RADIUS_KM * math.pi / 180
# Above this many located stops we keep the time order: 2-opt is O(n²) a pass, and no rep
# drives to more stops than this in a day.
MAX_PLANNED_STOPS: Final = 30
# Google Maps takes a destination and up to nine waypoints in a directions link.
MAX_WAYPOINTS: Final = 9
GOOGLE_DIRECTIONS: Final = "https://www.google.com/maps/dir/"
APPLE_DIRECTIONS: Final = "https://maps.apple.com/"
# A coordinate as typed or sent by a browser: ASCII digits with an optional fraction.
_DECIMAL: Final = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,15})?")


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float

    def __str__(self) -> str:
        """``lat,lon`` as map links take it (six decimals: about 10 cm)."""
        return f"{self.lat:.6f},{self.lon:.6f}"


def parse_coordinate(raw: str | None, limit: float) -> float | None:
    """A latitude (``limit`` 90) or longitude (180) in decimal degrees; None when it is not one."""
    if raw is None:
        return None
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if -limit <= value <= limit else None


def distance_label(km: float) -> str:
    """A distance as a rep reads it: metres to the ten under 1 km, else km to one decimal."""
    if km < 1:
        return f"{max(10, round(km * 100) * 10)} m"
    return f"{km:.1f} km"


def distance_km(a: Point, b: Point) -> float:
    """The great-circle distance between two points (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Box:
    """Every point within a distance of a centre lies inside this box (lon unbounded near a
    pole, where the box would wrap)."""

    south: float
    north: float
    west: float | None
    east: float | None


def bounding_box(centre: Point, radius_km: float) -> Box:
    dlat = radius_km / KM_PER_DEGREE
    south, north = max(-90.0, centre.lat - dlat), min(90.0, centre.lat + dlat)
    widest = max(abs(south), abs(north))
    if widest >= 89.0:
        return Box(south, north, None, None)
    dlon = radius_km / (KM_PER_DEGREE * math.cos(math.radians(widest)))
    if dlon >= 180.0 or centre.lon - dlon < -180.0 or centre.lon + dlon > 180.0:
        return Box(south, north, None, None)  # across the antimeridian: lon unbounded
    return Box(south, north, centre.lon - dlon, centre.lon + dlon)


# -- the travel order -------------------------------------------------------------------------


def path_km(points: Sequence[Point]) -> float:
    return sum(distance_km(a, b) for a, b in itertools.pairwise(points))


def travel_order(points: Sequence[Point], start: Point | None = None) -> list[int]:
    """The indices of ``points`` in a short order to drive them in, as an open path.

    It starts from ``start`` (the phone's position) when given, else from ``points[0]`` (the
    day's first appointment), goes to the nearest stop not yet visited each time, then
    improves the path with 2-opt (reverse any stretch whose reversal makes it shorter) until
    no reversal helps. The start never moves; the path does not return to it.
    """
    if not points:
        return []
    nodes = [start, *points] if start is not None else list(points)
    offset = 1 if start is not None else 0
    order = _nearest_neighbour(nodes)
    order = _two_opt(nodes, order)
    return [node - offset for node in order[offset:]]


def _nearest_neighbour(nodes: Sequence[Point]) -> list[int]:
    order = [0]
    left = set(range(1, len(nodes)))
    while left:
        here = nodes[order[-1]]
        # Ties go to the earlier stop, so the answer never depends on set order.
        nearest = min(left, key=lambda i: (distance_km(here, nodes[i]), i))
        order.append(nearest)
        left.remove(nearest)
    return order


def _two_opt(nodes: Sequence[Point], order: list[int]) -> list[int]:
    n = len(order)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b = nodes[order[i - 1]], nodes[order[i]]
                c = nodes[order[j]]
                delta = distance_km(a, c) - distance_km(a, b)
                if j + 1 < n:
                    d = nodes[order[j + 1]]
                    delta += distance_km(b, d) - distance_km(c, d)
                if delta < -1e-9:
                    order[i : j + 1] = reversed(order[i : j + 1])
                    improved = True
    return order


# -- links to the phone's map app -------------------------------------------------------------


def place(point: Point | None, address: str | None) -> str | None:
    """What a map link names as a place: the point when known, else the address text."""
    if point is not None:
        return str(point)
    return address or None


def google_directions(destination: str) -> str:
    """Directions from where the phone is; opens the Google Maps app on Android and iOS."""
    return GOOGLE_DIRECTIONS + _query({"api": "1", "destination": destination})


def apple_directions(destination: str) -> str:
    """Directions in Apple Maps (the app on iOS, the web elsewhere)."""
    return APPLE_DIRECTIONS + _query({"daddr": destination})


def google_route(places: Sequence[str]) -> str | None:
    """One link through the first ten places in order, from where the phone is: the last
    becomes the destination, the others the waypoints."""
    shown = list(places[: MAX_WAYPOINTS + 1])
    if not shown:
        return None
    query = {"api": "1", "destination": shown[-1]}
    if len(shown) > 1:
        query["waypoints"] = "|".join(shown[:-1])
    return GOOGLE_DIRECTIONS + _query(query)


def _query(values: dict[str, str]) -> str:
    """A query string that keeps ``lat,lon`` readable."""
    return "?" + urlencode(values, quote_via=quote, safe=",")
