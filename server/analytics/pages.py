"""The analyses' pages: the ``/analytics`` index and the frame every analysis page shares.

Every analysis page is ``GET /analytics/<key>`` with the filters of `server.analytics.filters`
as query parameters, and ``?format=csv`` / ``?format=xlsx`` on the same URL for its export.
Everyone signed in may open them; what they cover is `account_scope`: a rep's own book, a
manager's team's, everything for an admin.

An analysis handler reads the filters with `read_request`, computes its figures, then answers
`show(...)`: the page ``analytics/_frame.html`` (heading, the analyses as tabs, then the
analysis part), or, for an htmx request, only the analysis part ``analytics/_part.html`` (the
filter form, the export links and the analysis's own template ``body``), which the filter form
swaps. Both answer ``Vary: HX-Request``. An export answers `export_response` instead.

Template context `show` gives (besides what the handler adds): ``analysis`` (the current key),
``analyses`` (`ANALYSES`), ``action`` (the URL the filter form sends to), ``values`` and
``errors`` (the filter form's), ``choices`` (`FilterChoices`), ``filters`` (`Filters`, None when
the filters are bad), ``export_url`` (None for no export links), ``body`` (the analysis's
template, shown when ``filters`` is not None), ``is_admin``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.filters import INPUTS, Filters, read_filters
from server.analytics.pareto import A_SHARE, B_SHARE, PARETO_SHARE, ParetoService
from server.analytics.rfm import (
    PER_PAGE,
    QUINTILES,
    SEGMENTS,
    THRESHOLDS,
    Rfm,
    RfmService,
    ScoredAccount,
    Thresholds,
)
from server.analytics.svg import BarChart, bar_chart, curve_chart, yen_ticks
from server.auth.models import Team, User
from server.auth.scope import Actor
from server.errors import NotFound, ValidationFailed
from server.exports.sheets import Kind
from server.exports.writers import (
    CSV,
    EXTENSIONS,
    MEDIA_TYPES,
    XLSX,
    Rows,
    csv_stream,
    xlsx_stream,
)
from server.fields.models import Entity, FieldDefinition
from server.i18n import Text, _l, render_errors
from server.web.context import request_locale
from server.web.files import attachment
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]

EXPORT_FORMATS: Final = (CSV, XLSX)
BAD_FORMAT = _l("Choose CSV or XLSX.")


@dataclass(frozen=True, slots=True)
class Analysis:
    key: str
    url: str
    title: Text
    summary: Text


ANALYSES: Final = (
    Analysis(
        "rfm",
        "/analytics/rfm",
        _l("RFM"),
        _l("Recency, frequency and money: customers scored 1–5 and grouped into segments."),
    ),
    Analysis(
        "ltv",
        "/analytics/ltv",
        _l("LTV"),
        _l("What each customer has brought, and is expected to bring."),
    ),
    Analysis(
        "pareto",
        "/analytics/pareto",
        _l("Pareto / ABC / decile"),
        _l("Who brings the money: the 80/20 curve, ABC classes and deciles."),
    ),
    Analysis(
        "retention",
        "/analytics/retention",
        _l("Retention"),
        _l("Monthly cohorts by first purchase: the share still buying months later."),
    ),
    Analysis(
        "cycle",
        "/analytics/cycle",
        _l("Sales cycle"),
        _l("Days from first contact to won, and win rates by stage, rep and source."),
    ),
    Analysis(
        "activity",
        "/analytics/activity",
        _l("Activity"),
        _l("Visits, calls and follow-ups per rep and week, against the previous period."),
    ),
)


# -- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """What the filter form offers: (value, label) pairs."""

    reps: list[tuple[str, str]] = field(default_factory=list)
    teams: list[tuple[str, str]] = field(default_factory=list)  # admins only
    fields: list[tuple[str, str]] = field(default_factory=list)  # account custom fields


@dataclass(frozen=True, slots=True)
class FilterState:
    """The filters of a request: ``filters`` None when some are bad (``errors`` says which)."""

    filters: Filters | None
    values: dict[str, str]
    errors: dict[str, list[str]]


def read_request(request: Req, actor: Actor) -> FilterState:
    """The filters in the request's query string, as `read_filters` reads them."""
    typed = {name: request.query_params.get(name) for name in INPUTS}
    try:
        filters = read_filters(typed, actor)
    except ValidationFailed as failed:
        values = {name: (value or "").strip() for name, value in typed.items()}
        return FilterState(None, values, render_errors(failed.errors, request_locale(request)))
    return FilterState(filters, filters.values(), {})


