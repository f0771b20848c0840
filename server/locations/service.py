"""Account coordinates: set from check-ins, read for the day's route and for nearby accounts.

Coordinates come from where reps actually stood: a visit logged with a check-in accurate to
`CHECKIN_ACCURACY_M` metres or better places its account there (a later check-in moves it, an
older one synced late does not). Calls, e-mails and meetings never do, since a rep calls from
anywhere and meets wherever. The `source` column leaves room for a geocoder of addresses: it
would write ``geocoder`` points, which any check-in replaces and which never replace one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.scope import Actor, visible_accounts
from server.db import dialect_insert, utcnow
from server.errors import ValidationFailed
from server.i18n import Text, _l
from server.locations import geo
from server.locations.geo import Point
from server.locations.models import RANK, AccountLocation, LocationSource
from server.tasks.models import Task
from server.validation import REQUIRED
from server.visits.models import Visit, VisitKind

CHECKIN_ACCURACY_M: Final = 200.0
NEARBY_DEFAULT: Final = 20
NEARBY_MAX: Final = 100
# The nearby search widens its box until enough accounts lie within it; the last step looks
# everywhere (a rep far from all of their customers still sees the nearest ones).
SEARCH_RADII_KM: Final = (3.0, 15.0, 60.0, 300.0, None)
# Candidates read beyond the limit, ordered by a flat-earth distance in SQL, before the exact
# distance orders them: over a few hundred kilometres the two orders differ only at the edge.
CANDIDATE_MARGIN: Final = 20


def checkin_point(visit: Visit) -> Point | None:
    """Where a visit places its account: a visit (not a call, e-mail or meeting) with a
    check-in whose reported accuracy is known and good enough."""
    if (
        visit.kind != VisitKind.VISIT
        or visit.location_lat is None
        or visit.location_lon is None
        or visit.location_accuracy is None
        or visit.location_accuracy > CHECKIN_ACCURACY_M
    ):
        return None
    return Point(visit.location_lat, visit.location_lon)


async def record_checkins(session: AsyncSession, visits: Iterable[Visit]) -> None:
    """Place each account where its latest good check-in among ``visits`` was, unless it has
    a point from a stronger source or a later check-in. One statement for all of them; the
    visits must be flushed already (the row names its visit)."""
    latest: dict[uuid.UUID, Visit] = {}
    for visit in visits:
        if checkin_point(visit) is None:
            continue
        known = latest.get(visit.account_id)
        if known is None or known.occurred_at <= visit.occurred_at:
            latest[visit.account_id] = visit
    if not latest:
        return
    now = utcnow()
    rows = [
        {
            "account_id": visit.account_id,
            "lat": visit.location_lat,
            "lon": visit.location_lon,
            "accuracy": visit.location_accuracy,
            "source": LocationSource.CHECKIN.value,
            "located_at": visit.occurred_at,
            "visit_id": visit.id,
            "updated_at": now,
        }
        for visit in latest.values()
    ]
    await _upsert(session, rows)


async def _upsert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write points, each replacing the one stored only if its source ranks higher, or as
    high and it was observed no earlier."""
    table = AccountLocation.__table__
    statement = dialect_insert(session)(table).values(rows)
    new = statement.excluded
    rank_of = {source.value: rank for source, rank in RANK.items()}
    old_rank = case(rank_of, value=table.c.source, else_=0)
    new_rank = case(rank_of, value=new.source, else_=0)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.account_id],
        set_={name: new[name] for name in rows[0] if name != "account_id"},
        where=or_(
            new_rank > old_rank,
            and_(new_rank == old_rank, table.c.located_at <= new.located_at),
        ),
    )
    await session.execute(statement)


LAT_RANGE = _l("Latitude must be a number of degrees from -90 to 90, such as 35.6812.")
LON_RANGE = _l("Longitude must be a number of degrees from -180 to 180, such as 139.7671.")


def read_point(lat: str | None, lon: str | None) -> Point:
    """The phone's position from a query; `ValidationFailed` names each bad or missing part."""
    lat_value, lon_value = geo.parse_coordinate(lat, 90), geo.parse_coordinate(lon, 180)
    errors: dict[str, list[Text]] = {}
    if lat_value is None:
        errors["lat"] = [LAT_RANGE if lat and lat.strip() else REQUIRED]
    if lon_value is None:
        errors["lon"] = [LON_RANGE if lon and lon.strip() else REQUIRED]
    if lat_value is None or lon_value is None:
        raise ValidationFailed(errors)
    return Point(lat_value, lon_value)


# -- nearby accounts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nearby:
    account: Account
    location: AccountLocation
    km: float

    @property
    def point(self) -> Point:
        return Point(self.location.lat, self.location.lon)

    @property
    def distance(self) -> str:
        return geo.distance_label(self.km)

    @property
    def google(self) -> str:
        return geo.google_directions(str(self.point))

    @property
    def apple(self) -> str:
        return geo.apple_directions(str(self.point))


async def nearby(
    session: AsyncSession, actor: Actor, here: Point, limit: int = NEARBY_DEFAULT
) -> list[Nearby]:
    """The located accounts the actor may see, nearest to ``here`` first.

    The database narrows them with a box on the indexed lat/lon and orders what is inside by
    a flat-earth distance (plain arithmetic, which SQLite and PostgreSQL both have; SQLite's
    trigonometry is a compile-time option); the exact great-circle distance then orders the
    few candidates read. The box widens until ``limit`` accounts lie within its radius.
    """
    found: list[Nearby] = []
    for radius in SEARCH_RADII_KM:
        rows = await session.execute(_candidates(actor, here, radius, limit + CANDIDATE_MARGIN))
        found = sorted(
            (
                Nearby(account, location, geo.distance_km(here, Point(location.lat, location.lon)))
                for account, location in rows.all()
            ),
            key=lambda item: (item.km, item.account.name, item.account.id),
        )
        if radius is None or sum(item.km <= radius for item in found) >= limit:
            break
    return found[:limit]


