"""The day's route on Today and nearby accounts: places from check-ins, order, map links."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, select

from server import migrate
from server.db import Database
from server.locations import geo
from server.locations.geo import Point
from server.locations.models import AccountLocation
from tests.conftest import Person, create_account, login, new_id

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}
SAME = {"Sec-Fetch-Site": "same-origin"}
TOKYO = ZoneInfo("Asia/Tokyo")

# Station squares, from the stations' published coordinates.
TOKYO_STATION = Point(35.681236, 139.767125)
SHINJUKU = Point(35.689592, 139.700413)
SHIBUYA = Point(35.658034, 139.701636)
SHINAGAWA = Point(35.628471, 139.738760)
# The legs between them, great-circle km, worked out once by hand from the haversine formula:
#   東京駅-新宿 6.096   東京駅-渋谷 6.454   東京駅-品川 6.403
#   新宿-渋谷   3.511   新宿-品川   7.628   渋谷-品川   4.697
# From 東京駅 the shortest open path is 東京駅 → 新宿 → 渋谷 → 品川: 6.096 + 3.511 + 4.697
# = 14.304 km; the time order used below (東京駅, 品川, 新宿, 渋谷) is 6.403 + 7.628 + 3.511
# = 17.542 km.


def _at(hour: int) -> str:
    """Today at ``hour`` o'clock in Tokyo, as the API takes it."""
    today = datetime.now(TOKYO).date()
    return datetime(today.year, today.month, today.day, hour, tzinfo=TOKYO).isoformat()


async def check_in(
    person: Person,
    account: dict[str, Any],
    where: Point,
    *,
    accuracy: float | None = 25,
    kind: str = "visit",
    occurred_at: str | None = None,
) -> None:
    location: dict[str, Any] = {"lat": where.lat, "lon": where.lon}
    if accuracy is not None:
        location["accuracy"] = accuracy
    body = {"id": new_id(), "account_id": account["id"], "kind": kind, "location": location}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    response = await person.post("/api/visits", json=body)
    assert response.status_code == 201, response.text


async def placed(person: Person, name: str, where: Point, **values: Any) -> dict[str, Any]:
    account = await create_account(person, name=name, **values)
    await check_in(person, account, where)
    return account


async def plan(person: Person, account: dict[str, Any] | None, title: str, hour: int) -> Any:
    body = {"id": new_id(), "title": title, "kind": "visit", "due_at": _at(hour)}
    if account is not None:
        body["account_id"] = account["id"]
    response = await person.post("/api/tasks", json=body, headers=SAME)
    assert response.status_code == 201, response.text
    return response.json()


async def location_of(database: Database, account: dict[str, Any]) -> AccountLocation | None:
    async with database.session() as session:
        found: AccountLocation | None = await session.scalar(
            select(AccountLocation).where(AccountLocation.account_id == uuid.UUID(account["id"]))
        )
        return found


async def nearby_names(person: Person, here: Point, **query: Any) -> list[str]:
    response = await person.get(
        "/api/accounts/nearby", params={"lat": here.lat, "lon": here.lon, **query}
    )
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def stops_in(html: str) -> list[str]:
    """The names of the route's stops, in the order shown."""
    route = html[html.index('id="today-route"') :]
    return re.findall(r'class="list-title"[^>]*>([^<]+)<', route)


# -- where accounts are -----------------------------------------------------------------------


async def test_a_check_in_places_the_account(rep: Person, database: Database) -> None:
    account = await create_account(rep, name="新宿の顧客")
    await check_in(rep, account, SHINJUKU, accuracy=35)

    location = await location_of(database, account)

    assert location is not None
    assert (location.lat, location.lon, location.source) == (SHINJUKU.lat, SHINJUKU.lon, "checkin")
    assert location.accuracy == 35
    assert await nearby_names(rep, SHINJUKU) == ["新宿の顧客"]