async def filter_choices(session: AsyncSession, actor: Actor) -> FilterChoices:
    """The reps within the reader's reach, the teams (admins), the accounts' custom fields."""
    users = select(User.id, User.name).where(User.active.is_(True))
    if not actor.is_admin:
        if actor.is_manager and actor.team_id is not None:
            users = users.where(User.team_id == actor.team_id)
        else:
            users = users.where(User.id == actor.user_id)
    reps = [(str(i), n) for i, n in await session.execute(users.order_by(User.name))]
    teams: list[tuple[str, str]] = []
    if actor.is_admin:
        rows = await session.execute(select(Team.id, Team.name).order_by(Team.name))
        teams = [(str(i), n) for i, n in rows]
    definitions = await session.execute(
        select(FieldDefinition.key, FieldDefinition.label_ja, FieldDefinition.label_en)
        .where(FieldDefinition.entity == Entity.ACCOUNT, FieldDefinition.active.is_(True))
        .order_by(FieldDefinition.position, FieldDefinition.key)
    )
    ja = actor.locale == "ja"
    fields = [(key, label_ja if ja else label_en) for key, label_ja, label_en in definitions]
    return FilterChoices(reps, teams, fields)


# -- rendering --------------------------------------------------------------------------------


def show(
    request: Req,
    actor: Actor,
    *,
    analysis: str,
    body: str,
    state: FilterState,
    choices: FilterChoices,
    action: str | None = None,
    export_url: str | None = "",
    status_code: int | None = None,
    **context: Any,
) -> Template:
    """The analysis page (``analytics/_frame.html``), or only its analysis part for htmx.

    ``action`` is the URL the filter form sends to (the analysis's URL by default);
    ``export_url`` the URL its export links add ``?format=`` to (by default ``action``; None
    hides them). Bad filters answer 422 with the form and its errors, without ``body``.
    """
    url = action or next(a.url for a in ANALYSES if a.key == analysis)
    template = "analytics/_part.html" if is_fragment(request) else "analytics/_frame.html"
    code = status_code or (200 if state.filters is not None else HTTP_422_UNPROCESSABLE_ENTITY)
    response = page(
        request,
        template,
        status_code=code,
        analysis=analysis,
        analyses=ANALYSES,
        action=url,
        values=state.values,
        errors=state.errors,
        choices=choices,
        filters=state.filters,
        export_url=url if export_url == "" else export_url,
        body=body,
        is_admin=actor.is_admin,
        **context,
    )
    response.headers.update(VARY)
    return response


# -- exports ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """A column of an export: its header (in the reader's language) and its cell type."""

    header: Text
    kind: Kind = Kind.TEXT


def export_format(request: Req) -> str | None:
    """``csv`` or ``xlsx`` when the request asks for an export (``?format=``), else None;
    `ValidationFailed` for any other format."""
    raw = (request.query_params.get("format") or "").strip().lower()
    if not raw:
        return None
    if raw not in EXPORT_FORMATS:
        raise ValidationFailed({"format": [BAD_FORMAT]})
    return raw


def export_response(
    request: Req,
    rows: Rows | AsyncIterator[Rows],
    columns: Sequence[ExportColumn],
    filename: str,
    file_format: str,
    *,
    title: Text | None = None,
    time_zone: str = "Asia/Tokyo",
) -> Stream:
    """The export download: CSV (UTF-8 with a BOM, for Excel) or an XLSX workbook.

    ``rows`` are the cells (numbers as numbers, dates as dates), all at once or as an async
    iterator of batches. ``filename`` is an ASCII base name (``rfm``); the file is named
    ``<title or filename>_<today>.<csv|xlsx>``, today in ``time_zone``.
    """
    locale = request_locale(request)
    headers = [column.header.render(locale) for column in columns]
    day = datetime.now(UTC).astimezone(ZoneInfo(time_zone)).date().isoformat()
    extension = EXTENSIONS[file_format]
    name = f"{title.render(locale) if title else filename}_{day}.{extension}"

    async def batches() -> AsyncIterator[Rows]:
        if isinstance(rows, Sequence):
            yield rows
        else:
            async for batch in rows:
                yield batch

    if file_format == XLSX:
        sheet = title.render(locale) if title else filename
        chunks = xlsx_stream(sheet, headers, [c.kind for c in columns], batches())
    else:
        chunks = csv_stream(headers, batches(), file_format)
    return Stream(
        chunks,
        media_type=MEDIA_TYPES[file_format] + ("; charset=utf-8" if file_format != XLSX else ""),
        headers={
            "Content-Disposition": attachment(name, f"{filename}_{day}.{extension}"),
            "Cache-Control": "no-store",
        },
    )


