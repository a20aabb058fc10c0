"""Periods: what a recurring job is for ("2026-03" bookkeeping, "2026-Q1" payroll, the "2025"
1040). Job templates fill titles from them, recurring schedules produce one per occurrence, and
a job keeps its own as `Job.period`.

A period is written as its label, one shape per frequency:

    DAILY      2026-03-15
    WEEKLY     2026-W05    (ISO 8601 weeks: Monday to Sunday; the year is the ISO year)
    MONTHLY    2026-03
    QUARTERLY  2026-Q1
    YEARLY     2026
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from workflow.errors import invalid


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


_LABELS = (
    (Frequency.DAILY, re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    (Frequency.WEEKLY, re.compile(r"^(\d{4})-W(\d{2})$")),
    (Frequency.MONTHLY, re.compile(r"^(\d{4})-(\d{2})$")),
    (Frequency.QUARTERLY, re.compile(r"^(\d{4})-Q([1-4])$")),
    (Frequency.YEARLY, re.compile(r"^(\d{4})$")),
)
MIN_YEAR, MAX_YEAR = 1900, 2999  # a period outside these years is a typo


@dataclass(frozen=True, order=True)
class Period:
    """One period: its first day and its frequency (which fixes its length)."""

    start: date
    frequency: Frequency

    @property
    def end(self) -> date:
        """Its last day (inclusive)."""
        return self.following().start - timedelta(days=1)

    @property
    def label(self) -> str:
        start = self.start
        match self.frequency:
            case Frequency.DAILY:
                return start.isoformat()
            case Frequency.WEEKLY:
                year, week, _ = start.isocalendar()
                return f"{year}-W{week:02d}"
            case Frequency.MONTHLY:
                return f"{start.year}-{start.month:02d}"
            case Frequency.QUARTERLY:
                return f"{start.year}-Q{self.quarter}"
            case Frequency.YEARLY:
                return str(start.year)

    @property
    def year(self) -> int:
        return (
            self.start.isocalendar()[0] if self.frequency == Frequency.WEEKLY else self.start.year
        )

    @property
    def quarter(self) -> int:
        return (self.start.month - 1) // 3 + 1

    def following(self, count: int = 1) -> Period:
        """The period `count` periods later (earlier when negative)."""
        match self.frequency:
            case Frequency.DAILY:
                return Period(self.start + timedelta(days=count), self.frequency)
            case Frequency.WEEKLY:
                return Period(self.start + timedelta(weeks=count), self.frequency)
        months = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}
        index = self.start.year * 12 + self.start.month - 1 + count * months[self.frequency]
        return Period(date(index // 12, index % 12 + 1, 1), self.frequency)

    def __str__(self) -> str:
        return self.label


def containing(frequency: Frequency, day: date) -> Period:
    """The period of this frequency that holds `day`."""
    match frequency:
        case Frequency.DAILY:
            start = day
        case Frequency.WEEKLY:
            start = day - timedelta(days=day.weekday())
        case Frequency.MONTHLY:
            start = day.replace(day=1)
        case Frequency.QUARTERLY:
            start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        case Frequency.YEARLY:
            start = date(day.year, 1, 1)
    return Period(start, frequency)


def parse(label: str, field: str = "period") -> Period:
    """The period a label names; an INVALID_INPUT DomainError on `field` if it names none."""
    text = label.strip()
    for frequency, pattern in _LABELS:
        if match := pattern.match(text):
            numbers = [int(group) for group in match.groups()]
            if not MIN_YEAR <= numbers[0] <= MAX_YEAR:
                raise invalid(field, f"{field} {text!r}: the year must be {MIN_YEAR}-{MAX_YEAR}")
            try:
                return _period(frequency, numbers)
            except ValueError:
                break
    raise invalid(
        field,
        f"{field} {text[:40]!r} is not a period: write 2026 (a year), 2026-Q1, 2026-03, "
        "2026-W05 (an ISO week) or 2026-03-15 (a day)",
    )


def _period(frequency: Frequency, numbers: list[int]) -> Period:
    match frequency:
        case Frequency.DAILY:
            return Period(date(*numbers), frequency)
        case Frequency.WEEKLY:
            return Period(date.fromisocalendar(numbers[0], numbers[1], 1), frequency)
        case Frequency.MONTHLY:
            return Period(date(numbers[0], numbers[1], 1), frequency)
        case Frequency.QUARTERLY:
            return Period(date(numbers[0], (numbers[1] - 1) * 3 + 1, 1), frequency)
        case Frequency.YEARLY:
            return Period(date(numbers[0], 1, 1), frequency)


def month_name(month: int) -> str:
    return calendar.month_name[month]