async def test_a_rough_or_unknown_fix_and_a_call_place_nothing(
    rep: Person, database: Database
) -> None:
    rough = await create_account(rep, name="精度の低い顧客")
    await check_in(rep, rough, SHINJUKU, accuracy=450)
    unknown = await create_account(rep, name="精度不明の顧客")
    await check_in(rep, unknown, SHINJUKU, accuracy=None)
    called = await create_account(rep, name="電話した顧客")
    await check_in(rep, called, SHINJUKU, kind="call")

    for account in (rough, unknown, called):
        assert await location_of(database, account) is None
    assert await nearby_names(rep, SHINJUKU) == []


async def test_a_later_check_in_moves_the_place_and_an_older_one_synced_late_does_not(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep, name="移転した顧客")
    await check_in(rep, account, SHINJUKU, occurred_at="2026-01-10T10:00:00+09:00")
    await check_in(rep, account, SHIBUYA, occurred_at="2026-03-10T10:00:00+09:00")
    # Two visits queued offline, synced in one batch: one older, one newer still.
    older = {"lat": TOKYO_STATION.lat, "lon": TOKYO_STATION.lon, "accuracy": 10}
    newer = {"lat": SHINAGAWA.lat, "lon": SHINAGAWA.lon, "accuracy": 10}
    mutations = [
        {
            "id": new_id(),
            "type": "visit.create",
            "entity_id": new_id(),
            "base_version": None,
            "payload": {"account_id": account["id"], "occurred_at": moment, "location": where},
            "client_time": moment,
        }
        for moment, where in (
            ("2026-02-01T10:00:00+09:00", older),
            ("2026-04-01T10:00:00+09:00", newer),
        )
    ]

    response = await rep.post("/api/sync", json={"device_id": "phone", "mutations": mutations})

    assert [r["status"] for r in response.json()["results"]] == ["applied", "applied"]
    location = await location_of(database, account)
    assert location is not None
    assert (location.lat, location.lon) == (SHINAGAWA.lat, SHINAGAWA.lon)
    # And an old visit logged afterwards leaves it there.
    await check_in(rep, account, SHINJUKU, occurred_at="2026-02-15T10:00:00+09:00")
    location = await location_of(database, account)
    assert location is not None
    assert (location.lat, location.lon) == (SHINAGAWA.lat, SHINAGAWA.lon)


async def test_the_migration_places_accounts_from_visits_logged_before_it(
    rep: Person, database: Database
) -> None:
    moved = await create_account(rep, name="移転した顧客")
    await check_in(rep, moved, SHINJUKU, occurred_at="2026-01-10T10:00:00+09:00")
    await check_in(rep, moved, SHIBUYA, occurred_at="2026-03-10T10:00:00+09:00")
    await check_in(rep, moved, TOKYO_STATION, accuracy=900, occurred_at="2026-04-10T10:00:00+09:00")
    called = await create_account(rep, name="電話だけの顧客")
    await check_in(rep, called, SHINAGAWA, kind="call")

    await _downgrade(database, "0014")
    await migrate.upgrade(database)

    location = await location_of(database, moved)
    assert location is not None
    assert (location.lat, location.lon, location.source) == (SHIBUYA.lat, SHIBUYA.lon, "checkin")
    assert location.located_at == datetime.fromisoformat("2026-03-10T10:00:00+09:00")
    assert await location_of(database, called) is None


