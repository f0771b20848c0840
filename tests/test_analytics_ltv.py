"""The LTV page and service: historical figures by hand, predictions against `clv`, scope,
the admins' settings and refit, the export.

The world of the tests (the ``book`` fixture), purchases at 03:00 UTC:

営業 太郎 (東京営業部)
  山田商事  2026-01-10 10,000; 2026-03-10 20,000; 2026-05-10 30,000   -> 3 purchases, 60,000
  佐藤工業  2026-02-01 5,000                                          -> 1 purchase, 5,000
営業 花子 (東京営業部)
  鈴木商店  2026-01-20 8,000; 2026-04-20 12,000                       -> 2 purchases, 20,000
大阪 次郎 (大阪営業部: only admins see it)
  大阪物産  2026-01-05 100,000; 2026-02-05 100,000                    -> 2 purchases, 200,000

Historical, all time: the manager's team has 3 customers, 85,000 in all, 28,333 on average,
median 20,000; the rep has 2, 65,000, 32,500, median 5,000 (the lower middle); the admin 4,
285,000, 71,250, median 20,000. Customers first buying from 2026-01-15 (the manager): 佐藤工業
and 鈴木商店, 25,000.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.accounts.models import Account
from server.analytics import clv
from server.analytics.filters import Filters
from server.analytics.ltv import (
    MODEL_KEY,
    ClvSettings,
    FittedModel,
    LtvService,
    Predictive,
    _summary,
    histories,
    kept_at,
    stored_model,
)
from server.analytics.models import AccountRollup, AccountScore, AnalyticsSetting, keep_setting
from server.analytics.scores import predictions_due, score_all
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.purchases.models import Purchase
from server.settings import Settings
from server.worker import housekeeping
from tests.conftest import Person, create_account, login, new_id, token_in

SPEND = clv.GammaGamma(6.25, 3.74, 15_440.0)  # a mean purchase of 35,219 yen
PAPER = clv.BGNBD(0.243, 4.414, 0.793, 2.426)
NOW = datetime(2026, 7, 1, tzinfo=UTC)
WEEK = 7 * 24 * 3600
ALL_TIME = Filters(start=None, end=date(2026, 12, 31))


async def bought(person: Person, account: dict[str, Any], *purchases: tuple[str, int]) -> None:
    for day, amount in purchases:
        body = {
            "id": new_id(),
            "account_id": account["id"],
            "purchased_at": f"{day}T03:00:00+00:00",
            "amount": amount,
        }
        response = await person.post("/api/purchases", json=body)
        assert response.status_code == 201, response.text


@pytest.fixture
async def book(rep: Person, rep_b: Person, outsider: Person) -> dict[str, str]:
    yamada = await create_account(rep, name="山田商事")
    sato = await create_account(rep, name="佐藤工業")
    suzuki = await create_account(rep_b, name="鈴木商店")
    osaka = await create_account(outsider, name="大阪物産")
    await bought(
        rep, yamada, ("2026-01-10", 10_000), ("2026-03-10", 20_000), ("2026-05-10", 30_000)
    )
    await bought(rep, sato, ("2026-02-01", 5_000))
    await bought(rep_b, suzuki, ("2026-01-20", 8_000), ("2026-04-20", 12_000))
    await bought(outsider, osaka, ("2026-01-05", 100_000), ("2026-02-05", 100_000))
    return {"山田商事": yamada["id"], "佐藤工業": sato["id"], "鈴木商店": suzuki["id"]}


async def store_model(database: Database, fitted_at: datetime | None = None) -> FittedModel:
    model = FittedModel(PAPER, SPEND, 2357, fitted_at or utcnow())
    async with database.writing() as session:
        session.add(AnalyticsSetting(key=MODEL_KEY, value=model.as_value()))
    return model


def actor_of(person: Person) -> Actor:
    user = person.user
    return Actor(user.id, user.role, user.team_id, "ja", "Asia/Tokyo", Channel.WEB)


def week(days: float) -> float:
    return days * 24 * 3600 / WEEK


# -- the service, at a fixed moment -----------------------------------------------------------


@pytest.mark.usefixtures("book")
async def test_historical_figures_by_scope(
    database: Database, rep: Person, manager: Person, admin: Person
) -> None:
    async with database.session() as session:
        team = await LtvService(session, actor_of(manager), NOW).historical(ALL_TIME)
        own = await LtvService(session, actor_of(rep), NOW).historical(ALL_TIME)
        everyone = await LtvService(session, actor_of(admin), NOW).historical(ALL_TIME)
        cohort = await LtvService(session, actor_of(manager), NOW).historical(
            Filters(start=date(2026, 1, 15), end=date(2026, 12, 31))
        )

    assert (team.customers, team.total, team.average, team.median) == (3, 85_000, 28_333, 20_000)
    assert [c.name for c in team.top] == ["山田商事", "鈴木商店", "佐藤工業"]
    assert (own.customers, own.total, own.average, own.median) == (2, 65_000, 32_500, 5_000)
    assert (everyone.customers, everyone.total, everyone.median) == (4, 285_000, 20_000)
    assert everyone.average == 71_250
    assert (cohort.customers, cohort.total) == (2, 25_000)
    assert {c.name for c in cohort.top} == {"佐藤工業", "鈴木商店"}


@pytest.mark.usefixtures("book")
async def test_predictions_are_the_models_figures(database: Database, manager: Person) -> None:
    model = FittedModel(PAPER, SPEND, 2357, NOW)
    async with database.session() as session:
        predictive = await LtvService(session, actor_of(manager), NOW).predictive(
            ALL_TIME, model, ClvSettings(months=24, discount=8)
        )

    # In weeks, at 2026-07-01T00:00Z: x = purchases − 1, t_x = last − first, T = now − first
    # (the first purchase at 03:00, 0.125 days before a whole day), m_x = the average purchase.
    by_hand = {
        "山田商事": (2, week(120), week(171.875), 20_000),
        "鈴木商店": (1, week(90), week(161.875), 10_000),
        "佐藤工業": (0, 0.0, week(149.875), 5_000),
    }
    expected = {}
    for name, (x, t_x, age, m_x) in by_hand.items():
        lifetime = clv.customer_lifetime_value(
            PAPER, SPEND, [x], [t_x], [age], [m_x], months=24, annual_discount=0.08
        )[0]
        purchases = clv.expected_purchases(PAPER, 24 * clv.WEEKS_PER_MONTH, x, t_x, age)
        alive = clv.probability_alive(PAPER, x, t_x, age)
        value = clv.expected_average_value(SPEND, x, m_x)
        expected[name] = (lifetime, float(purchases), float(alive), float(value))
    order = sorted(expected, key=lambda n: -expected[n][0])

    assert [p.customer.name for p in predictive.top] == order
    for p in predictive.top:
        lifetime, purchases, alive, value = expected[p.customer.name]
        assert p.clv == pytest.approx(lifetime, rel=1e-9)
        assert p.purchases == pytest.approx(purchases, rel=1e-9)
        assert p.alive == pytest.approx(alive, rel=1e-9)
        assert p.value == pytest.approx(value, rel=1e-9)
    assert predictive.customers == 3
    assert predictive.clv == pytest.approx(sum(e[0] for e in expected.values()), rel=1e-9)
    # 佐藤工業 has bought once: the model cannot have seen them drop out.
    assert expected["佐藤工業"][2] == 1
    assert sum(b.customers for b in predictive.bins) == 3


# -- the page ---------------------------------------------------------------------------------


def top_rows(html: str) -> list[tuple[str, str]]:
    """(account, CLV cell) of the top-by-CLV table, in order."""
    table = html.split('class="analytics-table ltv-top"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>\s*<th scope=\"row\"><a [^>]*>([^<]+)</a></th>(.*?)</tr>", table, re.S)
    return [(name, re.findall(r'<td class="num">([^<]*)</td>', cells)[-1]) for name, cells in rows]


async def page_of(client: AsyncTestClient[Litestar], email: str, query: str = "all=1") -> str:
    await login(client, email)
    response = await client.get(f"/analytics/ltv?{query}")
    assert response.status_code == 200, response.text
    assert "HX-Request" in response.headers["vary"]
    return response.text


@pytest.mark.usefixtures("book")
async def test_the_manager_sees_the_teams_customers_and_their_clv(
    client: AsyncTestClient[Litestar], database: Database, manager: Person
) -> None:
    await store_model(database)
    html = await page_of(client, manager.email)

    assert "大阪物産" not in html
    for figure in ("85,000円", "28,333円", "20,000円"):
        assert figure in html
    async with database.session() as session:
        rollups = {r.account_id: r for r in (await session.execute(_rollups())).scalars().all()}
    now = utcnow()
    rows = top_rows(html)
    assert [name for name, _cell in rows] == ["山田商事", "鈴木商店", "佐藤工業"]
    for name, cell in rows:
        rollup = next(r for r in rollups.values() if _name_of(html, r.account_id) == name)
        data = histories(
            [
                (
                    rollup.first_purchase_at,
                    rollup.last_purchase_at,
                    rollup.purchase_count,
                    rollup.purchase_total,
                )
            ],
            now,
        )
        lifetime = clv.customer_lifetime_value(
            PAPER, SPEND, data.x, data.t_x, data.age, data.m_x, months=36, annual_discount=0.1
        )[0]
        assert int(cell.replace(",", "").removesuffix("円")) == pytest.approx(lifetime, abs=1)
    assert "<svg" in html
    assert "ltv-chart-title" in html
    assert "/analytics/ltv/settings" not in html  # the settings are the admins'


def _rollups() -> Any:
    return select(AccountRollup)


def _name_of(html: str, account_id: Any) -> str | None:
    found = re.search(rf'href="/accounts/{account_id}">([^<]+)</a>', html)
    return found.group(1) if found else None


@pytest.mark.usefixtures("book")
async def test_a_rep_sees_only_their_own_book(
    client: AsyncTestClient[Litestar], database: Database, rep: Person
) -> None:
    await store_model(database)
    html = await page_of(client, rep.email)

    assert [name for name, _cell in top_rows(html)] == ["山田商事", "佐藤工業"]
    assert "鈴木商店" not in html
    assert "大阪物産" not in html
    assert "65,000円" in html
    assert "32,500円" in html


@pytest.mark.usefixtures("book")
async def test_the_period_picks_customers_by_their_first_purchase(
    client: AsyncTestClient[Litestar], database: Database, manager: Person
) -> None:
    await store_model(database)
    html = await page_of(client, manager.email, "from=2026-01-15&to=2026-12-31")

    assert [name for name, _cell in top_rows(html)] == ["鈴木商店", "佐藤工業"]
    assert "25,000円" in html


@pytest.mark.usefixtures("book")
async def test_htmx_gets_only_the_analysis(
    client: AsyncTestClient[Litestar], database: Database, manager: Person
) -> None:
    await store_model(database)
    await login(client, manager.email)
    response = await client.get("/analytics/ltv?all=1", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text
    assert "山田商事" in response.text
    bad = await client.get("/analytics/ltv?from=2026-13-01")
    assert bad.status_code == 422


@pytest.mark.usefixtures("book")
async def test_admins_set_the_horizon_and_the_rate(
    client: AsyncTestClient[Litestar], database: Database, admin: Person, rep: Person
) -> None:
    await store_model(database)
    html = await page_of(client, admin.email)
    assert "大阪物産" in html
    before = dict(top_rows(html))

    form = {"months": "12", "discount": "5", "csrf_token": token_in(html)}
    saved = await client.post("/analytics/ltv/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303
    html = (await client.get("/analytics/ltv?all=1")).text
    assert "12か月" in html
    assert "年率5%" in html
    after = dict(top_rows(html))
    assert all(_yen(after[name]) < _yen(before[name]) for name in before)

    refused = await client.post(
        "/analytics/ltv/settings", data={**form, "months": "0"}, follow_redirects=False
    )
    assert refused.status_code == 422
    reply = await rep.post("/analytics/ltv/settings", data={"months": "6", "discount": "1"})
    assert reply.status_code == 403
    async with database.session() as session:
        assert (await session.get(AnalyticsSetting, "clv_settings")).value == {  # type: ignore[union-attr]
            "months": 12,
            "discount": 5.0,
        }


def _yen(cell: str) -> int:
    return int(cell.replace(",", "").removesuffix("円"))


@pytest.mark.usefixtures("book")
async def test_the_export_has_every_customer_by_clv(
    client: AsyncTestClient[Litestar], database: Database, manager: Person
) -> None:
    await store_model(database)
    await login(client, manager.email)
    response = await client.get("/analytics/ltv?all=1&format=csv")

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert [r[0] for r in rows[1:]] == ["山田商事", "鈴木商店", "佐藤工業"]
    assert [r[3] for r in rows[1:]] == ["3", "2", "1"]
    assert [r[4] for r in rows[1:]] == ["60000", "20000", "5000"]
    assert rows[3][6] == "1.0"  # bought once: P(alive) 1
    xlsx = await client.get("/analytics/ltv?all=1&format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"


async def simulated_book(database: Database, person: Person, customers: int) -> None:
    """``customers`` accounts whose purchases the BG/NBD and Gamma-Gamma models drew."""
    rng = np.random.default_rng(7)
    age = rng.uniform(20, 100, customers)
    x, t_x = clv.simulate_bgnbd(clv.BGNBD(1.2, 8.0, 0.8, 3.0), age, rng)
    now = utcnow()
    ids = [(await create_account(person, name=f"顧客{i}"))["id"] for i in range(customers)]
    async with database.writing() as session:
        for i, account_id in enumerate(ids):
            first = now - timedelta(weeks=float(age[i]))
            between = rng.uniform(0, t_x[i], max(int(x[i]) - 1, 0))
            times = [0.0, *sorted(between), t_x[i]][: int(x[i]) + 1]
            for offset in times:
                session.add(
                    Purchase(
                        id=new_uuid(),
                        account_id=uuid.UUID(account_id),
                        purchased_at=first + timedelta(weeks=float(offset)),
                        amount=int(rng.gamma(4, 2_500)) + 1,
                    )
                )
        await session.flush()  # the rollups follow the purchases a flush has seen


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


async def test_the_page_fits_a_missing_model_and_admins_refit(
    client: AsyncTestClient[Litestar], database: Database, admin: Person, rep: Person
) -> None:
    await simulated_book(database, rep, 60)
    html = await page_of(client, admin.email)

    async with database.session() as session:
        stored = FittedModel.of((await session.get(AnalyticsSetting, MODEL_KEY)).value)  # type: ignore[union-attr]
        rows = (
            await session.execute(
                _rollups().with_only_columns(
                    AccountRollup.first_purchase_at,
                    AccountRollup.last_purchase_at,
                    AccountRollup.purchase_count,
                    AccountRollup.purchase_total,
                )
            )
        ).all()
    assert stored.customers == 60
    assert "モデルは顧客60件で推定" in html
    data = histories(rows, stored.fitted_at)
    again = clv.fit_bgnbd(data.x, data.t_x, data.age)
    # The same maximum (to the optimiser's tolerance: rows summed in another order).
    assert stored.bgnbd.log_likelihood == pytest.approx(again.log_likelihood, abs=1e-4)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(stored.bgnbd, name) == pytest.approx(getattr(again, name), rel=1e-3)

    # Admins fit it again at once; a fresh model is not refitted by a page read.
    refit = await client.post(
        "/analytics/ltv/refit", data={"csrf_token": token_in(html)}, follow_redirects=False
    )
    assert refit.status_code == 303
    async with database.session() as session:
        newer = FittedModel.of((await session.get(AnalyticsSetting, MODEL_KEY)).value)  # type: ignore[union-attr]
    assert newer.fitted_at > stored.fitted_at
    await client.get("/analytics/ltv?all=1")
    async with database.session() as session:
        same = FittedModel.of((await session.get(AnalyticsSetting, MODEL_KEY)).value)  # type: ignore[union-attr]
    assert same.fitted_at == newer.fitted_at
    assert (await rep.post("/analytics/ltv/refit")).status_code == 403


async def test_an_old_model_is_shown_and_the_worker_fits_it_again(
    client: AsyncTestClient[Litestar],
    database: Database,
    settings: Settings,
    admin: Person,
    rep: Person,
) -> None:
    await simulated_book(database, rep, 40)
    old = await store_model(database, utcnow() - timedelta(days=2))
    await page_of(client, admin.email)  # a page read never waits for a fit it can do without

    async def fitted() -> FittedModel:
        async with database.session() as session:
            setting = await session.get(AnalyticsSetting, MODEL_KEY)
            assert setting is not None
            return FittedModel.of(setting.value)

    assert (await fitted()).fitted_at == old.fitted_at
    await housekeeping(database, settings)
    stored = await fitted()
    assert stored.fitted_at > old.fitted_at
    assert stored.customers == 40


@pytest.mark.usefixtures("book")
async def test_without_enough_history_the_page_says_so(
    client: AsyncTestClient[Litestar], manager: Person
) -> None:
    html = await page_of(client, manager.email)

    assert "モデルを推定するだけの購入履歴がまだありません" in html
    assert "85,000円" in html  # the historical figures need no model


# -- kept predictions -------------------------------------------------------------------------


async def _kept_and_live(
    database: Database, person: Person, filters: Filters, now: datetime
) -> tuple[Predictive, Predictive]:
    """The page's predictive figures from the kept predictions, and with every customer
    predicted at the same moment."""
    async with database.session() as session:
        service = LtvService(session, actor_of(person), now)
        model = await stored_model(session)
        assert model is not None
        settings = await service.settings()
        assert await kept_at(session, model, settings) is not None
        kept = await service.predictive(filters, model, settings)
        everyone = await service.predictions(filters, model, settings)
    return kept, _summary(model, settings, *everyone)


def _same_figures(kept: Predictive, live: Predictive, rel: float = 1e-9) -> None:
    """The same figures; ``rel`` allows for predictions kept a moment before the live ones."""
    assert kept.customers == live.customers
    assert kept.purchases == pytest.approx(live.purchases, rel=rel)
    assert kept.alive == pytest.approx(live.alive, rel=rel)
    # the kept CLV is in whole yen
    assert kept.clv == pytest.approx(live.clv, rel=rel, abs=kept.customers / 2)
    assert [p.customer.name for p in kept.top] == [p.customer.name for p in live.top]
    for a, b in zip(kept.top, live.top, strict=True):
        assert (a.purchases, a.alive, a.value) == pytest.approx(
            (b.purchases, b.alive, b.value), rel=rel
        )
        assert a.clv == pytest.approx(b.clv, rel=rel, abs=0.5)
    assert kept.bins == live.bins


async def test_kept_predictions_give_the_figures_of_predicting_everyone(
    database: Database, rep: Person, manager: Person, admin: Person
) -> None:
    await simulated_book(database, rep, 60)
    await store_model(database)
    now = utcnow()
    assert await score_all(database, now) == 60

    for person in (admin, manager, rep):
        for filters in (
            ALL_TIME,
            Filters(start=(now - timedelta(weeks=60)).date(), end=now.date()),
        ):
            kept, live = await _kept_and_live(database, person, filters, now)
            assert kept.customers > 0
            _same_figures(kept, live)
    async with database.session() as session:
        scores = (await session.execute(select(AccountScore))).scalars().all()
    assert len(scores) == 60
    assert all(s.expected_purchases is not None and s.expected_value is not None for s in scores)


async def test_a_customer_who_bought_since_is_predicted_afresh(
    client: AsyncTestClient[Litestar], database: Database, rep: Person, admin: Person
) -> None:
    await simulated_book(database, rep, 40)
    await store_model(database)
    await score_all(database, utcnow())
    async with database.writing() as session:
        score = (
            await session.execute(select(AccountScore).order_by(AccountScore.clv).limit(1))
        ).scalar_one()
        score.clv = 987_654_321  # the page shows what is kept …
        account = await session.get(Account, score.account_id)
        assert account is not None
        name = account.name
    html = await page_of(client, admin.email)
    assert top_rows(html)[0] == (name, "987,654,321円")
    assert "時点のもので、その後に購入のあった顧客はいま予測しています" in html

    # … until the customer buys again: then they are predicted with their new purchase.
    client.cookies.clear()  # the rep's own request, not the admin's session
    await bought(rep, {"id": str(score.account_id)}, (utcnow().date().isoformat(), 4_000))
    html = await page_of(client, admin.email)
    assert "987,654,321円" not in html
    kept, live = await _kept_and_live(database, admin, ALL_TIME, utcnow())
    _same_figures(kept, live, rel=1e-6)


async def test_new_settings_and_a_refit_predict_everyone_again(
    client: AsyncTestClient[Litestar],
    database: Database,
    settings: Settings,
    rep: Person,
    admin: Person,
) -> None:
    await simulated_book(database, rep, 40)
    await store_model(database)
    await score_all(database, utcnow())
    html = await page_of(client, admin.email)
    before = dict(top_rows(html))

    form = {"months": "6", "discount": "20", "csrf_token": token_in(html)}
    saved = await client.post("/analytics/ltv/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303
    async with database.session() as session:
        model = await stored_model(session)
        assert model is not None
        assert await kept_at(session, model, ClvSettings(6, 20.0)) is not None
    after = dict(top_rows((await client.get("/analytics/ltv?all=1")).text))
    assert all(_yen(after[name]) < _yen(before[name]) for name in after)
    kept, live = await _kept_and_live(database, admin, ALL_TIME, utcnow())
    _same_figures(kept, live, rel=1e-6)

    refit = await client.post(
        "/analytics/ltv/refit", data={"csrf_token": token_in(html)}, follow_redirects=False
    )
    assert refit.status_code == 303
    async with database.session() as session:
        newer = await stored_model(session)
        assert newer is not None
        assert newer.fitted_at > model.fitted_at
        assert await kept_at(session, newer, ClvSettings(6, 20.0)) is not None

    # A model the worker fits (or stored by any other way) is predicted on its next pass.
    async with database.writing() as session:
        await keep_setting(
            session, MODEL_KEY, FittedModel(PAPER, SPEND, 99, utcnow()).as_value(), at=utcnow()
        )
    assert await predictions_due(database, utcnow())
    await housekeeping(database, settings)
    assert not await predictions_due(database, utcnow())
