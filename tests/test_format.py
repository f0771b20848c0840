"""Dates, times and yen as each reader expects them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from server.web.format import date_pref, local_date, local_time, yen
from server.web.templating import make_environment

# 2026-11-23 06:00 UTC is Monday 15:00 in Tokyo and Monday 01:00 in New York.
MOMENT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@dataclass
class Reader:
    locale: str = "ja"
    time_zone: str = "Asia/Tokyo"
    prefers_wareki: bool = False


def test_times_are_shown_in_the_readers_zone_and_language() -> None:
    assert local_time(MOMENT, Reader()) == "11月23日(月) 15:00"
    assert local_time(MOMENT, Reader(locale="en")) == "Mon 23 Nov 15:00"
    assert local_time(MOMENT, Reader(locale="en", time_zone="America/New_York")) == (
        "Mon 23 Nov 01:00"
    )


def test_a_time_without_offset_is_utc_and_nothing_shows_nothing() -> None:
    assert local_time(datetime(2026, 11, 23, 6, 0), Reader()) == "11月23日(月) 15:00"
    assert local_time("2026-11-23T06:00:00+00:00", Reader()) == "11月23日(月) 15:00"
    assert local_time(None, Reader()) == ""
    assert local_date("", Reader()) == ""


def test_an_unknown_zone_or_no_reader_falls_back_to_tokyo() -> None:
    assert local_time(MOMENT, Reader(time_zone="Mars/Olympus")) == "11月23日(月) 15:00"
    assert local_time(MOMENT) == "11月23日(月) 15:00"


def test_the_date_is_the_readers_local_date() -> None:
    late = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # already the 24th in Tokyo
    assert local_date(late, Reader()) == "11月24日(火)"
    assert local_date(late, Reader(locale="en", time_zone="Europe/London")) == "Mon 23 Nov"
    assert local_date(date(2026, 11, 23), Reader(locale="en")) == "Mon 23 Nov"


def test_dates_follow_the_wareki_preference() -> None:
    day = date(2025, 4, 1)
    assert date_pref(day, Reader()) == "2025年4月1日"
    assert date_pref(day, Reader(locale="en")) == "1 Apr 2025"
    assert date_pref(day, Reader(prefers_wareki=True)) == "令和7年4月1日"
    assert date_pref(date(2019, 5, 1), Reader(prefers_wareki=True)) == "令和元年5月1日"
    assert date_pref("2019-04-30", Reader(prefers_wareki=True)) == "平成31年4月30日"
    # Before 明治 there is no era to show: the Western year instead.
    assert date_pref(date(1800, 1, 1), Reader(prefers_wareki=True)) == "1800年1月1日"
    late = datetime(2019, 4, 30, 16, 0, tzinfo=UTC)  # 1 May in Tokyo: the new era
    assert date_pref(late, Reader(prefers_wareki=True)) == "令和元年5月1日"


def test_yen_the_japanese_way_and_the_english_way() -> None:
    assert yen(1234000, "ja") == "1,234,000円"
    assert yen(1234000, "en") == "¥1,234,000"
    assert yen(-5000, "ja") == "-5,000円"
    assert yen(-5000, "en") == "-¥5,000"
    assert yen(Decimal("1999.5"), "ja") == "2,000円"
    assert yen(0, "en") == "¥0"
    assert yen(None) == ""
    assert yen("abc") == "abc"


def test_templates_take_the_reader_from_the_page() -> None:
    env = make_environment()
    template = env.from_string(
        "{{ moment | local_time }}|{{ moment | local_date }}|{{ day | date_pref }}|{{ 1234 | yen }}"
    )
    ja = template.render(moment=MOMENT, day=date(2025, 4, 1), user=Reader(), locale="ja")
    assert ja == "11月23日(月) 15:00|11月23日(月)|2025年4月1日|1,234円"
    en = template.render(
        moment=MOMENT,
        day=date(2025, 4, 1),
        user=Reader(locale="en", prefers_wareki=True),
        locale="en",
    )
    assert en == "Mon 23 Nov 15:00|Mon 23 Nov|令和7年4月1日|¥1,234"
    anonymous = template.render(moment=MOMENT, day=date(2025, 4, 1), user=None, locale="en")
    assert anonymous == "Mon 23 Nov 15:00|Mon 23 Nov|1 Apr 2025|¥1,234"


def test_a_reader_can_be_named_in_the_template() -> None:
    env = make_environment()
    rendered = env.from_string("{{ moment | local_time(other) }}").render(
        moment=MOMENT, other=Reader(time_zone="America/New_York"), user=Reader(), locale="ja"
    )
    assert rendered == "11月23日(月) 1:00"
