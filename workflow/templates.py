"""Job templates: create, change, delete, and make jobs from them.

A template fixes what a job made from it starts with: its pipeline and stage, a title written
with placeholders, tags, priority, assignees, a checklist of tasks and a due-date rule. A job is
made from a template for one client and (usually) one period (workflow.periods), by hand
(createJobFromTemplate) or by a recurring schedule, through `create_job_from_template`, the same
path as createJob (workflow.jobs.new_job): same ranking, events, history and stage automations.

The rules, documented in docs/api.md (Job templates):

- Title placeholders: {client.name}, {period}, {period.year}, {period.quarter} (1-4),
  {period.month} (01-12), {period.monthName} (January), and {client.customFields.KEY} for each
  CLIENT custom field (empty while the client has no value; not the job's custom fields: a job
  made from a template has none yet). An unknown one is refused when the template is saved.
  The period ones need a period, and one that has that part: a year is in every period (a
  week's is its ISO year), a quarter only in a day, a month or a quarter, a month only in a
  day or a month (a week may straddle two). Otherwise making the job is refused (INVALID_INPUT
  on period). The title is cut at 200 characters.
- Due date: `days_after_period` days after the period's last day, or the first `due_month`/
  `due_day` on or after the period's last day (the 29th of February is the 28th in other
  years); without a period, counted from the day the job is made; no rule, no due date.
- Checklist: at most 50 tasks, each due `due_in_days` after the day the job is made (no due date
  without it), assigned to a person, to nobody, or to the job's assignees: as the CREATE_TASK
  automation does, one task for each of them (by id), or one unassigned if the job has none.
  So that a job starts with at most TASKS_MADE_MAX tasks, the checklist's tasks for the job's
  assignees count once per template assignee.
- Assignees who have been deactivated since are left out (of the job and of its tasks).
- Deleting a template leaves the jobs made from it (their template becomes null).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Literal

from models import (
    Client,
    CustomFieldEntity,
    Job,
    JobTemplate,
    Priority,
    RecurringSchedule,
    Stage,
    User,
    sql,
)
from workflow import clock, custom_fields, validation
from workflow.errors import DomainError, ErrorCode, invalid, not_found
from workflow.jobs import Places, new_job
from workflow.periods import Frequency, Period, month_name
from workflow.scope import Scope
from workflow.tasks import add_task
from workflow.unit import Change, change

TEMPLATES_MAX = 500  # per firm
CHECKLIST_MAX = 50
ASSIGNEES_MAX = 20
TASKS_MADE_MAX = 100  # the tasks a job made from a template starts with, at most
TASK_DESCRIPTION_MAX = 2_000
DAYS_MAX = 3_650  # dueInDays and daysAfterPeriodEnd: ten years
# A checklist task assigned to the job's assignee (rather than to a person or to nobody).
JOB_ASSIGNEES: Final = "JOB_ASSIGNEES"

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")  # as in workflow.documents
PLACEHOLDERS = (
    "client.name",
    "period",
    "period.year",
    "period.quarter",
    "period.month",
    "period.monthName",
)
# The frequencies whose periods have each part (a year: all of them).
_HAS = {
    "period.quarter": {Frequency.DAILY, Frequency.MONTHLY, Frequency.QUARTERLY},
    "period.month": {Frequency.DAILY, Frequency.MONTHLY},
    "period.monthName": {Frequency.DAILY, Frequency.MONTHLY},
}


@dataclass(frozen=True)
class ChecklistItem:
    """A task every job made from the template starts with."""

    title: str
    description: str = ""
    # a user id, JOB_ASSIGNEES (one task for each of the job's assignees), or None (nobody)
    assignee: int | Literal["JOB_ASSIGNEES"] | None = None
    due_in_days: int | None = None

    def stored(self) -> dict[str, Any]:
        assignee = {"user": self.assignee} if isinstance(self.assignee, int) else self.assignee
        return {
            "title": self.title,
            "description": self.description,
            "assignee": assignee,
            "due_in_days": self.due_in_days,
        }

    @staticmethod
    def from_stored(item: dict[str, Any]) -> ChecklistItem:
        assignee = item.get("assignee")
        return ChecklistItem(
            title=str(item["title"]),
            description=str(item.get("description") or ""),
            assignee=assignee["user"] if isinstance(assignee, dict) else assignee,
            due_in_days=item.get("due_in_days"),
        )


@dataclass(frozen=True)
class DueRule:
    """Either `days_after_period_end`, or `month` and `day` (see the module)."""

    days_after_period_end: int | None = None
    month: int | None = None
    day: int | None = None


def checklist_of(template: JobTemplate) -> list[ChecklistItem]:
    return [ChecklistItem.from_stored(item) for item in template.checklist]


def due_rule_of(template: JobTemplate) -> DueRule | None:
    if template.due_days_after_period is not None:
        return DueRule(days_after_period_end=template.due_days_after_period)
    if template.due_month is not None:
        return DueRule(month=template.due_month, day=template.due_day)
    return None


# Checks of what is saved -------------------------------------------------------------------


async def check_title_template(scope: Scope, text: str, field: str = "titleTemplate") -> str:
    """A title template whose placeholders are all known (the firm's CLIENT custom fields
    read only if it names one): refused when saved, not when run."""
    cleaned = validation.name(text, field)
    known: set[str] = set(PLACEHOLDERS)
    if custom_fields.CLIENT_PREFIX in cleaned:
        known |= await custom_fields.placeholder_names(scope, CustomFieldEntity.CLIENT)
    if unknown := sorted({n for n in PLACEHOLDER.findall(cleaned) if n not in known}):
        names = ", ".join("{" + name + "}" for name in unknown)
        raise invalid(
            field,
            f"unknown placeholders {names}; use "
            + ", ".join("{" + name + "}" for name in PLACEHOLDERS)
            + ", {client.customFields.KEY} (a CLIENT custom field)",
        )
    return cleaned


def check_title_for(title_template: str, frequency: Frequency | None, field: str) -> None:
    """INVALID_INPUT on `field` if the title needs a part that periods of `frequency` (None: no
    period) lack; recurring schedules check their template with it when saved."""
    for name in dict.fromkeys(PLACEHOLDER.findall(title_template)):
        if not name.startswith("period"):
            continue
        if frequency is None:
            raise invalid(field, f"the title uses {{{name}}}: give a period")
        if name in _HAS and frequency not in _HAS[name]:
            raise invalid(
                field,
                f"a {frequency.lower()} period has no single {name.split('.')[1]}, "
                f"and the title uses {{{name}}}",
            )


def render_title(title_template: str, client: Client, period: Period | None) -> str:
    """The title of a job for this client and period (INVALID_INPUT on period if the title
    needs a part the period lacks). A custom field placeholder the client has no value for
    (or whose definition was deleted since) is empty."""
    check_title_for(title_template, period.frequency if period else None, "period")
    values: dict[str, str] = {"client.name": client.name}
    values |= custom_fields.placeholder_values(None, client)
    if period is not None:
        values |= {
            "period": period.label,
            "period.year": str(period.year),
            "period.quarter": str(period.quarter),
            "period.month": f"{period.start.month:02d}",
            "period.monthName": month_name(period.start.month),
        }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith(custom_fields.CLIENT_PREFIX):
            return values.get(name, "")
        return values.get(name, match.group(0))

    title = PLACEHOLDER.sub(value, title_template)
    return validation.name(title[: validation.NAME_MAX], "titleTemplate")


def check_due_rule(rule: DueRule | None, field: str = "dueDateRule") -> DueRule | None:
    if rule is None:
        return None
    days, month, day = rule.days_after_period_end, rule.month, rule.day
    if days is not None:
        if month is not None or day is not None:
            raise invalid(field, f"{field}: either daysAfterPeriodEnd, or month and day, not both")
        if not 0 <= days <= DAYS_MAX:
            raise invalid(field, f"{field}.daysAfterPeriodEnd must be between 0 and {DAYS_MAX}")
        return rule
    if month is None or day is None:
        raise invalid(field, f"{field}: give daysAfterPeriodEnd, or month and day")
    if not 1 <= month <= 12:
        raise invalid(field, f"{field}.month must be between 1 and 12")
    longest = calendar.monthrange(2000, month)[1]  # a leap year: February 29 is a date
    if not 1 <= day <= longest:
        raise invalid(field, f"{field}.day must be between 1 and {longest} in month {month}")
    return rule


def due_date(rule: DueRule | None, period: Period | None, made_on: date) -> date | None:
    """The due date of a job made on `made_on` for `period` (see the module)."""
    if rule is None:
        return None
    anchor = period.end if period is not None else made_on
    if rule.days_after_period_end is not None:
        return anchor + timedelta(days=rule.days_after_period_end)
    assert rule.month is not None and rule.day is not None
    for year in (anchor.year, anchor.year + 1):
        last = calendar.monthrange(year, rule.month)[1]
        candidate = date(year, rule.month, min(rule.day, last))
        if candidate >= anchor:
            return candidate
    raise AssertionError("a month and day come round within a year")


def check_checklist(
    items: Sequence[ChecklistItem], field: str = "checklist"
) -> list[ChecklistItem]:
    if len(items) > CHECKLIST_MAX:
        raise invalid(field, f"a checklist has at most {CHECKLIST_MAX} tasks")
    checked = []
    for number, item in enumerate(items, 1):
        where = f"{field} task {number}"
        try:
            title = validation.name(item.title, "title")
            description = validation.text(
                item.description or "", "description", TASK_DESCRIPTION_MAX
            )
        except DomainError as error:  # the field is the list: say which task
            raise invalid(field, f"{where}: {error.message}") from None
        if item.due_in_days is not None and not 0 <= item.due_in_days <= DAYS_MAX:
            raise invalid(field, f"{where}: dueInDays must be between 0 and {DAYS_MAX}")
        if item.assignee is not None and not isinstance(item.assignee, int):
            if item.assignee != JOB_ASSIGNEES:
                raise invalid(field, f"{where}: an assignee is a person or {JOB_ASSIGNEES}")
        checked.append(ChecklistItem(title, description, item.assignee, item.due_in_days))
    return checked


async def _active_users(scope: Scope, user_ids: Sequence[int], field: str) -> list[int]:
    """The ids, each an active user of the firm, or NOT_FOUND on `field`."""
    wanted = set(user_ids)
    if not wanted:
        return []
    found = (
        await scope.query(User).filter(id__in=wanted, is_active=True).values_list("id", flat=True)
    )
    if len(found) != len(wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", field)
    return sorted(wanted)


async def _stage_in(scope: Scope, pipeline_id: int, stage_id: int | None) -> int | None:
    if stage_id is None:
        return None
    stage = await scope.get(Stage, stage_id, field="stageId")
    if stage.pipeline_id != pipeline_id:
        raise DomainError(
            ErrorCode.WRONG_PIPELINE, "the stage belongs to another pipeline", "stageId"
        )
    return stage.id


def _check_tasks_made(items: Sequence[ChecklistItem], assignees: int) -> None:
    made = sum(max(assignees, 1) if i.assignee == JOB_ASSIGNEES else 1 for i in items)
    if made > TASKS_MADE_MAX:
        raise invalid(
            "checklist",
            f"a job made from this template would start with {made} tasks (its tasks for the "
            f"job's assignees count once per assignee): at most {TASKS_MADE_MAX}",
        )


def _assignee_ids(assignee_ids: Sequence[int] | None) -> list[int]:
    ids = list(dict.fromkeys(assignee_ids or []))
    if len(ids) > ASSIGNEES_MAX:
        raise invalid("assigneeIds", f"a template has at most {ASSIGNEES_MAX} assignees")
    return ids


# Create, change, delete --------------------------------------------------------------------


async def create_job_template(
    scope: Scope,
    name: str,
    pipeline_id: int,
    title_template: str,
    *,
    stage_id: int | None = None,
    tags: list[str] | None = None,
    priority: Priority = Priority.NORMAL,
    assignee_ids: Sequence[int] | None = None,
    checklist: Sequence[ChecklistItem] | None = None,
    due_rule: DueRule | None = None,
) -> JobTemplate:
    clean_name = validation.name(name, "name")
    clean_title = await check_title_template(scope, title_template)
    clean_tags = validation.tags(tags or [])
    people = _assignee_ids(assignee_ids)
    items = check_checklist(checklist or [])
    rule = check_due_rule(due_rule)
    _check_tasks_made(items, len(people))
    async with change(scope) as unit:
        # the firm's row, locked: its count of templates holds under concurrent creates; then
        # the pipeline's (the firm's row comes before pipelines': workflow.unit)
        await sql.fetch('SELECT "id" FROM "firm" WHERE "id" = ? FOR UPDATE', [scope.firm_id])
        await unit.lock_pipelines([pipeline_id], field="pipelineId")
        stage = await _stage_in(scope, pipeline_id, stage_id)
        await _active_users(scope, people, "assigneeIds")
        await _active_users(
            scope, [i.assignee for i in items if isinstance(i.assignee, int)], "checklist"
        )
        if await scope.query(JobTemplate).count() >= TEMPLATES_MAX:
            raise invalid("name", f"a firm has at most {TEMPLATES_MAX} job templates")
        template = await JobTemplate.create(
            firm_id=scope.firm_id,
            name=clean_name,
            pipeline_id=pipeline_id,
            stage_id=stage,
            title_template=clean_title,
            tags=clean_tags,
            priority=priority,
            checklist=[item.stored() for item in items],
            due_days_after_period=rule.days_after_period_end if rule else None,
            due_month=rule.month if rule else None,
            due_day=rule.day if rule else None,
        )
        if people:
            await template.assignees.add(*await User.filter(id__in=people))
    return template


def _rule_columns(rule: DueRule | None) -> dict[str, int | None]:
    return {
        "due_days_after_period": rule.days_after_period_end if rule else None,
        "due_month": rule.month if rule else None,
        "due_day": rule.day if rule else None,
    }


UPDATABLE = {
    "name",
    "pipeline_id",
    "stage_id",
    "title_template",
    "tags",
    "priority",
    "assignee_ids",
    "checklist",
    "due_rule",
}


async def update_job_template(scope: Scope, template_id: int, **changes: Any) -> JobTemplate:
    """Change any of UPDATABLE. stage_id None: the pipeline's first stage; due_rule None: no due
    date. A new pipeline without a stage_id starts jobs in its first stage."""
    if unknown := set(changes) - UPDATABLE:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "name" in changes:
        changes["name"] = validation.name(changes["name"], "name")
    if "title_template" in changes:
        changes["title_template"] = await check_title_template(scope, changes["title_template"])
    if "tags" in changes:
        changes["tags"] = validation.tags(changes["tags"] or [])
    if "priority" in changes and changes["priority"] is None:
        raise invalid("priority", "priority cannot be null")
    people = _assignee_ids(changes.pop("assignee_ids")) if "assignee_ids" in changes else None
    if "checklist" in changes:
        changes["checklist"] = check_checklist(changes["checklist"] or [])
    if "due_rule" in changes:
        changes.update(_rule_columns(check_due_rule(changes.pop("due_rule"))))
    template = await scope.get(JobTemplate, template_id, field="id")
    async with change(scope) as unit:
        pipeline_id = changes.get("pipeline_id", template.pipeline_id)
        await unit.lock_pipelines({template.pipeline_id, pipeline_id}, field="pipelineId")
        template = await scope.get(JobTemplate, template_id, field="id", lock=True)
        if pipeline_id != template.pipeline_id and "stage_id" not in changes:
            changes["stage_id"] = None
        if "title_template" in changes:  # the periods of the schedules that use it have its parts
            used = RecurringSchedule.filter(template_id=template.id)
            for schedule in await used.only("id", "frequency"):
                check_title_for(
                    changes["title_template"], Frequency(schedule.frequency), "titleTemplate"
                )
        if "stage_id" in changes:
            changes["stage_id"] = await _stage_in(scope, pipeline_id, changes["stage_id"])
        if "checklist" in changes:
            items = changes["checklist"]
            await _active_users(
                scope, [i.assignee for i in items if isinstance(i.assignee, int)], "checklist"
            )
        if "checklist" in changes or people is not None:
            _check_tasks_made(
                changes.get("checklist", checklist_of(template)),
                len(people if people is not None else await template.assignees.all()),
            )
        if "checklist" in changes:
            changes["checklist"] = [item.stored() for item in changes["checklist"]]
        if people is not None:
            await _active_users(scope, people, "assigneeIds")
            await template.assignees.clear()
            if people:
                await template.assignees.add(*await User.filter(id__in=people))
        template.update_from_dict(changes)
        await template.save(update_fields=[*changes, "updated_at"])
    return template


async def delete_job_template(scope: Scope, template_id: int) -> None:
    """Delete a template; the jobs made from it stay (their template becomes null). One that
    recurring schedules use is refused: delete them, or give them another template, first."""
    async with change(scope):
        template = await scope.get(JobTemplate, template_id, field="id", lock=True)
        # under the template's lock, which creating or re-pointing a schedule takes too
        if used := await RecurringSchedule.filter(template_id=template.id).count():
            raise invalid(
                "id",
                f"{used} recurring schedule(s) use this template: delete them or give them "
                "another template first",
            )
        await template.delete()


# Jobs from templates -----------------------------------------------------------------------


async def create_job_from_template(
    unit: Change,
    template: JobTemplate,
    client: Client,
    period: Period | None,
    *,
    recurring_schedule_id: int | None = None,
    history: dict[str, Any] | None = None,
    places: Places | None = None,
) -> Job:
    """Make a job from `template` for `client` and `period`, inside `unit` (createJob's path,
    workflow.jobs.new_job): its title, tags, priority, assignees and due date, its checklist's
    tasks, and a JOB_CREATED event that says where it came from ({"template", "period",
    "recurring_schedule"}). DomainErrors as createJob's (NOT_FOUND, WIP_LIMIT_REACHED, ...) and
    INVALID_INPUT on period if the title needs a part the period lacks. `places`: the
    template's stage as a bulk call (createJobs) read it once (workflow.jobs.Places)."""
    firm_id = unit.scope.firm_id
    if template.firm_id != firm_id:
        raise not_found("JobTemplate", "templateId")
    if client.firm_id != firm_id:
        raise not_found("Client", "clientId")
    title = render_title(template.title_template, client, period)
    made_on = clock.now().date()
    items = checklist_of(template)
    # Read before new_job writes the job: the fewer statements after it, the shorter its locks.
    assignees = sorted(await sql.ids_of(template.assignees.filter(is_active=True)))
    named = {item.assignee for item in items if isinstance(item.assignee, int)}
    active = (
        await sql.ids_of(User.filter(firm_id=firm_id, id__in=named, is_active=True))
        if named
        else set()
    )
    changes: dict[str, Any] = {"template": template.id, "period": period.label if period else None}
    if recurring_schedule_id is not None:
        changes["recurring_schedule"] = recurring_schedule_id
    changes |= history or {}  # a schedule's: when the job was due, and whether it is late

    async def add_checklist(job: Job) -> None:
        for item in items:
            people: list[int | None]
            if item.assignee == JOB_ASSIGNEES:
                people = [*assignees] or [None]
            else:
                people = [item.assignee if item.assignee in active else None]
            due = None if item.due_in_days is None else made_on + timedelta(item.due_in_days)
            for person in people:
                await add_task(unit, job, item.title, item.description, person, due)

    return await new_job(
        unit,
        template.pipeline_id,
        client.id,
        title,
        stage_id=template.stage_id,
        priority=template.priority,
        start_date=None,
        due_date=due_date(due_rule_of(template), period, made_on),
        tags=list(template.tags),
        assignee_ids=assignees,
        period=period.label if period else None,
        template_id=template.id,
        recurring_schedule_id=recurring_schedule_id,
        changes=changes,
        before_entry=add_checklist,
        places=places,
        client=None if places is None else (list(client.tags), client.custom_fields),
    )


async def create_job_from_template_ids(
    scope: Scope, template_id: int, client_id: int, period: Period | None
) -> Job:
    """createJobFromTemplate: the template and client of the caller's firm, in one change."""
    async with change(scope) as unit:
        template = await scope.get(JobTemplate, template_id, field="templateId")
        client = await scope.get(Client, client_id, field="clientId")
        return await create_job_from_template(unit, template, client, period)
