"""Nearby accounts and the day's route on a phone.

The rep's accounts are placed by check-ins. Standing next to one of them, the rep taps "use my
location", the browser hands over the position it was allowed to, and the nearer account comes
first with a directions link. Today shows the day's visits in a travel order, and orders them
again from where the phone is."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from e2e.conftest import ARTIFACTS, watch_for_errors
from e2e.test_login import log_in

TOKYO = ZoneInfo("Asia/Tokyo")
SHINJUKU = {"latitude": 35.689592, "longitude": 139.700413}
SHIBUYA = {"latitude": 35.658034, "longitude": 139.701636}
TOKYO_STATION = {"latitude": 35.681236, "longitude": 139.767125}
SHINAGAWA = {"latitude": 35.628471, "longitude": 139.738760}


def _check_in(page: Page, server_url: str, account_id: str, where: dict[str, float]) -> None:
    """Log a visit with a check-in, as the visit form's "check in here" does."""
    location = {"lat": where["latitude"], "lon": where["longitude"], "accuracy": 20}
    response = page.request.post(
        f"{server_url}/api/visits",
        data={"id": str(uuid.uuid4()), "account_id": account_id, "location": location},
        headers={"Origin": server_url},
    )
    assert response.status == 201, response.text()


def _plan(page: Page, server_url: str, account_id: str, hour: int) -> None:
    """Plan a visit today at ``hour`` o'clock, Tokyo time."""
    day = datetime.now(TOKYO).date()
    due = datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO).isoformat()
    body = {"id": str(uuid.uuid4()), "title": "訪問", "kind": "visit", "account_id": account_id}
    response = page.request.post(
        f"{server_url}/api/tasks", data={**body, "due_at": due}, headers={"Origin": server_url}
    )
    assert response.status == 201, response.text()


def test_nearby_accounts_from_the_phones_position(page: Page, server_url: str, shot: Any) -> None:
    errors = watch_for_errors(page)
    log_in(page, server_url, "rep1@example.com")
    expect(page).to_have_url(f"{server_url}/today")
    accounts = page.request.get(f"{server_url}/api/accounts?limit=2").json()["items"]
    near, far = accounts[0], accounts[1]
    _check_in(page, server_url, near["id"], SHINJUKU)
    _check_in(page, server_url, far["id"], SHIBUYA)
    page.context.grant_permissions(["geolocation"], origin=server_url)
    page.context.set_geolocation({"latitude": 35.6900, "longitude": 139.7000})

    page.goto(f"{server_url}/accounts/nearby")
    expect(page.locator(".nearby-item")).to_have_count(0)  # nothing until the rep asks
    page.locator("[data-here-button]").click()

    items = page.locator(".nearby-item")
    expect(items.first).to_be_visible()
    names = items.locator(".list-title").all_inner_texts()
    assert names[:2] == [near["name"], far["name"]]
    expect(items.first.locator(".nearby-distance")).to_have_text("60 m")
    directions = items.first.locator("[data-directions]")
    expect(directions).to_have_attribute(
        "href", "https://www.google.com/maps/dir/?api=1&destination=35.689592,139.700413"
    )
    # Everything fits the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "nearby")
    items.first.locator(".list-title").click()
    expect(page).to_have_url(f"{server_url}/accounts/{near['id']}")
    assert errors == []


def test_todays_route_in_travel_order(page: Page, server_url: str, shot: Any) -> None:
    errors = watch_for_errors(page)
    log_in(page, server_url, "rep2@example.com")
    expect(page).to_have_url(f"{server_url}/today")
    accounts = page.request.get(f"{server_url}/api/accounts?limit=3").json()["items"]
    # Planned 東京駅 first, then 品川, then 新宿; 新宿 is on the way, so it comes second.
    stops = list(zip(accounts, (TOKYO_STATION, SHINAGAWA, SHINJUKU), (20, 21, 22), strict=True))
    for account, where, hour in stops:
        _check_in(page, server_url, account["id"], where)
        _plan(page, server_url, account["id"], hour)
    page.context.grant_permissions(["geolocation"], origin=server_url)
    page.context.set_geolocation(SHINAGAWA)

    page.goto(f"{server_url}/today")
    route = page.locator("#today-route")
    names = route.locator(".route-stop .list-title")
    expect(names.first).to_be_visible()
    # The demo's own plans for today have no place yet: they follow, in time order.
    located = [accounts[0]["name"], accounts[2]["name"], accounts[1]["name"]]
    assert names.all_inner_texts()[:3] == located
    expect(route.locator("[data-whole-route]")).to_have_attribute(
        "href", re.compile(r"^https://www\.google\.com/maps/dir/\?api=1&destination=")
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "today")
    route.screenshot(path=str(ARTIFACTS / "test_todays_route_in_travel_order-route.png"))

    # Standing at 品川, the rep orders the route from there.
    route.locator("[data-here-button]").click()
    expect(page.locator("#today-route .route-stop .list-title").first).to_have_text(
        accounts[1]["name"]
    )
    page.locator("#today-route").screenshot(
        path=str(ARTIFACTS / "test_todays_route_in_travel_order-route-from-here.png")
    )
    assert errors == []
