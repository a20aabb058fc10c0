"""Recurring schedules: create, update, delete, and what they will do next.

A schedule runs a job template for its clients (a list, and/or every client with a tag when
an occurrence runs) once per occurrence (workflow.recurrence: calendar periods, creation
times). The scheduler creates the jobs (workflow.occurrences); here the schedule's own state
is kept: `next_period`, the next occurrence whose jobs are to create, and `next_run_at`, when
it is due (null while paused, or once the last occurrence is done).

Where a schedule starts. Created, re-timed (frequency, interval, startsOn, endsOn, timezone or
leadDays changed) or resumed, a schedule starts at the first of its occurrences whose period
has not ended yet, in its timezone (Rule.current): the period under way still gets its jobs
(at once if their creation time has passed), periods that ended before are the past and get
none (create them by hand with createJobFromTemplate). So resuming skips the periods that
ended while the schedule was paused, and says so: `RecurringSchedule.skippedWhilePaused`
lists them (the last resume's, at most SKIPPED_SHOWN). A client never gets a second job for a
period of a schedule, whatever was changed: (schedule, client, period) is unique on job.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from models import Client, JobTemplate, RecurringSchedule, sql
from workflow import clock, recurrence, validation
from workflow.errors import invalid, not_found
from workflow.periods import Frequency, Period, parse
from workflow.recurrence import Occurrence, Rule
from workflow.scope import Scope
from workflow.templates import check_title_for
from workflow.unit import change

CLIENTS_MAX = 200  # clients listed by id; more: give them a tag
SCHEDULES_MAX = 500  # per firm
SKIPPED_SHOWN = 24
TIMING = ("frequency", "interval", "starts_on", "ends_on", "timezone", "lead_days")


def rule_of(schedule: RecurringSchedule) -> Rule:
    """The stored schedule's recurrence (checked when it was written)."""
    return Rule(
        Frequency(schedule.frequency),
        schedule.interval,
        schedule.starts_on,
        schedule.ends_on,
        recurrence.timezone(schedule.timezone),
        schedule.lead_days,
    )


def _place(schedule: RecurringSchedule, occurrence: Occurrence | None) -> None:
    """Make `occurrence` the schedule's next (None: no occurrence left)."""
    schedule.next_period = occurrence.period.label if occurrence else None
    schedule.next_run_at = occurrence.creates_at if occurrence and not schedule.paused else None


def _resumed_at(schedule: RecurringSchedule, rule: Rule, now: datetime) -> Occurrence | None:
    """Where the schedule goes on from when it runs again at `now`: the period under way (or
    the next), but never back before its own next occurrence."""
    current = rule.current(now)
    if schedule.next_period is None or current is None:
        return current
    stored = parse(schedule.next_period)
    if stored.frequency == rule.frequency and rule.includes(stored) and stored > current.period:
        return Occurrence(stored, rule.creates_at(stored))
    return current


def upcoming(schedule: RecurringSchedule, first: int) -> list[Occurrence]:
    """nextOccurrences: the schedule's next `first` occurrences (capped), from its next one, or
    from where it would resume now when paused."""
    rule = rule_of(schedule)
    if schedule.paused:
        start = _resumed_at(schedule, rule, clock.now())
        return rule.preview(start.period if start else None, first)
    period = parse(schedule.next_period) if schedule.next_period else None
    return rule.preview(period, first)


def _check_tag(tag: str | None) -> str | None:
    if tag is None or not tag.strip():
        return None
    return validation.name(tag, "clientTag", validation.TAG_MAX)


async def _clients(scope: Scope, client_ids: list[int]) -> list[int]:
    """The ids, de-duplicated, in order: all the firm's (another firm's is NOT_FOUND)."""
    unique = list(dict.fromkeys(client_ids))
    if len(unique) > CLIENTS_MAX:
        raise invalid("clientIds", f"at most {CLIENTS_MAX} clients; give more of them a clientTag")
    found = await sql.ids_of(scope.query(Client).filter(id__in=unique))
    if len(found) != len(unique):
        raise not_found("Client", "clientIds")
    return unique


def _check_targets(client_ids: list[int], client_tag: str | None) -> None:
    if not client_ids and client_tag is None:
        raise invalid("clientIds", "a schedule needs clientIds, a clientTag or both")