# -- the index --------------------------------------------------------------------------------


@get("/analytics", include_in_schema=False)
async def index_page(request: Req, actor: NamedDependency[Actor]) -> Template:
    """The analyses, each with what it shows."""
    return page(request, "analytics/index.html", analyses=ANALYSES, is_admin=actor.is_admin)


# -- RFM --------------------------------------------------------------------------------------

RFM_COLUMNS: Final = (
    ExportColumn(_l("Segment")),
    ExportColumn(_l("Customers"), Kind.INTEGER),
    ExportColumn(_l("Share of customers (%)"), Kind.NUMBER),
    ExportColumn(_l("Revenue"), Kind.YEN),
    ExportColumn(_l("Share of revenue (%)"), Kind.NUMBER),
    ExportColumn(_l("Average per customer"), Kind.YEN),
)
SEGMENT_COLUMNS: Final = (
    ExportColumn(_l("Account")),
    ExportColumn(_l("Last purchase"), Kind.DATE),
    ExportColumn(_l("Purchases"), Kind.INTEGER),
    ExportColumn(_l("Revenue"), Kind.YEN),
    ExportColumn(_l("R"), Kind.INTEGER),
    ExportColumn(_l("F"), Kind.INTEGER),
    ExportColumn(_l("M"), Kind.INTEGER),
    ExportColumn(_l("Account ID"), Kind.VERBATIM),
)


def _pct(share: float) -> float:
    return round(share * 100, 1)


def _rfm_rows(rfm: Rfm, locale: str) -> list[list[Any]]:
    return [
        [
            f.segment.label.render(locale),
            f.count,
            _pct(rfm.share(f)),
            f.total,
            _pct(rfm.value_share(f)),
            f.average,
        ]
        for f in rfm.segments
    ]


def _rfm_chart(rfm: Rfm, locale: str) -> BarChart:
    return bar_chart(
        [f.segment.label.render(locale) for f in rfm.segments], [f.count for f in rfm.segments]
    )


async def _rfm_show(
    request: Req, db: AsyncSession, actor: Actor, *, form_errors: dict[str, list[str]] | None = None
) -> Template | Stream:
    state = read_request(request, actor)
    file_format = export_format(request)
    service = RfmService(db, actor)
    rfm = await service.summary(state.filters) if state.filters else None
    locale = request_locale(request)
    if file_format and rfm:
        rows = _rfm_rows(rfm, locale)
        return export_response(request, rows, RFM_COLUMNS, "rfm", file_format, title=_l("RFM"))
    thresholds = rfm.thresholds if rfm else await service.thresholds()
    return show(
        request,
        actor,
        analysis="rfm",
        body="analytics/_rfm.html",
        state=state,
        choices=await filter_choices(db, actor),
        status_code=HTTP_422_UNPROCESSABLE_ENTITY if form_errors else None,
        period=False,
        rfm=rfm,
        chart=_rfm_chart(rfm, locale) if rfm else None,
        thresholds=thresholds,
        form_errors=form_errors or {},
        form_values=dict(await request.form()) if form_errors else _threshold_values(thresholds),
    )


def _threshold_values(thresholds: Thresholds | None) -> dict[str, str]:
    values = {"mode": THRESHOLDS if thresholds else QUINTILES}
    for measure in ("r", "f", "m"):
        cuts = getattr(thresholds, measure) if thresholds else ("", "", "", "")
        values.update({f"{measure}.{i + 1}": str(cut) for i, cut in enumerate(cuts)})
    return values


@get("/analytics/rfm", include_in_schema=False)
async def rfm_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Stream:
    """Segments with their counts and value, the chart and the R × F grid; or their export."""
    return await _rfm_show(request, db, actor)


