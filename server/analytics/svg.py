"""Chart geometry for the analyses: every coordinate computed here, the templates only draw.

Two charts, each in a ``WIDTH`` × ``HEIGHT`` box that scales down to a phone's width:

- `bar_chart`: vertical bars, one per label, with an optional second series beside the first
  (two bars per label). The y axis starts at 0 and ends ``TICKS`` "nice" steps (1, 2, 2.5 or 5
  times a power of ten) above the tallest value; tick labels come from a formatter, by default
  `yen_ticks` (`server.deals.chart.short_yen`: 万/億 in Japanese, K/M/B in English).
  Drawn by ``analytics/_bars.svg``.
- `curve_chart`: a cumulative share curve (x: share of customers, y: share of revenue, both
  0–1) as a line over a filled area, with both axes in percent and a guide line at one share
  of y (80 % for the Pareto curve) down to where the curve reaches it. Drawn by
  ``analytics/_curve.svg``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Final

from server.deals.chart import short_yen

WIDTH: Final = 640
HEIGHT: Final = 320
LEFT: Final = 88  # room for the y axis labels
RIGHT: Final = 12
TOP: Final = 12
BOTTOM: Final = 40  # room for the labels under the bars
TICKS: Final = 4
GAP: Final = 0.25  # the share of a slot left empty around its bars
NICE_STEPS: Final = (1.0, 2.0, 2.5, 5.0, 10.0)

Formatter = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # y for the value axis, x for the share axis of a curve
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    series: int  # 0 or 1
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Slot:
    """The bars of one label."""

    label: str
    center: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    slots: tuple[Slot, ...]
    ticks: tuple[Tick, ...]
    series: int  # 1 or 2

    @property
    def label_x(self) -> float:
        return self.left - 6

    @property
    def label_y(self) -> float:
        return self.bottom + 22


def nice_step(span: float, ticks: int = TICKS, smallest: float = 1) -> float:
    """The smallest step of 1, 2, 2.5 or 5 × 10ⁿ (at least ``smallest``) that ``ticks`` steps
    reach ``span`` with."""
    need = max(span / ticks, smallest)
    power = 1.0
    while power * 10 <= need:
        power *= 10
    while power > need:
        power /= 10
    for factor in NICE_STEPS:
        if power * factor >= need:
            return power * factor
    return power * 10  # pragma: no cover - the last factor always reaches


def yen_ticks(locale: str) -> Formatter:
    """Tick labels as short yen amounts in ``locale``."""
    return partial(short_yen, locale=locale)


def count_ticks(value: int) -> str:
    """Tick labels as whole numbers: ``1,200``."""
    return f"{value:,}"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    second: Sequence[int] | None = None,
    formatter: Formatter = count_ticks,
) -> BarChart:
    """One bar per label (two with ``second``), scaled to the tallest value."""
    series = [list(values)] + ([list(second)] if second is not None else [])
    tallest = max((v for s in series for v in s), default=0)
    step = nice_step(tallest)
    top_value = step * TICKS
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * value / top_value, 1)

    slot_width = (right - left) / max(len(labels), 1)
    bar_width = slot_width * (1 - GAP) / len(series)
    slots = []
    for index, label in enumerate(labels):
        start = left + slot_width * index + slot_width * GAP / 2
        bars = tuple(
            Bar(
                number,
                s[index],
                x=round(start + bar_width * number, 1),
                y=y_of(s[index]),
                width=round(bar_width, 1),
                height=round(bottom - y_of(s[index]), 1),
            )
            for number, s in enumerate(series)
        )
        slots.append(Slot(label, round(left + slot_width * (index + 0.5), 1), bars))
    ticks = tuple(Tick(y_of(step * i), formatter(round(step * i))) for i in range(TICKS + 1))
    return BarChart(WIDTH, HEIGHT, left, right, top, bottom, tuple(slots), ticks, len(series))


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class CurveChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[Point, ...]  # in the box, from (0, 0)
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    guide_share: float  # the y share the guide marks (0.8)
    guide_y: float
    guide_x: float | None  # where the curve reaches the guide share; None if it never does
    guide_reach: float | None  # that point's x share (0–1)

    @property
    def line(self) -> str:
        """The ``points`` attribute of the curve's polyline."""
        return " ".join(f"{p.x},{p.y}" for p in self.points)

    @property
    def area(self) -> str:
        """The ``d`` attribute of the area under the curve."""
        if not self.points:
            return ""
        path = " ".join(f"L{p.x},{p.y}" for p in self.points[1:])
        first = self.points[0]
        return f"M{first.x},{first.y} {path} L{self.points[-1].x},{self.bottom} Z"

    @property
    def label_x(self) -> float:
        return self.left - 6

    @property
    def label_y(self) -> float:
        return self.bottom + 22


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def curve_chart(shares: Sequence[tuple[float, float]], guide: float = 0.8) -> CurveChart:
    """The cumulative curve through ``shares`` (x, y pairs from 0 to 1, x increasing); the
    curve starts at (0, 0). The guide's x is where the curve first reaches ``guide``,
    interpolated between the points around it."""
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def x_of(share: float) -> float:
        return round(left + (right - left) * share, 1)

    def y_of(share: float) -> float:
        return round(bottom - (bottom - top) * share, 1)

    pairs = [(0.0, 0.0), *shares]
    reach: float | None = None
    for (x0, y0), (x1, y1) in pairwise(pairs):
        if y1 >= guide > y0 or (y1 >= guide and y0 >= guide and x0 == 0):
            reach = x0 + (x1 - x0) * (guide - y0) / (y1 - y0) if y1 != y0 else x0
            break
    steps = [i / TICKS for i in range(TICKS + 1)]
    return CurveChart(
        WIDTH,
        HEIGHT,
        left,
        right,
        top,
        bottom,
        points=tuple(Point(x_of(x), y_of(y)) for x, y in pairs),
        x_ticks=tuple(Tick(x_of(s), percent(s)) for s in steps),
        y_ticks=tuple(Tick(y_of(s), percent(s)) for s in steps),
        guide_share=guide,
        guide_y=y_of(guide),
        guide_x=x_of(reach) if reach is not None else None,
        guide_reach=reach,
    )
