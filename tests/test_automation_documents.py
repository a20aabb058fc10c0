"""Organizers, messages and invoices sent by automations, and auto-move on their completion."""

from __future__ import annotations

from datetime import date

from automations import manage, runner
from models import ActionType, AutomationRun, Job, JobEvent, RunStatus, Stage
from tests.conftest import GraphQL
from tests.factories import board, client, gid, scope_of
from workflow import jobs
from workflow.firms import NewFirm
from workflow.global_ids import parse_id

CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { id } errors { code field message } } }"""
DOCUMENTS = """query($id: ID!) { job(id: $id) { stage { name } autoMoveBlockers
  organizers { edges { node { id title questions status } } }
  messages { edges { node { subject body } } }
  invoices { edges { node { id currency totalCents status lineItems } } } } }"""


async def _entered(
    firm: NewFirm, settings_by_action: dict[ActionType, dict[str, object]], auto_move: bool = False
) -> tuple[Job, list[Stage]]:
    pipeline, stages = await board(firm)
    await Stage.filter(id=stages[1].id).update(auto_move=auto_move)
    for action, settings in settings_by_action.items():
        await manage.create_automation(scope_of(firm), stages[1].id, action, settings)
    scope = scope_of(firm)
    avery = await client(firm)
    card = await jobs.create_job(
        scope, pipeline.id, avery.id, "2025 return", due_date=date(2026, 4, 15)
    )
    await jobs.move_job(scope, card.id, stages[1].id)
    assert await runner.run_due() == len(settings_by_action)
    return card, stages


async def test_organizer_message_and_invoice_are_linked_to_the_job(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    card, _ = await _entered(
        firm_a,
        {
            ActionType.SEND_ORGANIZER: {
                "title": "2025 organizer",
                "questions": ["Income?", "Kids?"],
            },
            ActionType.SEND_MESSAGE: {
                "subject": "{job.title} for {client.name}",
                "body": "Due {job.dueDate}.",
            },
            ActionType.CREATE_INVOICE: {
                "currency": "USD",
                "lineItems": [
                    {"description": "1040", "quantity": 1, "unitPriceCents": 45000},
                    {"description": "State", "quantity": 2, "unitPriceCents": 7500},
                ],
            },
        },
    )
    job = (await gql(DOCUMENTS, id=gid("Job", card.id)))["job"]
    organizer = job["organizers"]["edges"][0]["node"]
    assert (organizer["title"], organizer["questions"], organizer["status"]) == (
        "2025 organizer",
        ["Income?", "Kids?"],
        "SENT",
    )
    assert job["messages"]["edges"] == [
        {"node": {"subject": "2025 return for Avery Johnson", "body": "Due 2026-04-15."}}
    ]
    invoice = job["invoices"]["edges"][0]["node"]
    assert (invoice["currency"], invoice["totalCents"], invoice["status"]) == (
        "USD",
        60000,
        "UNPAID",
    )
    assert job["autoMoveBlockers"] == [
        "organizer '2025 organizer'",
        f"invoice #{parse_id(invoice['id'], 'id')[1]}",
    ]
    types = await JobEvent.filter(job_id=card.id).values_list("type", flat=True)
    assert {"ORGANIZER_CHANGED", "MESSAGE_SENT", "INVOICE_CHANGED"} <= set(types)


async def test_auto_move_waits_for_every_item_of_the_stage(gql: GraphQL, firm_a: NewFirm) -> None:
    card, stages = await _entered(
        firm_a,
        {
            ActionType.CREATE_TASK: {"title": "Prepare"},
            ActionType.SEND_ORGANIZER: {"title": "Organizer", "questions": ["Income?"]},
            ActionType.CREATE_INVOICE: {
                "currency": "USD",
                "lineItems": [{"description": "1040", "unitPriceCents": 45000}],
            },
        },
        auto_move=True,
    )
    job = (await gql(DOCUMENTS, id=gid("Job", card.id)))["job"]
    task_id = (
        await gql(
            """query($id: ID!) { job(id: $id) { tasks { edges { node { id } } } } }""",
            id=gid("Job", card.id),
        )
    )["job"]["tasks"]["edges"][0]["node"]["id"]
    steps = [
        (
            """mutation($id: ID!) { completeTask(input: {id: $id}) { errors { code } } }""",
            {"id": task_id},
        ),
        (
            """mutation($id: ID!, $a: [String!]!) { submitOrganizer(input: {id: $id, answers: $a})
            { organizer { status } errors { code } } }""",
            {"id": job["organizers"]["edges"][0]["node"]["id"], "a": ["Wages"]},
        ),
        (
            """mutation($id: ID!) { payInvoice(input: {id: $id}) { invoice { status }
            errors { code } } }""",
            {"id": job["invoices"]["edges"][0]["node"]["id"]},
        ),
    ]
    for number, (mutation, variables) in enumerate(steps, 1):
        result = await gql(mutation, **variables)
        assert next(iter(result.values()))["errors"] == []
        moved = (await Job.get(id=card.id)).stage_id == stages[2].id
        assert moved == (number == len(steps)), number  # only once everything is done
    assert (await gql(DOCUMENTS, id=gid("Job", card.id)))["job"]["autoMoveBlockers"] == []


async def test_bad_templates_and_invoices_are_refused_when_saved(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    _, stages = await board(firm_a)
    cases = [
        ("SEND_MESSAGE", {"subject": "Hi {client.nickname}", "body": "x"}, "settings.subject"),
        ("SEND_MESSAGE", {"subject": "Hi", "body": "{job.secret}"}, "settings.body"),
        (
            "CREATE_INVOICE",
            {"currency": "usd", "lineItems": [{"description": "x", "unitPriceCents": 1}]},
            "settings.currency",
        ),
        ("CREATE_INVOICE", {"currency": "USD", "lineItems": []}, "settings.lineItems"),
        ("SEND_ORGANIZER", {"title": "x", "questions": []}, "settings.questions"),
    ]
    for action, settings, field in cases:
        data = await gql(
            CREATE,
            input={"stageId": gid("Stage", stages[1].id), "action": action, "settings": settings},
        )
        assert data["createAutomation"]["errors"][0]["field"] == field, (action, settings)
    last = await gql(
        """mutation($id: ID!) { updateStage(input: {id: $id, autoMove: true}) {
        errors { code field } } }""",
        id=gid("Stage", stages[-1].id),
    )
    assert last["updateStage"]["errors"] == [{"code": "INVALID_INPUT", "field": "autoMove"}]


async def test_runs_and_what_they_created_are_in_the_job_history(firm_a: NewFirm) -> None:
    card, _ = await _entered(firm_a, {ActionType.CREATE_TASK: {"title": "Prepare"}})
    run = await AutomationRun.get(job_id=card.id)
    assert run.status == RunStatus.SUCCEEDED
    events = await JobEvent.filter(job_id=card.id).order_by("seq")
    assert [e.type for e in events][-2:] == ["TASK_CHANGED", "AUTOMATION_RAN"]
    assert events[-1].changes == {"run": run.id, "action": "CREATE_TASK", "status": "SUCCEEDED"}