async def create_schedule(
    scope: Scope,
    template_id: int,
    *,
    frequency: Frequency,
    starts_on: date,
    timezone: str,
    client_ids: list[int] | None = None,
    client_tag: str | None = None,
    interval: int = 1,
    ends_on: date | None = None,
    lead_days: int = 0,
    paused: bool = False,
) -> RecurringSchedule:
    rule = recurrence.rule(frequency, interval, starts_on, ends_on, timezone, lead_days)
    tag = _check_tag(client_tag)
    async with change(scope):
        # locked: deleteJobTemplate checks under the same lock that no schedule uses it
        template = await scope.get(JobTemplate, template_id, field="templateId", lock=True)
        check_title_for(template.title_template, frequency, "templateId")
        ids = await _clients(scope, client_ids or [])
        _check_targets(ids, tag)
        # the firm's row, locked: its count of schedules holds under concurrent creates
        await sql.fetch('SELECT "id" FROM "firm" WHERE "id" = ? FOR UPDATE', [scope.firm_id])
        if await scope.query(RecurringSchedule).count() >= SCHEDULES_MAX:
            raise invalid("templateId", f"a firm has at most {SCHEDULES_MAX} recurring schedules")
        schedule = RecurringSchedule(
            firm_id=scope.firm_id,
            template_id=template_id,
            client_ids=ids,
            client_tag=tag,
            frequency=frequency.value,
            interval=interval,
            starts_on=starts_on,
            ends_on=ends_on,
            timezone=rule.zone.key,
            lead_days=lead_days,
            paused=paused,
            skipped_while_paused=[],
        )
        _place(schedule, rule.current(clock.now()))
        await schedule.save()
    return schedule


async def update_schedule(scope: Scope, schedule_id: int, **changes: Any) -> RecurringSchedule:
    """Change any of template_id, client_ids, client_tag, paused and the timing (TIMING): see
    the module's rules for where a re-timed or resumed schedule starts."""
    async with change(scope):
        schedule = await scope.get(RecurringSchedule, schedule_id, field="id", lock=True)
        was_paused = schedule.paused
        for field in TIMING:
            if field in changes and changes[field] is None and field != "ends_on":
                raise invalid(_camel(field), f"{_camel(field)} cannot be cleared")
        merged = {field: changes.get(field, getattr(schedule, field)) for field in TIMING}
        rule = recurrence.rule(
            Frequency(merged["frequency"]),
            merged["interval"],
            merged["starts_on"],
            merged["ends_on"],
            merged["timezone"],
            merged["lead_days"],
        )
        retimed = any(
            field in changes and changes[field] != getattr(schedule, field) for field in TIMING
        )
        if "template_id" in changes:
            if changes["template_id"] is None:
                raise invalid("templateId", "templateId cannot be cleared")
            schedule.template_id = changes["template_id"]
        if "template_id" in changes or "frequency" in changes:
            template = await scope.get(
                JobTemplate, schedule.template_id, field="templateId", lock=True
            )
            check_title_for(template.title_template, rule.frequency, "templateId")
        if "client_ids" in changes:
            schedule.client_ids = await _clients(scope, changes["client_ids"] or [])
        if "client_tag" in changes:
            schedule.client_tag = _check_tag(changes["client_tag"])
        _check_targets(schedule.client_ids, schedule.client_tag)
        for field in TIMING:
            setattr(schedule, field, merged[field])
        schedule.frequency = Frequency(merged["frequency"]).value
        schedule.timezone = rule.zone.key
        if changes.get("paused") is not None:
            schedule.paused = bool(changes["paused"])
        now = clock.now()
        if retimed:
            _place(schedule, rule.current(now))
        elif was_paused and not schedule.paused:
            start = _resumed_at(schedule, rule, now)
            schedule.skipped_while_paused = _skipped(schedule, rule, start)
            _place(schedule, start)
        else:
            occurrence = (
                Occurrence(p := parse(schedule.next_period), rule.creates_at(p))
                if schedule.next_period
                else None
            )
            _place(schedule, occurrence)
        await schedule.save()
    return schedule


def _skipped(schedule: RecurringSchedule, rule: Rule, resumed_at: Occurrence | None) -> list[str]:
    """The periods between the schedule's next one when it was paused and where it resumes:
    those that ended while it was paused, which get no jobs."""
    if schedule.next_period is None:
        return []
    stored = parse(schedule.next_period)
    if stored.frequency != rule.frequency or not rule.includes(stored):
        return []
    end: Period | None = resumed_at.period if resumed_at else None
    skipped: list[str] = []
    for occurrence in rule.occurrences(stored):
        if (end is not None and occurrence.period >= end) or len(skipped) >= SKIPPED_SHOWN:
            break
        skipped.append(occurrence.period.label)
    return skipped


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


async def delete_schedule(scope: Scope, schedule_id: int) -> None:
    """Delete a schedule; the jobs it created stay (their recurringSchedule becomes null)."""
    async with change(scope):
        schedule = await scope.get(RecurringSchedule, schedule_id, field="id", lock=True)
        await schedule.delete()
