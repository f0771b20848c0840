"""The calendar feed itself, and making, renewing and revoking its address from the Me page.

``GET /calendar/{token}.ics`` needs no session: calendar apps cannot log in, and the address
is the credential. An address that is unknown, revoked or malformed answers the same plain
404, so nothing can be learned by guessing.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import Channel
from server.auth.scope import Actor
from server.calendar.feed import document
from server.calendar.service import CalendarFeeds, feed_entries, feed_owner
from server.db import utcnow
from server.errors import NotFound
from server.web.htmx import VARY

Req = Request[Any, Any, Any]
SUFFIX = ".ics"
MEDIA_TYPE = "text/calendar"
# The address is a secret: no shared cache keeps the answer, and none is indexed.
FEED_HEADERS = {
    "Cache-Control": "private, no-cache",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Disposition": 'inline; filename="fieldcrm.ics"',
}


def base_url(request: Req) -> str:
    """``https://crm.example.com``: where links in the feed and the Me page point."""
    return str(request.base_url).rstrip("/")


def feed_urls(request: Req, token: str) -> dict[str, str]:
    """The address over https (to paste) and as ``webcal://`` (to tap on a phone)."""
    url = f"{base_url(request)}/calendar/{token}{SUFFIX}"
    parts = urlsplit(url)
    return {"url": url, "webcal": f"webcal://{parts.netloc}{parts.path}"}


async def me_calendar(request: Req, db: AsyncSession, actor: Actor) -> dict[str, Any] | None:
    """What the Me page's calendar section shows: None (no address), or its URLs and age."""
    secret_key: str = request.app.state.secret_key
    address = await CalendarFeeds(db, actor, secret_key).current()
    if address is None:
        return None
    urls = feed_urls(request, address.token) if address.token is not None else {}
    return {"created_at": address.created_at, **urls}


@get("/calendar/{name:str}", name="calendar_feed", include_in_schema=False)
async def calendar_feed(
    request: Req, db: NamedDependency[AsyncSession], name: FromPath[str]
) -> Response[bytes]:
    """The owner's planned visits, meetings and tasks as iCalendar."""
    token = name.removesuffix(SUFFIX)
    secret_key: str = request.app.state.secret_key
    owner = await feed_owner(db, token, secret_key) if name.endswith(SUFFIX) else None
    if owner is None:
        raise NotFound("calendar")
    entries = await feed_entries(db, Actor.of(owner, Channel.API), utcnow())
    body = document(owner, entries, base_url(request))
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**FEED_HEADERS, "ETag": etag}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether the client's copy (``If-None-Match``, weak or strong) is this one."""
    if not if_none_match:
        return False
    given = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in given or etag in given


@post("/me/calendar/renew", include_in_schema=False)
async def renew_calendar(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Redirect:
    """Make the address (or a new one: calendars on the old one stop updating)."""
    await CalendarFeeds(db, actor, request.app.state.secret_key).renew()
    return Redirect("/me#calendar", status_code=303, headers=VARY)


@post("/me/calendar/revoke", include_in_schema=False)
async def revoke_calendar(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Redirect:
    """Stop the address working; calendars subscribed to it get nothing more."""
    await CalendarFeeds(db, actor, request.app.state.secret_key).revoke()
    return Redirect("/me#calendar", status_code=303, headers=VARY)


pages = [calendar_feed, renew_calendar, revoke_calendar]