def _candidates(actor: Actor, here: Point, radius_km: float | None, count: int) -> Any:
    stretch = max(0.01, math.cos(math.radians(here.lat)))  # a degree of lon, in degrees of lat
    dy = AccountLocation.lat - here.lat
    dx = (AccountLocation.lon - here.lon) * stretch
    query = (
        select(Account, AccountLocation)
        .join(AccountLocation, AccountLocation.account_id == Account.id)
        .where(visible_accounts(actor), Account.deleted_at.is_(None))
        .order_by(dy * dy + dx * dx, Account.id)
        .limit(count)
    )
    if radius_km is not None:
        box = geo.bounding_box(here, radius_km)
        query = query.where(AccountLocation.lat.between(box.south, box.north))
        if box.west is not None and box.east is not None:
            query = query.where(AccountLocation.lon.between(box.west, box.east))
    return query


# -- the day's route --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop:
    """A planned visit or meeting on the route, with where it is and how to get there."""

    task: Task
    account: Account | None
    point: Point | None
    km: float | None  # from the stop before (or from the phone's position, for the first)

    @property
    def place(self) -> str | None:
        return geo.place(self.point, address_of(self.account))

    @property
    def distance(self) -> str | None:
        return geo.distance_label(self.km) if self.km is not None else None

    @property
    def google(self) -> str | None:
        place = self.place
        return geo.google_directions(place) if place else None

    @property
    def apple(self) -> str | None:
        place = self.place
        return geo.apple_directions(place) if place else None


@dataclass(frozen=True, slots=True)
class DayRoute:
    """The day's open stops: in a suggested travel order when at least two are located
    (unlocated ones follow in time order), else in time order."""

    stops: list[Stop] = field(default_factory=list)
    suggested: bool = False
    from_here: bool = False  # the order starts from the phone's position
    total_km: float | None = None  # along the located stops, in the order shown
    time_order_km: float | None = None  # the same stops in time order, to compare

    @property
    def total(self) -> str | None:
        return geo.distance_label(self.total_km) if self.total_km is not None else None

    @property
    def time_order(self) -> str | None:
        return geo.distance_label(self.time_order_km) if self.time_order_km is not None else None

    @property
    def unlocated(self) -> int:
        return sum(stop.point is None for stop in self.stops)

    @property
    def whole_route(self) -> str | None:
        """One link through the stops in order (the first ten a map link takes)."""
        return geo.google_route([p for stop in self.stops if (p := stop.place)])

    @property
    def cut_short(self) -> bool:
        """Whether the whole-route link leaves stops out."""
        return sum(stop.place is not None for stop in self.stops) > geo.MAX_WAYPOINTS + 1


def address_of(account: Account | None) -> str | None:
    """The account's address as one line, the way a Japanese address reads."""
    if account is None:
        return None
    text = "".join(part for part in (account.prefecture, account.city, account.address) if part)
    return text or None


async def day_route(
    session: AsyncSession, planned: Sequence[Task], here: Point | None = None
) -> DayRoute:
    """The route through the day's planned visits and meetings not yet done.

    ``planned`` comes in time order (the caller read only what the actor may see). Without
    ``here`` the route starts at the first located stop, the day's first appointment.
    """
    tasks = [task for task in planned if task.done_at is None]
    accounts, points = await _places(session, {t.account_id for t in tasks if t.account_id})
    located = [t for t in tasks if t.account_id in points]
    unlocated = [t for t in tasks if t.account_id not in points]
    start = [here] if here is not None else []
    suggested = 2 <= len(located) <= geo.MAX_PLANNED_STOPS
    time_order_km = None
    if suggested:
        time_order_km = geo.path_km([*start, *(points[_key(t)] for t in located)])
        order = geo.travel_order([points[_key(t)] for t in located], start=here)
        located = [located[i] for i in order]
    stops: list[Stop] = []
    previous = here
    for task in located:
        point = points[_key(task)]
        km = geo.distance_km(previous, point) if previous is not None else None
        stops.append(Stop(task, accounts.get(_key(task)), point, km))
        previous = point
    stops += [
        Stop(t, accounts.get(t.account_id) if t.account_id else None, None, None) for t in unlocated
    ]
    legs = [stop.km for stop in stops if stop.km is not None]
    total = sum(legs) if legs else None
    return DayRoute(stops, suggested, here is not None, total, time_order_km)


def _key(task: Task) -> uuid.UUID:
    assert task.account_id is not None  # noqa: S101 - located tasks have an account
    return task.account_id


async def _places(
    session: AsyncSession, account_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, Account], dict[uuid.UUID, Point]]:
    if not account_ids:
        return {}, {}
    rows = await session.execute(
        select(Account, AccountLocation.lat, AccountLocation.lon)
        .outerjoin(AccountLocation, AccountLocation.account_id == Account.id)
        .where(Account.id.in_(account_ids), Account.deleted_at.is_(None))
    )
    accounts: dict[uuid.UUID, Account] = {}
    points: dict[uuid.UUID, Point] = {}
    for account, lat, lon in rows.all():
        accounts[account.id] = account
        if lat is not None and lon is not None:
            points[account.id] = Point(lat, lon)
    return accounts, points
