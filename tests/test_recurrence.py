"""Recurrence (workflow.recurrence): which periods a schedule has and when each one's jobs are
created, across DST changes, leap years and month ends. Pure: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from workflow.errors import DomainError
from workflow.periods import Frequency
from workflow.recurrence import PREVIEW_MAX, Rule, rule


def _labels(r: Rule, count: int = 100) -> list[str]:
    return [o.period.label for o in r.preview(r.first, count)]


def test_monthly_from_the_31st_is_every_calendar_month_february_included() -> None:
    r = rule(Frequency.MONTHLY, 1, date(2026, 1, 31), date(2026, 4, 30), "UTC", 0)
    assert _labels(r) == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [o.creates_at.date() for o in r.occurrences()] == [
        date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1),
    ]  # fmt: skip


def test_ends_on_counts_the_period_it_falls_in() -> None:
    r = rule(Frequency.QUARTERLY, 1, date(2026, 2, 10), date(2026, 7, 1), "UTC", 0)
    assert _labels(r) == ["2026-Q1", "2026-Q2", "2026-Q3"]
    same_day = rule(Frequency.YEARLY, 1, date(2026, 5, 5), date(2026, 5, 5), "UTC", 0)
    assert _labels(same_day) == ["2026"]


def test_an_interval_takes_every_nth_period() -> None:
    r = rule(Frequency.MONTHLY, 2, date(2026, 11, 3), date(2027, 6, 30), "UTC", 0)
    assert _labels(r) == ["2026-11", "2027-01", "2027-03", "2027-05"]
    assert r.includes(r.first.following(2)) and not r.includes(r.first.following(1))
    weeks = rule(Frequency.WEEKLY, 3, date(2026, 1, 1), date(2026, 2, 28), "UTC", 0)
    assert _labels(weeks) == ["2026-W01", "2026-W04", "2026-W07"]


def test_lead_days_move_the_creation_back_across_a_leap_day() -> None:
    r = rule(Frequency.MONTHLY, 1, date(2028, 3, 1), None, "UTC", 1)
    assert r.creates_at(r.first) == datetime(2028, 2, 29, tzinfo=UTC)
    yearly = rule(Frequency.YEARLY, 1, date(2024, 1, 1), date(2029, 1, 1), "UTC", 366)
    assert [o.creates_at.date() for o in yearly.occurrences()] == [
        date(2022, 12, 31),
        date(2024, 1, 1),
        date(2024, 12, 31),
        date(2025, 12, 31),
        date(2026, 12, 31),
        date(2028, 1, 1),
    ]  # fmt: skip (366 days before 1 January: a leap year between moves it a day)


def test_daily_occurrences_across_both_dst_changes_are_local_midnights_each_once() -> None:
    r = rule(Frequency.DAILY, 1, date(2026, 3, 6), date(2026, 11, 3), "America/New_York", 0)
    occurrences = list(r.occurrences())
    days = [o.period.start for o in occurrences]
    assert days == [date(2026, 3, 6) + timedelta(days=n) for n in range(len(days))]
    instants = [o.creates_at for o in occurrences]
    assert len(set(instants)) == len(instants) and instants == sorted(instants)
    local = [i.astimezone(r.zone) for i in instants]
    assert all(
        (t.hour, t.minute) == (0, 0) and t.date() == d for t, d in zip(local, days, strict=True)
    )
    by_day = dict(zip(days, instants, strict=True))
    # 8 March 2026 (spring forward) and 1 November 2026 (fall back): days of 23 and 25 hours
    assert by_day[date(2026, 3, 9)] - by_day[date(2026, 3, 8)] == timedelta(hours=23)
    assert by_day[date(2026, 11, 2)] - by_day[date(2026, 11, 1)] == timedelta(hours=25)
    assert by_day[date(2026, 3, 6)] == datetime(2026, 3, 6, 5, tzinfo=UTC)  # EST
    assert by_day[date(2026, 3, 10)] == datetime(2026, 3, 10, 4, tzinfo=UTC)  # EDT


def test_a_local_midnight_that_does_not_exist_is_when_that_day_begins() -> None:
    # Santiago springs forward at 24:00 on the first Saturday of September: 7 Sep 2025 has no
    # 00:00 (the clocks go from 23:59:59 to 01:00)
    r = rule(Frequency.DAILY, 1, date(2025, 9, 5), date(2025, 9, 9), "America/Santiago", 0)
    instants = [o.creates_at for o in r.occurrences()]
    assert instants == sorted(set(instants)) and len(instants) == 5
    assert instants[2] == datetime(2025, 9, 7, 4, tzinfo=UTC)  # 01:00 -03, the day's start


def test_current_is_the_first_period_not_yet_ended_in_the_schedules_zone() -> None:
    r = rule(Frequency.MONTHLY, 3, date(2020, 1, 15), None, "Pacific/Auckland", 0)
    # 31 Dec 2025 20:00 UTC is 1 Jan 2026 in Auckland: December 2025 has ended there
    now = datetime(2025, 12, 31, 20, tzinfo=UTC)
    current = r.current(now)
    assert current is not None and current.period.label == "2026-01"
    october = r.current(datetime(2025, 10, 30, 12, tzinfo=UTC))  # 31 October there
    assert october is not None and october.period.label == "2025-10"
    ended = rule(Frequency.YEARLY, 1, date(2020, 1, 1), date(2022, 6, 1), "UTC", 0)
    assert ended.current(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_the_preview_is_capped_and_stops_at_the_last_period() -> None:
    r = rule(Frequency.DAILY, 1, date(2026, 1, 1), None, "UTC", 0)
    assert len(r.preview(r.first, 10_000)) == PREVIEW_MAX
    assert r.preview(r.first, -1) == [] and r.preview(None, 5) == []
    last = rule(Frequency.YEARLY, 10, date(2990, 1, 1), None, "UTC", 0)
    assert _labels(last) == ["2990"]  # 3000 is past the last year a period may have


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((Frequency.MONTHLY, 0, date(2026, 1, 1), None, "UTC", 0), "input.interval"),
        ((Frequency.MONTHLY, 61, date(2026, 1, 1), None, "UTC", 0), "input.interval"),
        ((Frequency.DAILY, 10**9, date(2026, 1, 1), None, "UTC", 0), "input.interval"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 2), date(2026, 1, 1), "UTC", 0), "input.endsOn"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "Mars/Olympus", 0), "input.timezone"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "/etc/localtime", 0), "input.timezone"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "EST5EDT,M3.2.0", 0), "input.timezone"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "", 0), "input.timezone"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "UTC", -1), "input.leadDays"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), None, "UTC", 367), "input.leadDays"),
        ((Frequency.MONTHLY, 1, date(1, 1, 1), None, "UTC", 0), "input.startsOn"),
        ((Frequency.MONTHLY, 1, date(2026, 1, 1), date(9999, 1, 1), "UTC", 0), "input.endsOn"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(DomainError) as raised:
        rule(*args, prefix="input.")  # type: ignore[arg-type]
    assert raised.value.field == field
