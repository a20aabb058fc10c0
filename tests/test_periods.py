"""Periods (workflow.periods): labels, boundaries and stepping, for every frequency."""

from __future__ import annotations

from datetime import date

import pytest

from workflow.errors import DomainError
from workflow.periods import Frequency, Period, containing, parse


@pytest.mark.parametrize(
    ("label", "frequency", "start", "end"),
    [
        ("2026-03-15", Frequency.DAILY, date(2026, 3, 15), date(2026, 3, 15)),
        ("2026-W01", Frequency.WEEKLY, date(2025, 12, 29), date(2026, 1, 4)),
        ("2024-02", Frequency.MONTHLY, date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-Q4", Frequency.QUARTERLY, date(2026, 10, 1), date(2026, 12, 31)),
        ("2025", Frequency.YEARLY, date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_a_label_names_its_first_and_last_day_and_reads_back(
    label: str, frequency: Frequency, start: date, end: date
) -> None:
    period = parse(label)
    assert (period.frequency, period.start, period.end) == (frequency, start, end)
    assert period.label == label
    assert containing(frequency, end) == period


def test_an_iso_week_belongs_to_its_iso_year() -> None:
    week = parse("2026-W01")
    assert week.year == 2026 and week.start.year == 2025


@pytest.mark.parametrize(
    ("label", "count", "expected"),
    [
        ("2026-11", 3, "2027-02"),
        ("2026-Q1", -1, "2025-Q4"),
        ("2026-W52", 2, "2027-W01"),
        ("2026-12-31", 1, "2027-01-01"),
        ("2026", 2, "2028"),
    ],
)
def test_following_steps_whole_periods(label: str, count: int, expected: str) -> None:
    assert parse(label).following(count).label == expected


@pytest.mark.parametrize(
    "label", ["", "2026-13", "2026-Q5", "2026-W54", "2026-02-30", "0999", "3000-01", "26-03", "x"]
)
def test_a_label_that_names_no_period_is_refused(label: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse(label, "input.period")
    assert raised.value.field == "input.period"


def test_periods_order_by_start() -> None:
    assert sorted([parse("2026-03"), parse("2026-01")]) == [parse("2026-01"), parse("2026-03")]
    assert isinstance(parse(" 2026 "), Period)
