"""Job templates: what a job made from one starts with (title placeholders, checklist, due
date, assignees), where it says it came from, and the bad input refused with nothing written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from automations import manage
from models import ActionType, Client, Job, JobEvent, JobTemplate, Priority, Task, User
from models.db import is_postgres
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, scope_of
from tests.mutations import document
from tests.test_bad_input import MISSING, refused
from workflow import clock, people, schedules, templates
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm
from workflow.global_ids import parse_global_id
from workflow.periods import Frequency, parse
from workflow.scope import Scope
from workflow.templates import JOB_ASSIGNEES, ChecklistItem, DueRule
from workflow.unit import change

# createJobFromTemplate without a checklist: token lookup; the template, the client, the
# template's active assignees and the checklist's; createJob's own (the pipeline, stage,
# client, assignees, rank, the job, its assignees (2), JOB_CREATED (numbered at COMMIT on
# PostgreSQL, after the pipeline's sequence on SQLite), the stage's automations, the client's
# tags, a run of its automation, webhook endpoints; the stage has no WIP limit to count again)
FROM_TEMPLATE_STATEMENTS = {"postgres": 18, "sqlite": 19}
# a task and its TASK_CHANGED event (numbered at COMMIT on PostgreSQL, after the pipeline's
# sequence on SQLite)
PER_TASK_STATEMENTS = {"postgres": 2, "sqlite": 3}
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
    schedule = await schedules.create_schedule(
        scope, template.id, frequency=Frequency.MONTHLY, starts_on=date(2026, 1, 1),
        timezone="UTC", client_ids=[acme.id], paused=True,
    )  # fmt: skip
    with clock.frozen(NOW):
        async with change(scope) as unit:
            made = await templates.create_job_from_template(
                unit, template, acme, parse("2026-01"), recurring_schedule_id=schedule.id
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
        "recurring_schedule": schedule.id,
    }
    assert job.recurring_schedule_id == schedule.id


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


ACME = Client(name="Acme")  # unsaved: the titles read only its name and custom fields
SOMEONE = Scope(firm_id=1, user_id=None)


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
    assert templates.render_title(title, ACME, parse(period) if period else None) == expected


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
        templates.render_title(title, ACME, parse(period) if period else None)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "period")


async def test_unknown_placeholders_are_named() -> None:
    with pytest.raises(DomainError) as refused:  # no custom field placeholder: nothing read
        await templates.check_title_template(SOMEONE, "{client.nam} {period.week} {period}")
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


# Over GraphQL ------------------------------------------------------------------------------

TEMPLATE_FIELDS = """id name titleTemplate tags priority
  pipeline { name } stage { name } assignees { name }
  checklist { title description assignToJobAssignees dueInDays assignee { name } }
  dueDateRule { daysAfterPeriodEnd month day }"""
CREATE = (
    "mutation($input: CreateJobTemplateInput!) { createJobTemplate(input: $input) { "
    f"jobTemplate {{ {TEMPLATE_FIELDS} }} errors {{ code field message }} }} }}"
)
UPDATE = (
    "mutation($input: UpdateJobTemplateInput!) { updateJobTemplate(input: $input) { "
    f"jobTemplate {{ {TEMPLATE_FIELDS} }} errors {{ code field message }} }} }}"
)
FROM_TEMPLATE = """mutation($input: CreateJobFromTemplateInput!) {
  createJobFromTemplate(input: $input) {
    job { id title period dueDate priority tags stage { name } assignees { name }
      tasks { edges { node { title dueDate assignee { name } } } }
      automationRuns { totalCount }
      history { edges { node { type changes } } } }
    errors { code field message } } }"""
DELETE = """mutation($input: DeleteJobTemplateInput!) {
  deleteJobTemplate(input: $input) { deletedId errors { code field message } } }"""


@dataclass
class Board:
    pipeline: str
    stages: list[str]
    other_stage: str  # of another pipeline
    client: str
    pat: str
    sam: str


@pytest.fixture
async def b(firm_a: NewFirm) -> Board:
    pipeline, stages = await board(firm_a, ("Intake", "Work", "Review"), name="Bookkeeping")
    _, others = await board(firm_a, ("Lead",), name="Leads")
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.CREATE_TASK, {"title": "Kick off"}
    )
    return Board(
        gid("Pipeline", pipeline.id),
        [gid("Stage", s.id) for s in stages],
        gid("Stage", others[0].id),
        gid("Client", (await client(firm_a, "Acme LLC")).id),
        gid("User", (await _staff(firm_a, "Pat")).id),
        gid("User", (await _staff(firm_a, "Sam")).id),
    )


def monthly(b: Board, **more: Any) -> dict[str, Any]:
    return {
        "name": "Monthly bookkeeping",
        "pipelineId": b.pipeline,
        "titleTemplate": "{client.name} books {period.monthName} {period.year}",
        "stageId": b.stages[1],
        "tags": ["books", "monthly"],
        "priority": "HIGH",
        "assigneeIds": [b.pat, b.sam],
        "checklist": [
            {"title": "Statements", "assignToJobAssignees": True, "dueInDays": 2},
            {"title": "Reconcile", "description": "All accounts", "assigneeId": b.sam},
        ],
        "dueDateRule": {"daysAfterPeriodEnd": 20},
        **more,
    }


async def test_templates_over_graphql(gql: GraphQL, b: Board) -> None:
    created = (await gql(CREATE, input=monthly(b)))["createJobTemplate"]
    assert created["errors"] == []
    template = created["jobTemplate"]
    assert template["stage"] == {"name": "Work"} and template["priority"] == "HIGH"
    assert template["assignees"] == [{"name": "Pat"}, {"name": "Sam"}]
    assert template["checklist"] == [
        {
            "title": "Statements",
            "description": "",
            "assignToJobAssignees": True,
            "dueInDays": 2,
            "assignee": None,
        },
        {
            "title": "Reconcile",
            "description": "All accounts",
            "assignToJobAssignees": False,
            "dueInDays": None,
            "assignee": {"name": "Sam"},
        },
    ]
    assert template["dueDateRule"] == {"daysAfterPeriodEnd": 20, "month": None, "day": None}
    listed = await gql("{ jobTemplates { totalCount edges { node { id } } } }")
    assert listed["jobTemplates"]["edges"] == [{"node": {"id": template["id"]}}]
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on JobTemplate { name } } }", id=template["id"]
    )
    assert node["node"] == {"name": "Monthly bookkeeping"}

    with clock.frozen(NOW):
        made = (
            await gql(
                FROM_TEMPLATE,
                input={"templateId": template["id"], "clientId": b.client, "period": "2026-01"},
            )
        )["createJobFromTemplate"]
    assert made["errors"] == []
    job = made["job"]
    assert (job["title"], job["period"], job["dueDate"]) == (
        "Acme LLC books January 2026",
        "2026-01",
        "2026-02-20",
    )
    assert (job["stage"], job["priority"], job["tags"]) == (
        {"name": "Work"},
        "HIGH",
        ["books", "monthly"],
    )
    assert [
        (t["node"]["title"], t["node"]["dueDate"], t["node"]["assignee"]["name"])
        for t in job["tasks"]["edges"]
    ] == [
        ("Statements", "2026-02-12", "Pat"),
        ("Statements", "2026-02-12", "Sam"),
        ("Reconcile", None, "Sam"),
    ]
    assert job["automationRuns"]["totalCount"] == 1  # the stage's automation, as for createJob
    history = [e["node"] for e in job["history"]["edges"]]
    assert history[0] == {
        "type": "JOB_CREATED",
        "changes": {"template": template["id"], "period": "2026-01"},
    }

    updated = (
        await gql(
            UPDATE,
            input={
                "id": template["id"],
                "name": "Books",
                "stageId": None,
                "dueDateRule": {"month": 4, "day": 15},
                "checklist": [],
                "assigneeIds": [],
            },
        )
    )["updateJobTemplate"]
    assert updated["errors"] == []
    assert {k: updated["jobTemplate"][k] for k in ("name", "stage", "checklist", "assignees")} == {
        "name": "Books",
        "stage": None,
        "checklist": [],
        "assignees": [],
    }
    assert updated["jobTemplate"]["dueDateRule"] == {
        "daysAfterPeriodEnd": None,
        "month": 4,
        "day": 15,
    }
    assert updated["jobTemplate"]["tags"] == ["books", "monthly"]  # left as it was
    cleared = await gql(UPDATE, input={"id": template["id"], "dueDateRule": None})
    assert cleared["updateJobTemplate"]["jobTemplate"]["dueDateRule"] is None

    deleted = (await gql(DELETE, input={"id": template["id"]}))["deleteJobTemplate"]
    assert deleted == {"deletedId": template["id"], "errors": []}
    assert (await gql("{ jobTemplates { totalCount } }"))["jobTemplates"]["totalCount"] == 0
    kept = await gql(
        "query($id: ID!) { job(id: $id) { period history { edges { node { changes } } } } }",
        id=job["id"],
    )
    assert kept["job"]["period"] == "2026-01"  # the job stays, and says where it came from
    assert kept["job"]["history"]["edges"][0]["node"]["changes"]["template"] == template["id"]
    assert (await Job.get(id=int(decode(job["id"])))).template_id is None


def decode(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


async def _template(gql: GraphQL, b: Board, **more: Any) -> str:
    created = (await gql(CREATE, input=monthly(b, **more)))["createJobTemplate"]
    assert created["errors"] == [], created
    return str(created["jobTemplate"]["id"])


BAD_TEMPLATES: list[tuple[str, Callable[[Board], dict[str, Any]], str, str]] = [
    (
        "unknown placeholder",
        lambda b: {"titleTemplate": "{client.nme} {period.week}"},
        "INVALID_INPUT",
        "titleTemplate",
    ),
    ("empty title", lambda b: {"titleTemplate": "  "}, "INVALID_INPUT", "titleTemplate"),
    ("long title", lambda b: {"titleTemplate": "x" * 201}, "INVALID_INPUT", "titleTemplate"),
    (
        "stage of another pipeline",
        lambda b: {"stageId": b.other_stage},
        "WRONG_PIPELINE",
        "stageId",
    ),
    (
        "missing pipeline",
        lambda b: {"pipelineId": gid("Pipeline", MISSING)},
        "NOT_FOUND",
        "pipelineId",
    ),
    (
        "missing assignee",
        lambda b: {"assigneeIds": [gid("User", MISSING)]},
        "NOT_FOUND",
        "assigneeIds",
    ),
    ("21 assignees", lambda b: {"assigneeIds": [b.pat] * 21}, "INVALID_INPUT", "assigneeIds"),
    (
        "missing checklist assignee",
        lambda b: {"checklist": [{"title": "x", "assigneeId": gid("User", MISSING)}]},
        "NOT_FOUND",
        "checklist",
    ),
    ("51 tasks", lambda b: {"checklist": [{"title": "x"}] * 51}, "INVALID_INPUT", "checklist"),
    (
        "both assignees",
        lambda b: {
            "checklist": [{"title": "x", "assigneeId": b.pat, "assignToJobAssignees": True}]
        },
        "INVALID_INPUT",
        "checklist",
    ),
    (
        "negative dueInDays",
        lambda b: {"checklist": [{"title": "x", "dueInDays": -1}]},
        "INVALID_INPUT",
        "checklist",
    ),
    (
        "huge dueInDays",
        lambda b: {"checklist": [{"title": "x", "dueInDays": 2**31 - 1}]},
        "INVALID_INPUT",
        "checklist",
    ),
    ("empty task title", lambda b: {"checklist": [{"title": ""}]}, "INVALID_INPUT", "checklist"),
    (
        "long description",
        lambda b: {"checklist": [{"title": "x", "description": "d" * 2001}]},
        "INVALID_INPUT",
        "checklist",
    ),
    (
        "both rules",
        lambda b: {"dueDateRule": {"daysAfterPeriodEnd": 1, "month": 4, "day": 15}},
        "INVALID_INPUT",
        "dueDateRule",
    ),
    ("empty rule", lambda b: {"dueDateRule": {}}, "INVALID_INPUT", "dueDateRule"),
    ("month without day", lambda b: {"dueDateRule": {"month": 4}}, "INVALID_INPUT", "dueDateRule"),
    (
        "February 30",
        lambda b: {"dueDateRule": {"month": 2, "day": 30}},
        "INVALID_INPUT",
        "dueDateRule",
    ),
    (
        "April 31",
        lambda b: {"dueDateRule": {"month": 4, "day": 31}},
        "INVALID_INPUT",
        "dueDateRule",
    ),
    (
        "month 13",
        lambda b: {"dueDateRule": {"month": 13, "day": 1}},
        "INVALID_INPUT",
        "dueDateRule",
    ),
    (
        "negative days",
        lambda b: {"dueDateRule": {"daysAfterPeriodEnd": -1}},
        "INVALID_INPUT",
        "dueDateRule",
    ),
    (
        "too many tasks made",  # 6 tasks for each of 20 assignees: 120 tasks per job
        lambda b: {"checklist": [{"title": "x", "assignToJobAssignees": True}] * 6},
        "INVALID_INPUT",
        "checklist",
    ),
]


@pytest.mark.parametrize(
    ("case", "bad", "code", "field"), BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES]
)
async def test_bad_templates_are_refused_and_write_nothing(
    gql: GraphQL,
    firm_a: NewFirm,
    b: Board,
    case: str,
    bad: Callable[[Board], dict[str, Any]],
    code: str,
    field: str,
) -> None:
    if case == "too many tasks made":
        staff = [await _staff(firm_a, f"Person{n}") for n in range(20)]
        existing = await _template(gql, b, assigneeIds=[gid("User", u.id) for u in staff])
    else:
        existing = await _template(gql, b)
    for op, input in (
        ("createJobTemplate", monthly(b, **bad(b))),
        ("updateJobTemplate", {"id": existing, **bad(b)}),
    ):
        if case == "too many tasks made" and op == "createJobTemplate":
            input["assigneeIds"] = [gid("User", u.id) for u in staff]
        if op == "updateJobTemplate" and "stageId" in input and "pipelineId" not in input:
            pass  # a stage of another pipeline than the template's: refused the same
        error = await refused(gql, op, input)
        assert (error["code"], error["field"]) == (code, field), (op, error)
    if case == "unknown placeholder":
        assert "{client.nme}" in error["message"] and "{period.week}" in error["message"]


BAD_JOBS: list[tuple[str, str, str | None, str, str]] = [
    # (title template, what it is, period, code, field)
    ("{period} books", "not a period", "2026-13", "INVALID_INPUT", "period"),
    ("{period} books", "not a period", "someday", "INVALID_INPUT", "period"),
    ("{period} books", "year out of range", "3026", "INVALID_INPUT", "period"),
    ("{period.monthName} books", "a year has no month", "2025", "INVALID_INPUT", "period"),
    ("{period.month} books", "a quarter has no month", "2026-Q1", "INVALID_INPUT", "period"),
    ("{period.quarter} payroll", "a week has no quarter", "2026-W05", "INVALID_INPUT", "period"),
    ("{period} books", "no period", None, "INVALID_INPUT", "period"),
]


@pytest.mark.parametrize(
    ("title", "case", "period", "code", "field"),
    BAD_JOBS,
    ids=[f"{c[1]}: {c[2]}" for c in BAD_JOBS],
)
async def test_bad_jobs_from_templates_are_refused_and_write_nothing(
    gql: GraphQL, b: Board, title: str, case: str, period: str | None, code: str, field: str
) -> None:
    template = await _template(gql, b, titleTemplate=title)
    input = {"templateId": template, "clientId": b.client, "period": period}
    error = await refused(gql, "createJobFromTemplate", input)
    assert (error["code"], error["field"]) == (code, field), error


async def test_a_full_stage_refuses_a_job_from_a_template(gql: GraphQL, b: Board) -> None:
    await gql(
        "mutation($id: ID!) { updateStage(input: {id: $id, wipLimit: 1}) { errors { code } } }",
        id=b.stages[1],
    )
    template = await _template(gql, b)
    input = {"templateId": template, "clientId": b.client, "period": "2026-01"}
    assert (await gql(FROM_TEMPLATE, input=input))["createJobFromTemplate"]["errors"] == []
    error = await refused(gql, "createJobFromTemplate", {**input, "period": "2026-02"})
    assert error["code"] == "WIP_LIMIT_REACHED"


async def test_another_firms_ids_answer_as_missing_ones(
    gql: GraphQL, gql_b: GraphQL, firm_b: NewFirm, b: Board
) -> None:
    """Firm B's template, pipeline, stage, client and users are to firm A exactly like ids
    that do not exist, wherever they are taken; and firm A's templates are not in B's list."""
    pipeline_b, stages_b = await board(firm_b)
    client_b = await client(firm_b)
    user_b = await _staff(firm_b, "Quinn")
    template_b = await templates.create_job_template(
        scope_of(firm_b), "Theirs", pipeline_b.id, "{client.name}"
    )
    mine = await _template(gql, b)
    theirs = {
        "JobTemplate": gid("JobTemplate", template_b.id),
        "Pipeline": gid("Pipeline", pipeline_b.id),
        "Stage": gid("Stage", stages_b[0].id),
        "Client": gid("Client", client_b.id),
        "User": gid("User", user_b.id),
    }
    cases: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
        ("createJobTemplate", "Pipeline", lambda i: monthly(b, pipelineId=i, stageId=None)),
        ("createJobTemplate", "Stage", lambda i: monthly(b, stageId=i)),
        ("createJobTemplate", "User", lambda i: monthly(b, assigneeIds=[i])),
        (
            "createJobTemplate",
            "User",
            lambda i: monthly(b, checklist=[{"title": "x", "assigneeId": i}]),
        ),
        ("updateJobTemplate", "JobTemplate", lambda i: {"id": i, "name": "Mine now"}),
        ("updateJobTemplate", "Pipeline", lambda i: {"id": mine, "pipelineId": i}),
        ("updateJobTemplate", "Stage", lambda i: {"id": mine, "stageId": i}),
        ("updateJobTemplate", "User", lambda i: {"id": mine, "assigneeIds": [i]}),
        ("deleteJobTemplate", "JobTemplate", lambda i: {"id": i}),
        (
            "createJobFromTemplate",
            "JobTemplate",
            lambda i: {"templateId": i, "clientId": b.client, "period": "2026-01"},
        ),
        (
            "createJobFromTemplate",
            "Client",
            lambda i: {"templateId": mine, "clientId": i, "period": "2026-01"},
        ),
    ]
    for op, kind, make in cases:
        other = await refused(gql, op, make(theirs[kind]))
        made_up = await refused(gql, op, make(gid(kind, MISSING)))
        assert other == made_up, (op, kind, other, made_up)
        assert other["code"] == "NOT_FOUND", (op, kind, other)
    found = await gql("query($id: ID!) { node(id: $id) { id } }", id=theirs["JobTemplate"])
    assert found["node"] is None
    listed = await gql_b("{ jobTemplates { edges { node { name } } } }")
    assert listed["jobTemplates"]["edges"] == [{"node": {"name": "Theirs"}}]
    filtered = await gql(
        "query($p: ID!) { jobTemplates(pipelineId: $p) { totalCount } }", p=theirs["Pipeline"]
    )
    assert filtered["jobTemplates"]["totalCount"] == 0


async def test_what_templates_refer_to_may_go_away(gql: GraphQL, firm_a: NewFirm, b: Board) -> None:
    """A deleted start stage: the pipeline's first. A deactivated assignee: left out. A
    pipeline that templates use is not deleted."""
    template = await _template(gql, b)
    await gql(
        "mutation($id: ID!) { deleteStage(input: {id: $id}) { errors { code } } }", id=b.stages[1]
    )
    await people.deactivate_user(scope_of(firm_a), decode(b.sam))
    input = {"templateId": template, "clientId": b.client, "period": "2026-03"}
    job = (await gql(FROM_TEMPLATE, input=input))["createJobFromTemplate"]["job"]
    assert job["stage"] == {"name": "Intake"} and job["assignees"] == [{"name": "Pat"}]
    assert [(t["node"]["title"], t["node"]["assignee"]) for t in job["tasks"]["edges"]] == [
        ("Statements", {"name": "Pat"}),
        ("Reconcile", None),
    ]
    error = await refused(gql, "deletePipeline", {"id": b.pipeline})
    assert error["code"] == "PIPELINE_NOT_EMPTY"


async def test_templates_per_firm_are_limited(gql: GraphQL, firm_a: NewFirm, b: Board) -> None:
    scope = scope_of(firm_a)
    pipeline = decode(b.pipeline)
    async with change(scope):  # quicker than 500 changes: the limit is what is tested
        await JobTemplate.bulk_create(
            [
                JobTemplate(
                    firm_id=firm_a.firm.id, name=f"t{n}", pipeline_id=pipeline, title_template="t"
                )
                for n in range(templates.TEMPLATES_MAX)
            ]
        )
    error = await refused(gql, "createJobTemplate", monthly(b))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "name")


async def test_a_job_from_a_template_costs_fixed_statements_per_task(
    gql: GraphQL, b: Board, sql_statements: StatementCounter
) -> None:
    """The job's own statements, then a few per checklist task (the task, its TASK_CHANGED
    event with the pipeline's sequence), whatever else the firm holds."""
    counts = []
    for tasks_ in (1, 4):
        checklist = [{"title": f"t{n}", "assigneeId": b.pat} for n in range(tasks_)]
        template = await _template(gql, b, checklist=checklist)
        await gql("{ viewer { name } }")  # the token's last use is written once a minute
        sql_statements.statements.clear()
        input = {"templateId": template, "clientId": b.client, "period": "2026-01"}
        made = await gql(document("createJobFromTemplate"), input=input)
        assert made["createJobFromTemplate"]["errors"] == []
        counts.append(len(sql_statements.statements))
    backend = "postgres" if is_postgres() else "sqlite"
    per_task = PER_TASK_STATEMENTS[backend]
    assert counts[1] - counts[0] == 3 * per_task, sql_statements.statements
    assert counts[0] == FROM_TEMPLATE_STATEMENTS[backend] + per_task, sql_statements.statements


async def test_a_template_moved_to_another_pipeline_starts_in_its_first_stage(
    gql: GraphQL, firm_a: NewFirm, b: Board
) -> None:
    template = await _template(gql, b)
    leads = str(
        (await gql("{ pipelines { edges { node { id name } } } }"))["pipelines"]["edges"][1][
            "node"
        ]["id"]
    )
    moved = (await gql(UPDATE, input={"id": template, "pipelineId": leads}))["updateJobTemplate"]
    assert moved["errors"] == []
    assert (moved["jobTemplate"]["pipeline"], moved["jobTemplate"]["stage"]) == (
        {"name": "Leads"},
        None,
    )
    wrong = await refused(gql, "updateJobTemplate", {"id": template, "stageId": b.stages[0]})
    assert (wrong["code"], wrong["field"]) == ("WRONG_PIPELINE", "stageId")
    back = await gql(
        UPDATE, input={"id": template, "pipelineId": b.pipeline, "stageId": b.stages[2]}
    )
    assert back["updateJobTemplate"]["jobTemplate"]["stage"] == {"name": "Review"}
