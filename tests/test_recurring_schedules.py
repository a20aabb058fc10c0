"""Recurring schedules (workflow.schedules, workflow.occurrences, run by
automations.scheduler) with the clock moved by the test (workflow.clock): exactly the expected
jobs over two simulated years with tag changes, pausing and resuming, catching up after
downtime, the end date, and concurrent schedulers creating each job once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile
from typing import Any

import pytest

from automations import scheduler
from models import (
    Client,
    EventType,
    Job,
    JobEvent,
    JobTemplate,
    Pipeline,
    RecurringSchedule,
    Stage,
)
from tests.factories import board, scope_of
from workflow import clients, clock, occurrences, pipelines, schedules, templates
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm
from workflow.periods import Frequency
from workflow.scope import Scope

DAY = timedelta(days=1)
NY = "America/New_York"


@dataclass
class World:
    scope: Scope
    pipeline: Pipeline
    template: JobTemplate
    clients: dict[str, Client]


async def _world(firm: NewFirm, names: dict[str, list[str]] | None = None) -> World:
    scope = scope_of(firm)
    pipeline, _ = await board(firm, ("Collect", "Reconcile", "Review"), name="Bookkeeping")
    template = await templates.create_job_template(
        scope, "Bookkeeping", pipeline.id, "{client.name} – {period}"
    )
    names = names or {
        "avery": ["monthly", "quarterly"],
        "blue": ["monthly"],
        "carmen": ["quarterly"],
        "delta": [],
    }
    made = {
        name: await clients.create_client(scope, name.title(), None, tags)
        for name, tags in names.items()
    }
    return World(scope, pipeline, template, made)


async def _schedule(w: World, frequency: Frequency, **options: Any) -> RecurringSchedule:
    options.setdefault("starts_on", date(2026, 1, 1))
    options.setdefault("timezone", NY)
    return await schedules.create_schedule(w.scope, w.template.id, frequency=frequency, **options)


async def _jobs(schedule: RecurringSchedule | None = None) -> list[tuple[int | None, str, str]]:
    """(schedule, client name, period) of every job a schedule made, in creation order."""
    query = Job.filter(recurring_schedule_id__isnull=False)
    if schedule is not None:
        query = Job.filter(recurring_schedule_id=schedule.id)
    found = await query.order_by("id").prefetch_related("client")
    return [(j.recurring_schedule_id, j.client.name, str(j.period)) for j in found]


async def _set_tags(w: World, name: str, tags: list[str]) -> None:
    await clients.update_client(w.scope, w.clients[name].id, tags=tags)


async def _step_days(days: int, at_each: Callable[[datetime], Any] | None = None) -> int:
    """Move the clock a day at a time, running the scheduler after each step: jobs made."""
    made = 0
    for _ in range(days):
        now = clock.advance(DAY)
        if at_each is not None:
            await at_each(now)
        made += await scheduler.run_due()
    return made


async def test_two_years_of_monthly_quarterly_and_yearly_schedules_with_tag_changes(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a)
    # Created on 10 December 2025 (local), the schedules start with their first period.
    with clock.frozen(datetime(2025, 12, 10, 17, tzinfo=UTC)):
        monthly = await _schedule(w, Frequency.MONTHLY, client_tag="monthly", lead_days=3)
        quarterly = await _schedule(
            w, Frequency.QUARTERLY, client_tag="quarterly", client_ids=[w.clients["delta"].id],
            lead_days=10, ends_on=date(2027, 12, 31),
        )  # fmt: skip
        yearly = await _schedule(
            w, Frequency.YEARLY, client_ids=[w.clients["avery"].id, w.clients["blue"].id],
            lead_days=30, starts_on=date(2026, 3, 31),
        )  # fmt: skip
        assert monthly.next_period == "2026-01"
        assert monthly.next_run_at == datetime(2025, 12, 29, 5, tzinfo=UTC)  # midnight EST
        assert yearly.next_run_at == datetime(2025, 12, 2, 5, tzinfo=UTC)

        # Tags change mid-month, never on a day an occurrence runs: on 15 June 2026 blue
        # leaves the monthly work and carmen joins it; on 15 March 2027 avery leaves the
        # quarterly work.
        changes = {
            date(2026, 6, 15): [("blue", []), ("carmen", ["quarterly", "monthly"])],
            date(2027, 3, 15): [("avery", ["monthly"])],
        }

        async def change_tags(now: datetime) -> None:
            for name, tags in changes.get(now.date(), []):
                await _set_tags(w, name, tags)

        made = await _step_days((date(2028, 1, 10) - date(2025, 12, 10)).days, change_tags)

    def months(year: int, first: int = 1, last: int = 12) -> list[str]:
        return [f"{year}-{m:02d}" for m in range(first, last + 1)]

    expected = {(monthly.id, "Avery", p) for p in months(2026) + months(2027) + ["2028-01"]}
    # blue until June 2026's occurrence (created 29 May), carmen from July's (28 June)
    expected |= {(monthly.id, "Blue", p) for p in months(2026, 1, 6)}
    expected |= {(monthly.id, "Carmen", p) for p in months(2026, 7) + months(2027) + ["2028-01"]}
    quarters = [f"{y}-Q{q}" for y in (2026, 2027) for q in (1, 2, 3, 4)]
    expected |= {(quarterly.id, "Delta", q) for q in quarters}
    expected |= {(quarterly.id, "Carmen", q) for q in quarters}
    # avery: until 2027-Q2's occurrence (created 21 March 2027, after the change): Q1 2027 last
    expected |= {(quarterly.id, "Avery", q) for q in quarters[:5]}
    years = ("2026", "2027", "2028")
    expected |= {(yearly.id, name, y) for name in ("Avery", "Blue") for y in years}
    found = await _jobs()
    assert len(found) == len(set(found)) == made
    assert set(found) == expected
    # the quarterly schedule ended with 2027-Q4; the others go on
    assert (await RecurringSchedule.get(id=quarterly.id)).next_run_at is None
    assert (await RecurringSchedule.get(id=monthly.id)).next_period == "2028-02"
    # every job says where it came from, in its history too
    job = await Job.filter(recurring_schedule_id=yearly.id, period="2027").first()
    assert job is not None and job.title == "Avery – 2027"
    created = await JobEvent.get(job_id=job.id, type=EventType.JOB_CREATED)
    assert created.changes["recurring_schedule"] == yearly.id
    assert created.changes["period"] == "2027"


async def test_a_paused_schedule_creates_nothing_and_resumes_with_the_period_under_way(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a)
    with clock.frozen(datetime(2026, 1, 1, 12, tzinfo=UTC)):
        schedule = await _schedule(w, Frequency.MONTHLY, client_tag="monthly")
        assert await scheduler.run_due() == 2  # January: avery and blue, at once
        await _step_days(45)  # 15 February: February's made on the 1st
        assert [p for _, _, p in await _jobs()] == ["2026-01"] * 2 + ["2026-02"] * 2
        paused = await schedules.update_schedule(w.scope, schedule.id, paused=True)
        assert (paused.next_period, paused.next_run_at) == ("2026-03", None)
        assert await _step_days(90) == 0  # mid-May: March, April, May not made
        preview = schedules.upcoming(paused, 2)
        assert [o.period.label for o in preview] == ["2026-05", "2026-06"]
        resumed = await schedules.update_schedule(w.scope, schedule.id, paused=False)
        assert resumed.skipped_while_paused == ["2026-03", "2026-04"]
        assert resumed.next_period == "2026-05"
        assert await scheduler.run_due() == 2  # May, the month under way, at once
        await _step_days(20)  # June's on 1 June
    assert [p for _, _, p in await _jobs()] == [
        "2026-01", "2026-01", "2026-02", "2026-02", "2026-05", "2026-05", "2026-06", "2026-06",
    ]  # fmt: skip


async def test_a_week_of_downtime_is_caught_up_oldest_first_each_job_once_and_late(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a, {"avery": ["daily"], "blue": ["daily"]})
    start = datetime(2026, 3, 2, 5, tzinfo=UTC)  # Monday, midnight in New York
    with clock.frozen(start):
        daily = await _schedule(w, Frequency.DAILY, client_tag="daily", starts_on=start.date())
        weekly = await _schedule(
            w, Frequency.WEEKLY, client_ids=[w.clients["avery"].id], starts_on=start.date()
        )
        assert await scheduler.run_due() == 3  # today's two, this week's one: on time
        clock.advance(7 * DAY + timedelta(hours=6))  # no scheduler ran for a week
        assert await scheduler.run_due() == 2 * 7 + 1
        assert await scheduler.run_due() == 0
    daily_periods = [p for _, name, p in await _jobs(daily) if name == "Avery"]
    assert daily_periods == [(start.date() + n * DAY).isoformat() for n in range(8)]
    assert [p for _, _, p in await _jobs(weekly)] == ["2026-W10", "2026-W11"]
    events = await JobEvent.filter(type=EventType.JOB_CREATED).order_by("id")
    late = [e.changes["period"] for e in events if e.changes.get("late")]
    # everything after the first pass was late but the 9 March ones, run 6 hours after their time
    assert sorted(set(late)) == [f"2026-03-0{d}" for d in range(3, 10)] + ["2026-W11"]


async def test_catch_up_takes_at_most_n_occurrences_of_a_schedule_per_pass(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a, {"avery": []})
    start = datetime(2026, 3, 1, 5, tzinfo=UTC)
    with clock.frozen(start):
        await _schedule(
            w, Frequency.DAILY, client_ids=[w.clients["avery"].id], starts_on=start.date()
        )
        clock.advance(30 * DAY)
        per_pass = [await scheduler.run_due() for _ in range(4)]
    cap = occurrences.CATCH_UP_PER_PASS
    assert per_pass == [cap, cap, 31 - 2 * cap, 0]
    periods = [p for _, _, p in await _jobs()]
    assert periods == sorted(periods) and len(set(periods)) == 31


async def test_ends_on_is_the_last_period_and_a_late_start_makes_no_past_jobs(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a, {"avery": []})
    with clock.frozen(datetime(2026, 5, 20, tzinfo=UTC)):
        # starts in January, created in May: the past months are not made, May is
        schedule = await _schedule(
            w, Frequency.MONTHLY, client_ids=[w.clients["avery"].id], ends_on=date(2026, 7, 1)
        )
        await _step_days(100)
    assert [p for _, _, p in await _jobs()] == ["2026-05", "2026-06", "2026-07"]
    after = await RecurringSchedule.get(id=schedule.id)
    assert (after.next_period, after.next_run_at) == (None, None)
    assert schedules.upcoming(after, 5) == []


async def test_a_client_never_gets_a_second_job_for_a_period_whatever_is_changed(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a, {"avery": []})
    with clock.frozen(datetime(2026, 5, 20, tzinfo=UTC)):
        schedule = await _schedule(w, Frequency.MONTHLY, client_ids=[w.clients["avery"].id])
        assert await scheduler.run_due() == 1
        # re-timed: it starts again with the month under way, whose job exists
        await schedules.update_schedule(w.scope, schedule.id, lead_days=20, timezone="UTC")
        assert await scheduler.run_due() == 1  # June's (due 12 May, at once), not May's again
        await schedules.update_schedule(w.scope, schedule.id, paused=True)
        await schedules.update_schedule(w.scope, schedule.id, paused=False)
        assert await scheduler.run_due() == 0
    assert [p for _, _, p in await _jobs()] == ["2026-05", "2026-06"]


async def test_a_template_that_schedules_use_is_not_deleted(firm_a: NewFirm) -> None:
    w = await _world(firm_a, {"avery": []})
    schedule = await _schedule(w, Frequency.MONTHLY, client_ids=[w.clients["avery"].id])
    with pytest.raises(DomainError) as refused:
        await templates.delete_job_template(w.scope, w.template.id)
    assert refused.value.field == "id" and "recurring schedule" in refused.value.message
    await schedules.delete_schedule(w.scope, schedule.id)
    await templates.delete_job_template(w.scope, w.template.id)


async def test_bad_schedules_are_refused_and_write_nothing(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    w = await _world(firm_a, {"avery": []})
    other = await _world(firm_b, {"zed": []})
    avery = w.clients["avery"].id
    cases: list[tuple[dict[str, Any], str, ErrorCode]] = [
        ({"timezone": "Mars/Olympus"}, "timezone", ErrorCode.INVALID_INPUT),
        ({"ends_on": date(2025, 12, 31)}, "endsOn", ErrorCode.INVALID_INPUT),
        ({"interval": 0}, "interval", ErrorCode.INVALID_INPUT),
        ({"interval": 10**6}, "interval", ErrorCode.INVALID_INPUT),
        ({"lead_days": 400}, "leadDays", ErrorCode.INVALID_INPUT),
        ({"client_ids": [other.clients["zed"].id]}, "clientIds", ErrorCode.NOT_FOUND),
        ({"client_ids": [10**9]}, "clientIds", ErrorCode.NOT_FOUND),
        ({"client_ids": list(range(1, 300))}, "clientIds", ErrorCode.INVALID_INPUT),
        ({"client_ids": []}, "clientIds", ErrorCode.INVALID_INPUT),
        ({"client_tag": "x" * 51}, "clientTag", ErrorCode.INVALID_INPUT),
    ]
    for options, field, code in cases:
        options = {"client_ids": [avery], **options}
        with pytest.raises(DomainError) as refused:
            await _schedule(w, Frequency.MONTHLY, **options)
        assert (refused.value.field, refused.value.code) == (field, code), options
    with pytest.raises(DomainError) as refused:
        await schedules.create_schedule(
            w.scope, other.template.id, frequency=Frequency.MONTHLY,
            starts_on=date(2026, 1, 1), timezone="UTC", client_ids=[avery],
        )  # fmt: skip
    assert (refused.value.field, refused.value.code) == ("templateId", ErrorCode.NOT_FOUND)
    assert await RecurringSchedule.all().count() == 0


@pytest.mark.postgres_only
async def test_concurrent_schedulers_create_each_job_once(firm_a: NewFirm, firm_b: NewFirm) -> None:
    names = {f"client {n}": ["monthly"] for n in range(52)}  # more than a change's CHUNK
    worlds = [await _world(firm, names) for firm in (firm_a, firm_b)]
    made: list[RecurringSchedule] = []
    with clock.frozen(datetime(2025, 12, 31, 12, tzinfo=UTC)):
        for w in worlds:
            for lead in (0, 3):
                made.append(
                    await _schedule(w, Frequency.MONTHLY, client_tag="monthly", lead_days=lead)
                )
                made.append(
                    await _schedule(w, Frequency.WEEKLY, client_tag="monthly", lead_days=lead)
                )
        total = 0
        for _ in range(3):
            # four schedulers at once, each taking whatever it can claim
            total += sum(await asyncio.gather(*(occurrences.create_due_jobs() for _ in range(4))))
            found = await _jobs()
            assert len(found) == len(set(found)) == total
            clock.advance(8 * DAY)
        end = clock.now() - 8 * DAY  # the last pass's time
    expected = 0
    for schedule in made:
        rule = schedules.rule_of(schedule)
        start = rule.current(datetime(2025, 12, 31, 12, tzinfo=UTC))
        assert start is not None
        due = takewhile(lambda o: o.creates_at <= end, rule.occurrences(start.period))
        expected += 52 * len(list(due))
    assert total == expected


async def test_an_occurrence_whose_jobs_cannot_be_made_stays_due_whole(
    firm_a: NewFirm, caplog: pytest.LogCaptureFixture
) -> None:
    w = await _world(firm_a, {"avery": ["monthly"], "blue": ["monthly"]})
    first = await Stage.filter(pipeline_id=w.pipeline.id).order_by("position").first()
    assert first is not None
    await pipelines.update_stage(w.scope, first.id, wip_limit=1)
    with clock.frozen(datetime(2026, 1, 10, tzinfo=UTC)):
        schedule = await _schedule(w, Frequency.MONTHLY, client_tag="monthly")
        assert await scheduler.run_due() == 0  # the second job would pass the limit: neither
        assert await _jobs() == []
        assert "WIP_LIMIT_REACHED" in caplog.text
        assert (await RecurringSchedule.get(id=schedule.id)).next_period == "2026-01"
        await pipelines.update_stage(w.scope, first.id, wip_limit=None)
        assert await scheduler.run_due() == 2
    assert [p for _, _, p in await _jobs()] == ["2026-01", "2026-01"]
