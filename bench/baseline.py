"""The baseline of the page benchmark: a bare Litestar app in the "fortunes" shape.

    python -m bench.baseline --port P [--email rep1@example.com]

It answers the account briefing, the search fragment, the pipeline board (``/deals``) and
the deals forecast (``/deals/forecast``) with the same SQL (the same service calls) and the
same templates as FieldCRM, as the same user, and nothing else: no session
lookup, no origin or CSRF check, no recently-viewed write, no security headers, no error
mapping. What FieldCRM costs beyond this is what its plumbing costs. Responses are
gzip-compressed as FieldCRM's are, so both send the same bytes.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from jinja2 import Environment
from litestar import Litestar, MediaType, Response, get
from litestar.config.compression import CompressionConfig
from sqlalchemy import select, text

import server.models  # noqa: F401 - every table, as the app loads them
from server.accounts.briefing import BriefingService
from server.accounts.pages import SEARCH_LIMIT
from server.accounts.service import AccountService
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.deals.board import load_board
from server.deals.chart import MEASURES, chart, long_month_label
from server.deals.forecast import COMMITTED, ForecastService, _form_values, read_query
from server.deals.lists import open_totals
from server.deals.pages import board_url
from server.i18n import translations
from server.settings import Settings
from server.web.templating import make_environment

# The page's CSRF meta carries a token; a fixed one of the same length stands in.
CSRF_TOKEN = "x" * 43


class Baseline:
    """One user, one engine, one template environment: the least a page can be made with."""

    def __init__(self, url: str, email: str) -> None:
        self.database = Database(url)
        self.email = email
        self.environment: Environment = make_environment()
        self.user: User | None = None
        self.actor: Actor | None = None

    async def start(self) -> None:
        async with self.database.session() as session:
            self.user = await session.scalar(select(User).where(User.email == self.email))
        if self.user is None:
            raise SystemExit(f"no user {self.email}")
        self.actor = Actor.of(self.user, Channel.WEB)

    def render(self, name: str, **context: Any) -> str:
        assert self.user is not None  # noqa: S101 - set at start-up
        return self.environment.get_template(name).render(
            _=translations(self.user.locale).gettext,
            locale=self.user.locale,
            user=self.user,
            csrf_token=CSRF_TOKEN,
            **context,
        )

    async def briefing(self, account_id: uuid.UUID) -> str:
        assert self.actor is not None  # noqa: S101
        async with self.database.session() as session:
            found = await BriefingService(session, self.actor).briefing(account_id)
            return self.render("accounts/briefing.html", b=found, account=found.account)

    async def search(self, q: str) -> str:
        assert self.actor is not None  # noqa: S101
        async with self.database.session() as session:
            found = await AccountService(session, self.actor).list(q=q, limit=SEARCH_LIMIT)
            totals = await open_totals(session, [a.id for a in found.items])
            return self.render(
                "accounts/_results.html",
                q=q,
                found=found,
                recent=[],
                deal_totals=totals,
                oob=True,
            )

    async def board(self, owner: str | None) -> str:
        assert self.actor is not None  # noqa: S101
        async with self.database.session() as session:
            view = await load_board(session, self.actor, owner=owner)
            return self.render(
                "deals/board.html",
                nav="deals",
                v=view,
                back=board_url(view),
                notice=None,
                oob=False,
            )

    async def forecast(self) -> str:
        """This month and the next two against the three before, as the page shows them."""
        assert self.actor is not None  # noqa: S101
        assert self.user is not None  # noqa: S101
        async with self.database.session() as session:
            service = ForecastService(session, self.actor)
            query = read_query({}, self.actor.time_zone)
            found = await service.forecast(query)
            return self.render(
                "deals/forecast.html",
                nav="me",
                is_admin=self.actor.is_admin,
                measures=MEASURES,
                committed=COMMITTED,
                month_name=partial(long_month_label, locale=self.user.locale),
                values=_form_values(query),
                errors={},
                choices=await service.choices(query.team_id),
                forecast=found,
                chart=chart(found, self.user.locale),
            )


def create_baseline(url: str, email: str) -> Litestar:
    baseline = Baseline(url, email)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await baseline.start()
        yield
        await baseline.database.dispose()

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        async with baseline.database.session() as session:
            await session.execute(text("SELECT 1"))
        return {"status": "ok"}

    @get("/accounts/{account_id:uuid}", media_type=MediaType.HTML)
    async def briefing(account_id: uuid.UUID) -> Response[str]:
        return Response(await baseline.briefing(account_id), media_type=MediaType.HTML)

    @get("/search/results", media_type=MediaType.HTML)
    async def search(q: str = "") -> Response[str]:
        return Response(await baseline.search(q), media_type=MediaType.HTML)

    @get("/deals", media_type=MediaType.HTML)
    async def board(owner: str | None = None) -> Response[str]:
        return Response(await baseline.board(owner), media_type=MediaType.HTML)

    @get("/deals/forecast", media_type=MediaType.HTML)
    async def forecast() -> Response[str]:
        return Response(await baseline.forecast(), media_type=MediaType.HTML)

    return Litestar(
        route_handlers=[healthz, briefing, search, board, forecast],
        compression_config=CompressionConfig(backend="gzip", minimum_size=500),
        lifespan=[lifespan],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--email", default="rep1@example.com")
    options = parser.parse_args()
    import uvicorn  # noqa: PLC0415

    app = create_baseline(Settings.from_env().database_url, options.email)
    # Configured as `fieldcrm serve` configures uvicorn, access log included.
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="info")


if __name__ == "__main__":
    main()