@post("/analytics/rfm/thresholds", include_in_schema=False)
async def rfm_thresholds(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Stream | Redirect:
    """Admins choose quintiles or their own cut points."""
    form = await request.form()
    try:
        await RfmService(db, actor).save_thresholds(dict(form))
    except ValidationFailed as failed:
        errors = render_errors(failed.errors, request_locale(request))
        return await _rfm_show(request, db, actor, form_errors=errors)
    return Redirect("/analytics/rfm", status_code=303, headers=VARY)


@get("/analytics/rfm/{segment:str}", include_in_schema=False)
async def rfm_segment_page(
    request: Req,
    segment: FromPath[str],
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
) -> Template | Stream:
    """The accounts of one segment, by value, 50 a page; or all of them exported."""
    state = read_request(request, actor)
    file_format = export_format(request)
    service = RfmService(db, actor)
    number = _page_number(request.query_params.get("page"))
    per_page = None if file_format else PER_PAGE
    found = (
        await service.accounts(state.filters, segment, number, per_page) if state.filters else None
    )
    label = next((s.label for s in SEGMENTS if s.key == segment), None)
    if label is None:
        raise NotFound("segment")
    if file_format and found:
        rows = [_segment_row(a, actor.time_zone) for a in found.accounts]
        return export_response(
            request, rows, SEGMENT_COLUMNS, f"rfm_{segment}", file_format, title=label
        )
    return show(
        request,
        actor,
        analysis="rfm",
        body="analytics/_rfm_segment.html",
        state=state,
        choices=await filter_choices(db, actor),
        action=f"/analytics/rfm/{segment}",
        heading=label.render(request_locale(request)),
        period=False,
        found=found,
        zone=ZoneInfo(actor.time_zone),
    )


def _segment_row(account: ScoredAccount, time_zone: str) -> list[Any]:
    return [
        account.name,
        account.last_purchase_at.astimezone(ZoneInfo(time_zone)).date(),
        account.purchase_count,
        account.purchase_total,
        account.r,
        account.f,
        account.m,
        str(account.account_id),
    ]


def _page_number(raw: str | None) -> int:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 100_000 else 1


# -- Pareto / ABC / decile --------------------------------------------------------------------

PARETO_COLUMNS: Final = (
    ExportColumn(_l("Rank"), Kind.INTEGER),
    ExportColumn(_l("Account")),
    ExportColumn(_l("Revenue"), Kind.YEN),
    ExportColumn(_l("Share of revenue (%)"), Kind.NUMBER),
    ExportColumn(_l("Cumulative share (%)"), Kind.NUMBER),
    ExportColumn(_l("ABC class")),
    ExportColumn(_l("Decile"), Kind.INTEGER),
    ExportColumn(_l("Account ID"), Kind.VERBATIM),
)


@get("/analytics/pareto", include_in_schema=False)
async def pareto_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Stream:
    """The 80/20 curve, ABC classes and the decile table; or the ranked customers exported."""
    state = read_request(request, actor)
    file_format = export_format(request)
    service = ParetoService(db, actor)
    if file_format and state.filters:
        rows = [
            [
                c.position,
                c.name,
                c.revenue,
                _pct(c.share),
                _pct(c.cumulative),
                c.abc,
                c.decile,
                str(c.account_id),
            ]
            for c in await service.customers(state.filters)
        ]
        return export_response(
            request, rows, PARETO_COLUMNS, "pareto", file_format, title=_l("Pareto")
        )
    pareto = await service.pareto(state.filters) if state.filters else None
    return show(
        request,
        actor,
        analysis="pareto",
        body="analytics/_pareto.html",
        state=state,
        choices=await filter_choices(db, actor),
        pareto=pareto,
        curve=curve_chart(pareto.curve, PARETO_SHARE / 100) if pareto else None,
        deciles=bar_chart(
            [d.name for d in pareto.deciles],
            [d.revenue for d in pareto.deciles],
            formatter=yen_ticks(request_locale(request)),
        )
        if pareto
        else None,
        shares={"pareto": PARETO_SHARE, "a": A_SHARE, "b": B_SHARE},
    )


pages: list[Any] = [
    index_page,
    rfm_page,
    rfm_thresholds,
    rfm_segment_page,
    pareto_page,
]
