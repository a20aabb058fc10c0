"""Recurrence: when a recurring schedule's jobs are created. Pure date arithmetic, no database.

A schedule names a `frequency` (workflow.periods: DAILY, WEEKLY, MONTHLY, QUARTERLY, YEARLY),
an `interval` (every n-th period), `startsOn`, an optional `endsOn`, an IANA `timezone` and
`leadDays`. Its occurrences are calendar periods:

- The first is the period that contains `startsOn` (a schedule starting on 31 January is
  monthly from January: the day within the period only picks the period, so there is no
  "31st of February" to resolve, and a month without a 31st is never skipped).
- Then every `interval`-th period after it: monthly with interval 2 from January is January,
  March, May, ... (quarterly from a day in February: 2026-Q1, 2026-Q2, ...).
- The last is the one that contains `endsOn` (when given), so `endsOn` counts like
  `startsOn`: a period is in the schedule when it starts on or before `endsOn`.

Each occurrence's jobs are created at local midnight (CREATE_HOUR) of the day `leadDays`
before its period starts, in the schedule's timezone, as a UTC instant. The instant is
computed from the local date each time (zoneinfo), never by adding hours to the previous
instant: a DST change moves the instant by its hour, and every period still gets exactly one
instant, strictly after the previous period's (periods are at least a day apart). A local
midnight that does not exist (a zone whose clocks jump at midnight) is read with the offset
before the jump, which is the moment that local day begins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from workflow.errors import invalid
from workflow.periods import MAX_YEAR, MIN_YEAR, Frequency, Period, containing

CREATE_HOUR = 0  # local hour of the creation day at which an occurrence's jobs are created
LEAD_DAYS_MAX = 366
TIMEZONE_MAX = 64
# The largest interval per frequency: about ten years of yearly work, five of the others
# (a larger one is a typo, and would put a schedule's second occurrence past any plan).
INTERVAL_MAX = {
    Frequency.DAILY: 366,
    Frequency.WEEKLY: 104,
    Frequency.MONTHLY: 60,
    Frequency.QUARTERLY: 20,
    Frequency.YEARLY: 10,
}
PREVIEW_MAX = 100  # nextOccurrences(first:) at most


@dataclass(frozen=True)
class Occurrence:
    """One period of a schedule and the UTC instant its jobs are created at."""

    period: Period
    creates_at: datetime


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """The zone an IANA name ("America/New_York", "UTC") names; INVALID_INPUT otherwise.
    Only names of the installed database: no file paths, no POSIX TZ strings."""
    cleaned = name.strip()
    if len(cleaned) > TIMEZONE_MAX or cleaned not in _zone_names():
        raise invalid(
            field, f"{field} {cleaned[:TIMEZONE_MAX]!r} is not an IANA time zone name, such as "
            "America/New_York or UTC",
        )  # fmt: skip
    return ZoneInfo(cleaned)


@dataclass(frozen=True)
class Rule:
    """A schedule's recurrence, checked (build it with `rule`)."""

    frequency: Frequency
    interval: int
    starts_on: date
    ends_on: date | None
    zone: ZoneInfo
    lead_days: int

    @property
    def first(self) -> Period:
        return containing(self.frequency, self.starts_on)

    def creates_at(self, period: Period) -> datetime:
        """When the jobs of `period` are created (UTC): local CREATE_HOUR on the day
        `lead_days` before the period starts."""
        day = period.start - timedelta(days=self.lead_days)
        local = datetime.combine(day, time(CREATE_HOUR), tzinfo=self.zone)
        return local.astimezone(UTC)

    def includes(self, period: Period) -> bool:
        """Whether `period` is one of the schedule's occurrences."""
        if period.frequency != self.frequency or period < self.first:
            return False
        if self.ends_on is not None and period.start > self.ends_on:
            return False
        return self._steps_from_first(period) % self.interval == 0

    def _steps_from_first(self, period: Period) -> int:
        first = self.first
        match self.frequency:
            case Frequency.DAILY:
                return (period.start - first.start).days
            case Frequency.WEEKLY:
                return (period.start - first.start).days // 7
        months = (period.start.year - first.start.year) * 12 + period.start.month
        months -= first.start.month
        return (
            months
            // {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}[self.frequency]
        )

    def occurrences(self, starting: Period | None = None) -> Iterator[Occurrence]:
        """The occurrences in order, from the first (or from `starting`, one of them) to the
        last (endsOn), or forever without endsOn (up to the last year a period may have)."""
        period = self.first if starting is None else starting
        while period.start.year <= MAX_YEAR and (
            self.ends_on is None or period.start <= self.ends_on
        ):
            yield Occurrence(period, self.creates_at(period))
            period = period.following(self.interval)

    def after(self, period: Period) -> Occurrence | None:
        """The occurrence following `period` (an occurrence), or None after the last."""
        return next(self.occurrences(period.following(self.interval)), None)

    def current(self, now: datetime) -> Occurrence | None:
        """The first occurrence whose period has not ended at `now` (in the schedule's
        timezone): where a schedule starts when it is created, resumed or re-timed. Periods
        that ended before then are the past, not work to catch up on. None if none is left."""
        today = now.astimezone(self.zone).date()
        start = self.first
        if start.end < today:  # jump close to today rather than stepping from startsOn
            behind = self._steps_from_first(containing(self.frequency, today))
            start = start.following(max(0, behind // self.interval - 1) * self.interval)
        for occurrence in self.occurrences(start):
            if occurrence.period.end >= today:
                return occurrence
        return None

    def preview(self, starting: Period | None, first: int) -> list[Occurrence]:
        """At most `first` (capped at PREVIEW_MAX) occurrences from `starting`."""
        if starting is None:
            return []
        count = max(0, min(first, PREVIEW_MAX))
        result: list[Occurrence] = []
        for occurrence in self.occurrences(starting):
            if len(result) >= count:
                break
            result.append(occurrence)
        return result


def rule(
    frequency: Frequency,
    interval: int,
    starts_on: date,
    ends_on: date | None,
    timezone_name: str,
    lead_days: int,
    prefix: str = "",
) -> Rule:
    """A checked recurrence; an INVALID_INPUT DomainError naming the field (after `prefix`,
    e.g. "input.") that is wrong."""
    limit = INTERVAL_MAX[frequency]
    if not 1 <= interval <= limit:
        raise invalid(
            f"{prefix}interval",
            f"interval must be between 1 and {limit} for a {frequency.value} schedule",
        )
    for field, day in (("startsOn", starts_on), ("endsOn", ends_on)):
        if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
            raise invalid(f"{prefix}{field}", f"{field} must be in the years {MIN_YEAR}-{MAX_YEAR}")
    if ends_on is not None and ends_on < starts_on:
        raise invalid(f"{prefix}endsOn", "endsOn must not be before startsOn")
    if not 0 <= lead_days <= LEAD_DAYS_MAX:
        raise invalid(f"{prefix}leadDays", f"leadDays must be between 0 and {LEAD_DAYS_MAX}")
    zone = timezone(timezone_name, f"{prefix}timezone")
    return Rule(frequency, interval, starts_on, ends_on, zone, lead_days)