async def _downgrade(database: Database, revision: str) -> None:
    config = migrate.alembic_config(database.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with migrate.migration_transaction(database.engine) as connection:
        await connection.run_sync(run)


# -- the travel order -------------------------------------------------------------------------


def test_the_travel_order_through_four_tokyo_stations() -> None:
    time_order = [TOKYO_STATION, SHINAGAWA, SHINJUKU, SHIBUYA]

    order = geo.travel_order(time_order)

    assert [time_order[i] for i in order] == [TOKYO_STATION, SHINJUKU, SHIBUYA, SHINAGAWA]
    assert geo.path_km([time_order[i] for i in order]) == pytest.approx(14.304, abs=0.002)
    assert geo.path_km(time_order) == pytest.approx(17.542, abs=0.002)
    assert geo.distance_km(SHINJUKU, SHIBUYA) == pytest.approx(3.511, abs=0.001)


def test_two_opt_undoes_a_greedy_detour() -> None:
    # Along one meridian, where distances add up exactly. From 0 the nearest-neighbour walk
    # goes -1, +2, -6 (1 + 3 + 8 = 12 steps); reversing its first two legs gives +2, -1, -6
    # (2 + 3 + 5 = 10), the shortest.
    step = 0.01
    start = Point(35.0, 139.0)
    points = [Point(35.0 + k * step, 139.0) for k in (-6, -1, 2)]

    order = geo.travel_order(points, start=start)

    assert order == [2, 1, 0]
    unit = geo.distance_km(start, points[1])
    assert geo.path_km([start, *(points[i] for i in order)]) == pytest.approx(10 * unit)


def test_directions_links_open_the_map_apps() -> None:
    assert (
        geo.google_directions(str(SHINJUKU))
        == "https://www.google.com/maps/dir/?api=1&destination=35.689592,139.700413"
    )
    assert (
        geo.apple_directions(str(SHINJUKU)) == "https://maps.apple.com/?daddr=35.689592,139.700413"
    )
    assert geo.google_directions("東京都千代田区丸の内1丁目") == (
        "https://www.google.com/maps/dir/?api=1&destination="
        "%E6%9D%B1%E4%BA%AC%E9%83%BD%E5%8D%83%E4%BB%A3%E7%94%B0%E5%8C%BA"
        "%E4%B8%B8%E3%81%AE%E5%86%851%E4%B8%81%E7%9B%AE"
    )
    many = [f"{35 + k / 100:.6f},139.700000" for k in range(12)]
    route = geo.google_route(many)
    assert route is not None
    # The tenth place is the destination, the nine before it the waypoints; the rest wait.
    assert "destination=35.090000,139.700000" in route
    assert route.count("%7C") == 8
    assert "35.100000" not in route


# -- the route on Today -----------------------------------------------------------------------


async def test_today_suggests_the_shortest_order_with_directions(
    client: Client, rep: Person
) -> None:
    tokyo = await placed(rep, "丸の内商事", TOKYO_STATION)
    shinagawa = await placed(rep, "品川工業", SHINAGAWA)
    shinjuku = await placed(rep, "新宿物産", SHINJUKU)
    shibuya = await placed(rep, "渋谷電機", SHIBUYA)
    far = await create_account(
        rep, name="住所だけの顧客", prefecture="東京都", city="千代田区", address="丸の内1丁目"
    )
    await plan(rep, tokyo, "朝の訪問", 9)
    await plan(rep, shinagawa, "品川の打ち合わせ", 10)
    await plan(rep, far, "住所だけの訪問", 10)
    await plan(rep, shinjuku, "新宿の訪問", 11)
    await plan(rep, shibuya, "渋谷の訪問", 12)

    await login(client, rep.email)
    html = (await client.get("/today")).text

    assert stops_in(html) == ["丸の内商事", "新宿物産", "渋谷電機", "品川工業", "住所だけの顧客"]
    route = html[html.index('id="today-route"') :]
    assert "14.3 km" in route  # the suggested order
    assert "17.5 km" in route  # the same stops in time order
    assert "+3.5 km" in route  # 新宿 to 渋谷
    assert (
        'href="https://www.google.com/maps/dir/?api=1&amp;destination=35.689592,139.700413"'
        in route
    )
    assert 'href="https://maps.apple.com/?daddr=35.658034,139.701636"' in route
    # The stop without a place is found by its address.
    assert "destination=%E6%9D%B1%E4%BA%AC%E9%83%BD" in route
    whole = re.search(r'href="([^"]+)"[^>]*data-whole-route', route)
    assert whole is not None
    assert whole.group(1).replace("&amp;", "&") == geo.google_route(
        [str(p) for p in (TOKYO_STATION, SHINJUKU, SHIBUYA, SHINAGAWA)]
        + ["東京都千代田区丸の内1丁目"]
    )


async def test_a_done_visit_leaves_the_route_and_another_reps_plan_is_not_on_it(
    client: Client, rep: Person, rep_b: Person
) -> None:
    done = await plan(rep, await placed(rep, "済んだ顧客", SHINJUKU), "済んだ訪問", 9)
    await plan(rep, await placed(rep, "これからの顧客", SHIBUYA), "これからの訪問", 11)
    await plan(rep_b, await placed(rep_b, "花子の顧客", SHINAGAWA), "花子の訪問", 10)
    response = await rep.post(f"/api/tasks/{done['id']}/complete", json={}, headers=SAME)
    assert response.status_code == 200, response.text

    await login(client, rep.email)
    html = (await client.get("/today")).text

    assert stops_in(html) == ["これからの顧客"]
    assert "花子の顧客" not in html


async def test_the_route_from_my_location(client: Client, rep: Person) -> None:
    await plan(rep, await placed(rep, "丸の内商事", TOKYO_STATION), "朝の訪問", 9)
    await plan(rep, await placed(rep, "新宿物産", SHINJUKU), "新宿の訪問", 11)
    await plan(rep, await placed(rep, "渋谷電機", SHIBUYA), "渋谷の訪問", 12)
    await login(client, rep.email)
    # Standing at 品川: 渋谷 (4.697 km) first, then 新宿 (3.511), then 東京駅 (6.096).
    query = {"lat": str(SHINAGAWA.lat), "lon": str(SHINAGAWA.lon)}

    fragment = await client.get("/today/route", params=query, headers=HTMX)
    full = await client.get("/today/route", params=query)

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert stops_in(fragment.text) == ["渋谷電機", "新宿物産", "丸の内商事"]
    assert "+4.7 km" in fragment.text  # from where the phone is to the first stop
    assert "14.3 km" in fragment.text  # 4.697 + 3.511 + 6.096
    assert full.status_code == 200
    assert "<html" in full.text
    assert stops_in(full.text) == ["渋谷電機", "新宿物産", "丸の内商事"]


async def test_a_bad_position_for_the_route_is_named(client: Client, rep: Person) -> None:
    await login(client, rep.email)

    response = await client.get(
        "/today/route", params={"lat": "北緯35", "lon": "139.7"}, headers=HTMX
    )

    assert response.status_code == 422
    assert 'data-error-for="lat"' in response.text
    assert 'data-error-for="lon"' not in response.text


# -- nearby accounts --------------------------------------------------------------------------


async def test_nearby_accounts_nearest_first_and_only_the_callers(
    rep: Person, rep_b: Person, manager: Person, outsider: Person
) -> None:
    for name, where in (
        ("品川工業", SHINAGAWA),
        ("丸の内商事", TOKYO_STATION),
        ("渋谷電機", SHIBUYA),
        ("新宿物産", SHINJUKU),
    ):
        await placed(rep, name, where)
    await placed(rep_b, "花子の新宿の顧客", SHINJUKU)
    await placed(outsider, "大阪の顧客", Point(34.702485, 135.495951))
    near_shinjuku = Point(35.6900, 139.7000)

    mine = await nearby_names(rep, near_shinjuku)
    team = await nearby_names(manager, near_shinjuku, limit=3)

    assert mine == ["新宿物産", "渋谷電機", "丸の内商事", "品川工業"]
    assert "花子の新宿の顧客" not in mine
    assert team[0] in {"新宿物産", "花子の新宿の顧客"}
    assert len(team) == 3
    assert "大阪の顧客" not in await nearby_names(manager, Point(34.70, 135.49))
    assert await nearby_names(outsider, near_shinjuku) == ["大阪の顧客"]


async def test_nearby_answers_distances_and_links(rep: Person) -> None:
    await placed(
        rep, "渋谷電機", SHIBUYA, prefecture="東京都", city="渋谷区", address="道玄坂1丁目"
    )

    response = await rep.get(
        "/api/accounts/nearby", params={"lat": SHINJUKU.lat, "lon": SHINJUKU.lon}
    )

    body = response.json()
    assert body["next_cursor"] is None
    [item] = body["items"]
    assert item["distance_km"] == pytest.approx(3.511, abs=0.001)
    assert item["address"] == "東京都渋谷区道玄坂1丁目"
    assert item["source"] == "checkin"
    assert item["directions_url"] == (
        "https://www.google.com/maps/dir/?api=1&destination=35.658034,139.701636"
    )


async def test_a_deleted_account_is_not_nearby(rep: Person) -> None:
    account = await placed(rep, "消した顧客", SHINJUKU)
    assert (await rep.delete(f"/api/accounts/{account['id']}", headers=SAME)).status_code == 200

    assert await nearby_names(rep, SHINJUKU) == []


async def test_far_accounts_are_found_when_nothing_is_near(rep: Person) -> None:
    await placed(rep, "札幌の顧客", Point(43.068625, 141.350801))
    await placed(rep, "福岡の顧客", Point(33.589886, 130.420685))

    # About 830 km to 札幌 and 880 km to 福岡.
    assert await nearby_names(rep, SHINJUKU) == ["札幌の顧客", "福岡の顧客"]
    assert await nearby_names(rep, SHINJUKU, limit=1) == ["札幌の顧客"]


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        ({"lat": "91", "lon": "139.7"}, {"lat"}),
        ({"lat": "35.6", "lon": "-180.5"}, {"lon"}),
        ({"lat": "３５.６", "lon": "139.7"}, {"lat"}),  # full-width digits
        ({"lat": "35.6", "lon": "1e2"}, {"lon"}),
        ({"lat": "nan", "lon": "inf"}, {"lat", "lon"}),
        ({"lat": "35.6"}, {"lon"}),
        ({}, {"lat", "lon"}),
    ],
)
async def test_a_bad_position_is_422_naming_it(
    rep: Person, query: dict[str, str], bad: set[str]
) -> None:
    response = await rep.get("/api/accounts/nearby", params=query)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["errors"]) == bad


