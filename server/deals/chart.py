"""The forecast chart's geometry: bars, ticks and labels, computed here and only drawn by
``deals/_chart.svg``.

Each month of the period is a group of four bars (won, committed, weighted, open) with a line
across the group at the height of the previous period's won amount in the same position
(the first month of the previous period for the first month, and so on). The y axis starts at
0 and ends at four "nice" steps (1, 2, 2.5 or 5 times a power of ten) above the tallest value;
its labels are abbreviated yen amounts (`short_yen`: 万/億 in Japanese, K/M/B in English).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

from babel.dates import format_date

if TYPE_CHECKING:
    from server.deals.forecast import Forecast

# The bars of a month, left to right: the most certain first.
MEASURES: Final = ("won", "committed", "weighted", "open")
WIDTH: Final = 640
HEIGHT: Final = 320
LEFT: Final = 104  # room for the y axis labels
RIGHT: Final = 8
TOP: Final = 12
BOTTOM: Final = 48  # room for the month and year under each group
TICKS: Final = 4
GROUP_GAP: Final = 0.2  # the share of a group's width left empty around its bars
NICE_STEPS: Final = (1.0, 2.0, 2.5, 5.0, 10.0)
JA_UNITS: Final = ((10**8, "億"), (10**4, "万"))
EN_UNITS: Final = ((10**9, "B"), (10**6, "M"), (10**3, "K"))


@dataclass(frozen=True, slots=True)
class Bar:
    measure: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Marker:
    """The previous period's won amount, as a line across its month's group."""

    value: int
    x1: float
    x2: float
    y: float


@dataclass(frozen=True, slots=True)
class Group:
    month: date
    label: str  # the month: 4月 / Apr
    year: str | None  # under the first month and every January
    center: float
    bars: tuple[Bar, ...]
    previous: Marker


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    groups: tuple[Group, ...]
    ticks: tuple[Tick, ...]

    @property
    def label_x(self) -> float:
        return self.left - 6

    @property
    def month_y(self) -> float:
        return self.bottom + 20

    @property
    def year_y(self) -> float:
        return self.bottom + 40


def short_yen(amount: int, locale: str) -> str:
    """A yen amount for an axis: ``1,500万円`` / ``2.5億円``; ``¥15M`` / ``¥500K``."""
    sign = "-" if amount < 0 else ""
    whole = abs(amount)
    number, unit = f"{whole:,}", ""
    for size, name in JA_UNITS if locale == "ja" else EN_UNITS:
        if whole >= size:
            scaled = whole / size
            number = f"{round(scaled):,}" if scaled >= 100 else f"{scaled:.3g}"
            unit = name
            break
    return f"{sign}{number}{unit}円" if locale == "ja" else f"{sign}¥{number}{unit}"


def nice_step(span: int) -> int:
    """The smallest step of 1, 2, 2.5 or 5 × 10ⁿ yen (at least 1万) that ``TICKS`` steps
    reach ``span`` with."""
    need = max(span / TICKS, 10_000)
    power = 1
    while power * 10 <= need:
        power *= 10
    for factor in NICE_STEPS:
        if power * factor >= need:
            return round(power * factor)
    return power * 10  # pragma: no cover - the last factor always reaches


def month_label(month: date, locale: str) -> str:
    return format_date(month, "M月" if locale == "ja" else "MMM", locale=locale)


def long_month_label(month: date, locale: str) -> str:
    """The month with its year, as tables and captions name it: 2026年4月 / Apr 2026."""
    return format_date(month, "y年M月" if locale == "ja" else "MMM y", locale=locale)


def year_label(month: date, locale: str) -> str:
    return format_date(month, "y年" if locale == "ja" else "y", locale=locale)


def chart(forecast: Forecast, locale: str) -> Chart:
    """The bars of ``forecast``'s totals, month by month, in a ``WIDTH`` × ``HEIGHT`` box."""
    months = forecast.total.months
    previous = forecast.total.previous_months
    tallest = max(
        [f.get(m) for f in months for m in MEASURES] + [f.won for f in previous], default=0
    )
    step = nice_step(tallest)
    top_value = step * TICKS
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def y_of(value: int) -> float:
        return round(bottom - (bottom - top) * value / top_value, 1)

    group_width = (right - left) / max(len(months), 1)
    bar_width = group_width * (1 - GROUP_GAP) / len(MEASURES)
    groups: list[Group] = []
    for index, (month, figures) in enumerate(zip(forecast.months, months, strict=True)):
        start = left + group_width * index + group_width * GROUP_GAP / 2
        bars = tuple(
            Bar(
                measure,
                figures.get(measure),
                x=round(start + bar_width * position, 1),
                y=y_of(figures.get(measure)),
                width=round(bar_width, 1),
                height=round(bottom - y_of(figures.get(measure)), 1),
            )
            for position, measure in enumerate(MEASURES)
        )
        before = previous[index].won
        marker = Marker(
            before, round(start, 1), round(start + bar_width * len(MEASURES), 1), y_of(before)
        )
        groups.append(
            Group(
                month=month,
                label=month_label(month, locale),
                year=year_label(month, locale) if index == 0 or month.month == 1 else None,
                center=round(left + group_width * (index + 0.5), 1),
                bars=bars,
                previous=marker,
            )
        )
    ticks = tuple(Tick(y_of(step * i), short_yen(step * i, locale)) for i in range(TICKS + 1))
    return Chart(WIDTH, HEIGHT, left, right, top, bottom, tuple(groups), ticks)
