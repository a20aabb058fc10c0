"""Job templates: what a job made from one starts with (title placeholders, checklist, due
date, assignees), where it says it came from, and the bad input refused with nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from models import Job, JobEvent, JobTemplate, Priority, Task, User
from tests.factories import board, client, scope_of
from workflow import clock, templates
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm
from workflow.periods import parse
from workflow.templates import JOB_ASSIGNEES, ChecklistItem, DueRule
from workflow.unit import change

NOW = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


async def _staff(firm: NewFirm, name: str) -> User:
    return await User.create(firm_id=firm.firm.id, name=name, email=f"{name.lower()}@a.test")


async def test_a_job_from_a_template_starts_with_everything_it_says(firm_a: NewFirm) -> None:
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    pat, sam = await _staff(firm_a, "Pat"), await _staff(firm_a, "Sam")
    template = await templates.create_job_template(
        scope,
        "Monthly bookkeeping",
        pipeline.id,
        "{client.name}: {period.monthName} {period.year} books ({period})",
        stage_id=stages[1].id,
        tags=["bookkeeping"],
        priority=Priority.HIGH,
        assignee_ids=[sam.id, pat.id],
        checklist=[
            ChecklistItem("Request statements", "Bank and cards", JOB_ASSIGNEES, 3),
            ChecklistItem("Reconcile", assignee=sam.id),
            ChecklistItem("Review"),
        ],
        due_rule=DueRule(days_after_period_end=15),
    )
    acme = await client(firm_a, "Acme LLC")
    with clock.frozen(NOW):
        async with change(scope) as unit:
            made = await templates.create_job_from_template(
                unit, template, acme, parse("2026-01"), recurring_schedule_id=7
            )
    job = await Job.get(id=made.id)
    assert job.title == "Acme LLC: January 2026 books (2026-01)"
    assert (job.stage_id, job.priority, job.tags) == (stages[1].id, Priority.HIGH, ["bookkeeping"])
    assert (job.period, job.template_id, job.due_date) == (
        "2026-01",
        template.id,
        date(2026, 2, 15),
    )
    assert sorted(u.id for u in await job.assignees.all()) == sorted([pat.id, sam.id])
    tasks = await Task.filter(job_id=job.id).order_by("id")
    assert [(t.title, t.assignee_id, t.due_date) for t in tasks] == [
        ("Request statements", pat.id, date(2026, 2, 13)),
        ("Request statements", sam.id, date(2026, 2, 13)),
        ("Reconcile", sam.id, None),
        ("Review", None, None),
    ]
    events = await JobEvent.filter(job_id=job.id).order_by("seq")
    assert [e.type for e in events] == ["JOB_CREATED"] + ["TASK_CHANGED"] * 4
    assert events[0].changes == {
        "template": template.id,
        "period": "2026-01",
        "recurring_schedule": 7,
    }


@pytest.mark.parametrize(
    ("rule", "period", "due"),
    [
        (DueRule(month=4, day=15), "2025", date(2026, 4, 15)),
        (DueRule(month=4, day=15), "2026-Q1", date(2026, 4, 15)),
        (DueRule(month=4, day=15), "2026-05", date(2027, 4, 15)),
        (DueRule(month=3, day=31), "2026-Q1", date(2026, 3, 31)),
        (DueRule(month=2, day=29), "2026", date(2027, 2, 28)),
        (DueRule(month=2, day=29), "2027", date(2028, 2, 29)),
        (DueRule(days_after_period_end=0), "2026-W05", date(2026, 2, 1)),
        (DueRule(days_after_period_end=30), "2026-02", date(2026, 3, 30)),
        (DueRule(days_after_period_end=30), None, date(2026, 3, 12)),
        (DueRule(month=1, day=31), None, date(2027, 1, 31)),
        (None, "2026-02", None),
    ],
)
def test_due_date_rules(rule: DueRule | None, period: str | None, due: date | None) -> None:
    made_on = date(2026, 2, 10)
    assert templates.due_date(rule, parse(period) if period else None, made_on) == due


@pytest.mark.parametrize(
    ("title", "period", "expected"),
    [
        ("{client.name} {period}", "2026-03-15", "Acme 2026-03-15"),
        ("Q{period.quarter} {period.year} payroll", "2026-Q2", "Q2 2026 payroll"),
        ("{period.month}/{period.year}", "2026-03", "03/2026"),
        ("{period.year} 1040", "2025", "2025 1040"),
        ("week {period}, {period.year}", "2026-W01", "week 2026-W01, 2026"),
        ("{client.name} review", None, "Acme review"),
    ],
)
def test_titles(title: str, period: str | None, expected: str) -> None:
    assert templates.render_title(title, "Acme", parse(period) if period else None) == expected


@pytest.mark.parametrize(
    ("title", "period"),
    [
        ("{period.monthName} books", "2025"),
        ("{period.month} books", "2026-Q1"),
        ("{period.month} books", "2026-W05"),
        ("{period.quarter} payroll", "2025"),
        ("{period} books", None),
    ],
)
def test_titles_that_need_what_the_period_lacks(title: str, period: str | None) -> None:
    with pytest.raises(DomainError) as refused:
        templates.render_title(title, "Acme", parse(period) if period else None)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "period")


def test_unknown_placeholders_are_named() -> None:
    with pytest.raises(DomainError) as refused:
        templates.check_title_template("{client.nam} {period.week} {period}")
    assert refused.value.field == "titleTemplate"
    assert "{client.nam}" in refused.value.message and "{period.week}" in refused.value.message


async def test_another_firms_template_or_client_is_not_found(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    pipeline, _ = await board(firm_a)
    template = await templates.create_job_template(
        scope_of(firm_a), "T", pipeline.id, "{client.name}"
    )
    theirs = await client(firm_b)
    with pytest.raises(DomainError) as refused:
        async with change(scope_of(firm_a)) as unit:
            await templates.create_job_from_template(unit, template, theirs, None)
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert not await Job.exists()
    assert await JobTemplate.filter(id=template.id).exists()