async def test_a_bad_position_is_explained_in_english_too(make_person: Any) -> None:
    english = await make_person("en@example.com", locale="en")

    response = await english.get("/api/accounts/nearby", params={"lat": "100", "lon": "139.7"})

    assert response.status_code == 422
    assert response.json()["errors"]["lat"] == [
        "Latitude must be a number of degrees from -90 to 90, such as 35.6812."
    ]


async def test_a_bad_limit_is_400(rep: Person) -> None:
    for limit in ("0", "101", "x"):
        response = await rep.get(
            "/api/accounts/nearby", params={"lat": "35.6", "lon": "139.7", "limit": limit}
        )
        assert response.status_code == 400, (limit, response.text)


async def test_the_nearby_page_asks_first_then_lists(client: Client, rep: Person) -> None:
    await placed(rep, "新宿物産", SHINJUKU)
    await placed(rep, "渋谷電機", SHIBUYA)
    await login(client, rep.email)
    query = {"lat": "35.658", "lon": "139.7016"}

    page = await client.get("/accounts/nearby")
    fragment = await client.get("/accounts/nearby", params=query, headers=HTMX)
    full = await client.get("/accounts/nearby", params=query)

    assert page.status_code == 200
    assert "data-here-button" in page.text
    assert "nearby-item" not in page.text  # nothing until the rep asks
    assert "js/nearby.js" in page.text
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    names = re.findall(r'class="list-title" href="/accounts/[^"]+">([^<]+)<', fragment.text)
    assert names == ["渋谷電機", "新宿物産"]
    assert (
        "https://www.google.com/maps/dir/?api=1&amp;destination=35.658034,139.701636"
        in fragment.text
    )
    assert "<html" in full.text
    assert "渋谷電機" in full.text


async def test_the_nearby_page_names_a_bad_position(client: Client, rep: Person) -> None:
    await login(client, rep.email)

    fragment = await client.get(
        "/accounts/nearby", params={"lat": "35.6", "lon": "東経139"}, headers=HTMX
    )
    full = await client.get("/accounts/nearby", params={"lat": "-95", "lon": "139"})

    assert fragment.status_code == 422
    assert 'data-error-for="lon"' in fragment.text
    assert full.status_code == 422
    assert "<html" in full.text
    assert 'data-error-for="lat"' in full.text


async def test_nearby_asks_for_a_login(client: Client) -> None:
    page = await client.get("/accounts/nearby", follow_redirects=False)
    api = await client.get("/api/accounts/nearby", params={"lat": "35", "lon": "139"})

    assert page.status_code in (302, 303)
    assert api.status_code == 401
