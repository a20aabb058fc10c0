"""Demo data: a firm with the pipelines of the domain document (the shipped templates of
templates/pipelines/, imported as any firm may import them), clients (each with one contact
who may use the portal, at an address of the reserved example.com domain), jobs and tasks, on
the first 1040 job an organizer and a message for its client to answer in the portal, job
templates for the yearly 1040 and monthly payroll, and recurring schedules that run them.

`python server.py demo` seeds it once: the demo firm is the firm named DEMO_FIRM whose active
owner has the email DEMO_OWNER (on the reserved .test domain, which no real firm's owner has).
Run again, it seeds nothing and issues that owner a new token (only tokens' hashes are kept,
so the first one cannot be shown again)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from models import (
    Firm,
    Job,
    JobTemplate,
    Pipeline,
    Priority,
    Role,
    User,
)
from workflow import clients, contacts, documents, jobs, schedules, tasks, templates
from workflow.firms import NewFirm, create_firm, issue_token
from workflow.periods import Frequency
from workflow.scope import Scope
from workflow.templates import JOB_ASSIGNEES, ChecklistItem, DueRule
from workflow.unit import change

DEMO_FIRM = "Demo CPA"
DEMO_OWNER = "owner@demo.test"
DEMO_TIMEZONE = "America/New_York"  # the schedules' local midnights
# The demo's pipelines, made by the caller in order: the shipped templates, imported (that
# import, automations.pipeline_templates.import_shipped, is a layer above this module). The
# first 1040 stage sends each job's client an organizer (with weekly reminders) and moves the
# job on once it is submitted: the demo's portal has something to answer.
MakePipelines = Callable[[Scope], Awaitable[list[Pipeline]]]
CLIENTS = [  # name, tags, its contact
    ("Avery Johnson", ["individual"], "Avery Johnson"),
    ("Blue Harbor LLC", ["business", "vip"], "Morgan Lee"),
    ("Carmen Diaz", ["individual"], "Carmen Diaz"),
    ("Delta Dental Group", ["business"], "Priya Shah"),
    ("Eli Thompson", ["individual", "new"], "Eli Thompson"),
    ("Fernwood Bakery", ["business"], "Sofia Rossi"),
    ("Grace Kim", ["individual", "vip"], "Grace Kim"),
    ("Hilltop Contractors", ["business"], "Dan Walsh"),
]
CONTACT_DOMAIN = "example.com"  # reserved (RFC 2606): the demo's emails reach nobody
TEAM = [("Pat Preparer", "pat", Role.STAFF), ("Riley Reviewer", "riley", Role.ADMIN)]
TASKS = ["Request documents", "Check prior-year return", "Call the client"]
ORGANIZER_QUESTIONS = [
    "Did your address or filing status change in 2025?",
    "Any new dependents?",
    "Other income (1099s, rentals, crypto)?",
]


async def demo(make_pipelines: MakePipelines) -> tuple[NewFirm, bool]:
    """The demo firm with a new owner token, and whether it was seeded now (False: it existed)."""
    if (existing := await existing_demo()) is not None:
        return existing, False
    return await seed_demo(make_pipelines), True


async def existing_demo() -> NewFirm | None:
    """The demo firm an earlier run seeded (the oldest, if several), with a new owner token."""
    owner = (
        await User.filter(email=DEMO_OWNER, role=Role.OWNER, is_active=True, firm__name=DEMO_FIRM)
        .order_by("firm_id")
        .first()
    )
    if owner is None:
        return None
    async with change(Scope(owner.firm_id, None)):
        _, token = await issue_token(owner, "owner")
    return NewFirm(await Firm.get(id=owner.firm_id), owner, token)


async def seed_demo(make_pipelines: MakePipelines) -> NewFirm:
    new = await create_firm(DEMO_FIRM, DEMO_OWNER, "Olivia Owner")
    scope = Scope(firm_id=new.firm.id, user_id=new.owner.id)
    async with change(scope):
        team = [new.owner] + [
            await User.create(firm_id=new.firm.id, name=name, email=f"{login}@demo.test", role=role)
            for name, login, role in TEAM
        ]
    people = []
    for name, tags, contact in CLIENTS:
        people.append(await clients.create_client(scope, name, None, tags))
        address = f"{contact.lower().replace(' ', '.')}@{CONTACT_DOMAIN}"
        await contacts.create_contact(scope, people[-1].id, contact, address, portal_access=True)
    rng = random.Random(1040)
    for pipeline in await make_pipelines(scope):
        stages = await pipeline.stages.all().order_by("position")
        for client in rng.sample(people, 5):
            job = await jobs.create_job(
                scope,
                pipeline.id,
                client.id,
                f"{pipeline.name} – {client.name}",
                priority=rng.choice(list(Priority)),
                due_date=date.today() + timedelta(days=rng.randint(5, 60)),
                tags=["2026"],
                assignee_ids=[rng.choice(team).id],
            )
            titles = rng.sample(TASKS, 2)
            assignees = [rng.choice(team).id for _ in titles]
            target = rng.choice(stages)
            if target.id != job.stage_id:
                await jobs.move_job(scope, job.id, target.id)
            if not target.auto_move:  # there, the client's organizer is the stage's work
                for title, assignee in zip(titles, assignees, strict=True):
                    await tasks.create_task(scope, job.id, title, assignee_id=assignee)
    await _portal_work(scope)
    await _templates(scope, team)
    await _schedules(scope)
    return new


async def _schedules(scope: Scope) -> None:
    """The templates run by recurring schedules, by client tag (a client tagged later is
    included): the 1040 every year for every individual (from the start of this year, two
    weeks ahead), payroll every month for every business (from this month, five days ahead).
    Their current periods are due at once: a server running its scheduler makes those jobs."""
    by_name = {t.name: t.id for t in await JobTemplate.filter(firm_id=scope.firm_id)}
    today = date.today()
    for name, frequency, starts_on, tag, lead_days in (
        ("Yearly 1040 Return", Frequency.YEARLY, date(today.year, 1, 1), "individual", 14),
        ("Monthly payroll", Frequency.MONTHLY, today.replace(day=1), "business", 5),
    ):
        await schedules.create_schedule(
            scope,
            by_name[name],
            frequency=frequency,
            starts_on=starts_on,
            timezone=DEMO_TIMEZONE,
            client_tag=tag,
            lead_days=lead_days,
        )


async def _templates(scope: Scope, team: list[User]) -> None:
    """Job templates of recurring work: the yearly 1040 (due April 15 after the year) and
    monthly payroll (due 5 days after the month), each with its checklist."""
    ids = {p.name: p.id for p in await Pipeline.filter(firm_id=scope.firm_id)}
    await templates.create_job_template(
        scope,
        "Yearly 1040 Return",
        ids["1040 Return"],
        "Form 1040 for {period} – {client.name}",
        tags=["1040"],
        assignee_ids=[team[1].id],
        checklist=[
            ChecklistItem("Request documents", assignee=JOB_ASSIGNEES, due_in_days=7),
            ChecklistItem("Check prior-year return", due_in_days=14),
            ChecklistItem("Review the return", assignee=team[2].id),
        ],
        due_rule=DueRule(month=4, day=15),
    )
    await templates.create_job_template(
        scope,
        "Monthly payroll",
        ids["Payroll"],
        "Payroll {period.monthName} {period.year} – {client.name}",
        tags=["payroll"],
        priority=Priority.HIGH,
        assignee_ids=[team[1].id],
        checklist=[ChecklistItem("Collect timesheets", assignee=JOB_ASSIGNEES, due_in_days=2)],
        due_rule=DueRule(days_after_period_end=5),
    )


async def _portal_work(scope: Scope) -> None:
    """Something for a client to do in the portal: on the first 1040 job, an organizer to
    answer and a message to reply to (each emailed to the client's contact)."""
    job = (
        await Job.filter(firm_id=scope.firm_id, pipeline__name="1040 Return").order_by("id").first()
    )
    if job is None:
        return
    await documents.send_organizer(scope, job.id, "2025 tax organizer", ORGANIZER_QUESTIONS)
    await documents.send_message(
        scope,
        job.id,
        "Documents for {job.title}",
        "Hello {client.name},\n\nPlease answer the organizer in the portal and tell us if "
        "anything changed this year.",
    )
