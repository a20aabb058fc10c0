"""Access control: every mutation and query under each role and token scope, mutations without
READ, the rules of people and tokens (in-process, both databases), and subscriptions and
revocation over real websockets (`python server.py`: one process on SQLite; two sharing
PostgreSQL and a private Redis).

The expected answers come from the tables below, written from the rules, never from
workflow.access: a caller's permissions are its token's scopes capped by its role (STAFF: READ
and WRITE; ADMIN and OWNER: all three). Queries need READ (apiTokens and webhookEndpoints
ADMIN); mutations WRITE, the ADMIN_MUTATIONS ADMIN; ApiToken, WebhookEndpoint and
WebhookDelivery need ADMIN wherever they are reached, and what carries board data out through
them (a delivery's payload, creating or re-pointing an endpoint) READ too (see
tests/test_escalation.py). A refusal is a top-level FORBIDDEN error, and nothing has run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from tortoise import Tortoise, connections

from api import schema
from automations import manage
from models import (
    ActionType,
    ApiToken,
    AutomationRun,
    CustomFieldEntity,
    CustomFieldType,
    Email,
    EmailKind,
    JobEvent,
    PortalSession,
    Role,
    RunStatus,
    User,
    WebhookDelivery,
)
from tests.factories import board, client, gid, job, scope_of
from tests.live import (
    LEGACY_WS,
    MOVE,
    TRANSPORT_WS,
    Subscription,
    close_code,
    make_board,
    watch_board,
)
from tests.servers import ServerProcess, Stack, graphql
from workflow import (
    contacts,
    custom_fields,
    documents,
    exports,
    schedules,
    tasks,
    templates,
    webhooks,
)
from workflow.firms import NewFirm, issue_token
from workflow.periods import Frequency

READ, WRITE, ADMIN = "READ", "WRITE", "ADMIN"
ALL = frozenset({READ, WRITE, ADMIN})
ROLE_GRANTS = {"OWNER": ALL, "ADMIN": ALL, "STAFF": frozenset({READ, WRITE})}
ADMIN_MUTATIONS = {
    "createPipeline",
    "importPipelineTemplate",
    "updatePipeline",
    "deletePipeline",
    "createStage",
    "updateStage",
    "deleteStage",
    "reorderStages",
    "createAutomation",
    "updateAutomation",
    "deleteAutomation",
    "createJobTemplate",
    "updateJobTemplate",
    "deleteJobTemplate",
    "createRecurringSchedule",
    "updateRecurringSchedule",
    "deleteRecurringSchedule",
    "createCustomField",
    "updateCustomField",
    "deleteCustomField",
    "inviteUser",
    "updateUser",
    "deactivateUser",
    "createApiToken",
    "revokeApiToken",
    "createWebhookEndpoint",
    "updateWebhookEndpoint",
    "deleteWebhookEndpoint",
    "redeliverWebhook",
}
ADMIN_QUERIES = {"apiTokens", "webhookEndpoints"}
READ_TOO = {
    "createWebhookEndpoint",  # where the board's events go
    "updateWebhookEndpoint",
    "startExport",  # the board to a file
}
URL = "http://127.0.0.1:9/x"


@dataclass(frozen=True)
class Caller:
    """A user of some role calling with a token of some scopes."""

    role: str
    scopes: frozenset[str]

    @property
    def has(self) -> frozenset[str]:
        return self.scopes & ROLE_GRANTS[self.role]

    def __str__(self) -> str:
        return f"{self.role.lower()} {'+'.join(sorted(self.scopes))}"


CALLERS = [
    Caller("OWNER", frozenset({READ})),
    Caller("OWNER", frozenset({WRITE})),
    Caller("OWNER", frozenset({ADMIN})),
    Caller("OWNER", frozenset({WRITE, ADMIN})),
    Caller("OWNER", ALL),
    Caller("ADMIN", ALL),
    Caller("ADMIN", frozenset({READ, ADMIN})),
    Caller("STAFF", ALL),  # its ADMIN scope is capped by its role
    Caller("STAFF", frozenset({READ})),
    Caller("STAFF", frozenset({ADMIN})),  # nothing left at all
]


# ------------------------------------------------------------------------------- helpers


async def post(http: httpx.AsyncClient, token: str, query: str, **variables: Any) -> dict:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def forbidden(body: dict) -> bool:
    """A refusal: nothing ran (no data) and a top-level FORBIDDEN error says why."""
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    return body.get("data") is None and codes != [] and set(codes) == {"FORBIDDEN"}


def no_forbidden(body: dict) -> bool:
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    return "FORBIDDEN" not in codes and body.get("data") is not None


async def snapshot() -> dict[str, list[str]]:
    """Every row of every table (a token's lastUsedAt aside: authentication writes it)."""
    connection = connections.get("default")
    tables: dict[str, list[str]] = {}
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        tables[table] = sorted(
            repr(sorted((k, v) for k, v in row.items() if k != "last_used_at")) for row in rows
        )
    return tables


async def token_for(firm: NewFirm, caller: Caller) -> str:
    """A token of these scopes for a user of this role in the firm (its owner for OWNER)."""
    user = firm.owner
    if caller.role != "OWNER":
        user = await User.create(
            firm_id=firm.firm.id,
            email=f"{caller.role.lower()}@caller.test",
            name=f"{caller.role.title()} Caller",
            role=Role(caller.role),
        )
    _, secret = await issue_token(user, str(caller), sorted(caller.scopes))
    return secret


def mutation_fields() -> dict[str, str]:
    """Every mutation of the schema with the type of its input argument."""
    mutation = schema._schema.mutation_type
    assert mutation is not None
    return {name: str(field.args["input"].type) for name, field in mutation.fields.items()}


def query_fields() -> set[str]:
    query = schema._schema.query_type
    assert query is not None
    return set(query.fields)


# --------------------------------------------------------------------------------- world

World = dict[str, Any]  # labelled global ids of firm A's objects, and the caller's scopes


async def build_world(firm: NewFirm) -> World:
    """One object for each mutation to work on, so that every allowed one can succeed."""
    a = scope_of(firm)
    p, p_stages = await board(firm, ("Intake", "Prepare", "Review", "Spare"))
    q, _ = await board(firm, ("Q1", "Q2"), name="Payroll")
    r, r_stages = await board(firm, ("R1", "R2"), name="Bookkeeping")
    doomed, _ = await board(firm, ("Only",), name="Doomed")
    avery = await client(firm)
    c_update = await contacts.create_contact(a, avery.id, "Avery Johnson", "avery@a.test")
    c_delete = await contacts.create_contact(a, avery.id, "Sam Johnson", "sam@a.test")
    c_revoke = await contacts.create_contact(a, avery.id, "Kim Johnson", "kim@a.test", True)
    await PortalSession.create(  # signed in to the portal: revokePortalSessions ends it
        firm_id=firm.firm.id,
        contact_id=c_revoke.id,
        token_hash="0" * 64,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    work = await job(firm, p, avery, "update me")
    to_archive = await job(firm, p, avery, "archive me")
    to_move = await job(firm, p, avery, "move me")
    to_transfer = await job(firm, p, avery, "transfer me")
    bulk_move = await job(firm, p, avery, "bulk move me")
    bulk_archive = await job(firm, p, avery, "bulk archive me")
    t_update = await tasks.create_task(a, work.id, "rename me")
    t_complete = await tasks.create_task(a, work.id, "complete me")
    t_reopen = await tasks.create_task(a, work.id, "reopen me")
    await tasks.set_task_done(a, t_reopen.id, True)
    t_delete = await tasks.create_task(a, work.id, "delete me")
    review = p_stages[2].id  # no job enters it: its automations never run here
    au_update = await manage.create_automation(
        a, review, ActionType.CREATE_TASK, {"title": "Check"}
    )
    au_delete = await manage.create_automation(
        a, review, ActionType.CREATE_TASK, {"title": "Check again"}
    )
    entry = await JobEvent.filter(job_id=work.id).order_by("id").first()
    assert entry is not None
    failed = await AutomationRun.create(
        firm_id=firm.firm.id,
        automation_id=au_update.id,
        job_id=work.id,
        entry_id=entry.id,
        stage_id=review,
        action=ActionType.CREATE_TASK,
        settings={"title": "Check"},
        status=RunStatus.FAILED,
        attempts=5,
        run_after=datetime.now(UTC),
        error="boom",
    )
    organizer = await documents.send_organizer(a, work.id, "Organizer", ["Income?"])
    invoice = await documents.create_invoice(
        a, work.id, "USD", [{"description": "1040", "quantity": 1, "unitPriceCents": 100}]
    )
    rename = await User.create(firm_id=firm.firm.id, email="rename@a.test", name="Rename Me")
    leaver = await User.create(firm_id=firm.firm.id, email="leaver@a.test", name="Leaver")
    spare, _ = await issue_token(rename, "spare")  # not an owner's: admins may revoke it
    e_update = await webhooks.create_endpoint(a, URL)
    e_delete = await webhooks.create_endpoint(a, URL)
    await job(firm, p, avery, "hooked")  # a delivery for each endpoint
    delivery = await WebhookDelivery.filter(endpoint_id=e_update.id).first()
    assert delivery is not None
    tp_update = await templates.create_job_template(a, "Monthly", p.id, "{client.name} {period}")
    cf_update = await custom_fields.create_custom_field(
        a, CustomFieldEntity.JOB, "ein", "EIN", CustomFieldType.TEXT
    )
    cf_delete = await custom_fields.create_custom_field(
        a, CustomFieldEntity.CLIENT, "old", "Old", CustomFieldType.BOOLEAN
    )
    tp_delete = await templates.create_job_template(a, "Old", p.id, "Old work")
    monthly = {"frequency": Frequency.MONTHLY, "starts_on": date(2026, 1, 1), "timezone": "UTC"}
    sc_update = await schedules.create_schedule(a, tp_update.id, client_ids=[avery.id], **monthly)
    sc_delete = await schedules.create_schedule(a, tp_update.id, client_tag="gone", **monthly)
    sent = await Email.create(
        firm_id=firm.firm.id,
        job_id=work.id,
        client_id=avery.id,
        to_address="avery@example.test",
        kind=EmailKind.MESSAGE,
        subject="Your return",
        text_body="Ready.",
        html_body="<p>Ready.</p>",
        next_attempt_at=datetime.now(UTC),
    )
    return {
        "pipeline": gid("Pipeline", p.id),
        "payroll": gid("Pipeline", q.id),
        "bookkeeping": gid("Pipeline", r.id),
        "doomed": gid("Pipeline", doomed.id),
        "stages": [gid("Stage", s.id) for s in p_stages],
        "r stages": [gid("Stage", s.id) for s in r_stages],
        "client": gid("Client", avery.id),
        "contact update": gid("Contact", c_update.id),
        "contact delete": gid("Contact", c_delete.id),
        "contact revoke": gid("Contact", c_revoke.id),
        "job": gid("Job", work.id),
        "to archive": gid("Job", to_archive.id),
        "to move": gid("Job", to_move.id),
        "to transfer": gid("Job", to_transfer.id),
        "bulk move": gid("Job", bulk_move.id),
        "bulk archive": gid("Job", bulk_archive.id),
        "task update": gid("Task", t_update.id),
        "task complete": gid("Task", t_complete.id),
        "task reopen": gid("Task", t_reopen.id),
        "task delete": gid("Task", t_delete.id),
        "automation update": gid("Automation", au_update.id),
        "automation delete": gid("Automation", au_delete.id),
        "failed run": gid("AutomationRun", failed.id),
        "organizer": gid("Organizer", organizer.id),
        "invoice": gid("Invoice", invoice.id),
        "rename": gid("User", rename.id),
        "leaver": gid("User", leaver.id),
        "spare token": gid("ApiToken", spare.id),
        "endpoint update": gid("WebhookEndpoint", e_update.id),
        "endpoint delete": gid("WebhookEndpoint", e_delete.id),
        "delivery": gid("WebhookDelivery", delivery.id),
        "email": gid("Email", sent.id),
        "template update": gid("JobTemplate", tp_update.id),
        "field update": gid("CustomField", cf_update.id),
        "field delete": gid("CustomField", cf_delete.id),
        "template delete": gid("JobTemplate", tp_delete.id),
        "schedule update": gid("RecurringSchedule", sc_update.id),
        "schedule delete": gid("RecurringSchedule", sc_delete.id),
    }


async def small_world(firm: NewFirm) -> World:
    """Enough for the queries: a board with two jobs, two endpoints with a delivery each."""
    p, stages = await board(firm)
    avery = await client(firm)
    work = await job(firm, p, avery, "work")
    to_move = await job(firm, p, avery, "move me")
    spare, _ = await issue_token(firm.owner, "spare")
    endpoint = await webhooks.create_endpoint(scope_of(firm), URL)
    await webhooks.create_endpoint(scope_of(firm), URL)
    await job(firm, p, avery, "hooked")
    delivery = await WebhookDelivery.filter(endpoint_id=endpoint.id).first()
    assert delivery is not None
    await custom_fields.create_custom_field(
        scope_of(firm), CustomFieldEntity.JOB, "ein", "EIN", CustomFieldType.TEXT
    )
    return {
        "pipeline": gid("Pipeline", p.id),
        "stages": [gid("Stage", s.id) for s in stages],
        "client": gid("Client", avery.id),
        "job": gid("Job", work.id),
        "to move": gid("Job", to_move.id),
        "spare token": gid("ApiToken", spare.id),
        "endpoint update": gid("WebhookEndpoint", endpoint.id),
        "delivery": gid("WebhookDelivery", delivery.id),
        "export": gid("Export", (await exports.start_export(scope_of(firm), p.id, [])).id),
    }


# Every mutation: the payload fields asked for (its own object's scalars only, which a caller
# without READ may ask for too) and a valid input on the world.
Input = Callable[[World], dict[str, Any]]
MUTATIONS: dict[str, tuple[str, Input]] = {
    "createPipeline": (
        "pipeline { id name }",
        lambda w: {"name": "Fresh", "stageNames": ["One", "Two"]},
    ),
    "importPipelineTemplate": (
        "pipeline { id name } warnings { path }",
        lambda w: {
            "template": {
                "format": "pipeline-template",
                "version": 1,
                "name": "Imported",
                "stages": [{"name": "One"}, {"name": "Two"}],
            }
        },
    ),
    "updatePipeline": ("pipeline { id name }", lambda w: {"id": w["pipeline"], "name": "1040"}),
    "deletePipeline": ("deletedId", lambda w: {"id": w["doomed"]}),
    "createStage": ("stage { id name }", lambda w: {"pipelineId": w["payroll"], "name": "Q3"}),
    "updateStage": ("stage { id name }", lambda w: {"id": w["stages"][0], "name": "Docs In"}),
    "deleteStage": ("deletedId pipeline { id }", lambda w: {"id": w["stages"][3]}),
    "reorderStages": (
        "pipeline { id }",
        lambda w: {"pipelineId": w["bookkeeping"], "stageIds": w["r stages"][::-1]},
    ),
    "createClient": ("client { id name }", lambda w: {"name": "Blue Harbor LLC"}),
    "updateClient": ("client { id name }", lambda w: {"id": w["client"], "name": "Avery J."}),
    "createContact": (
        "contact { id email }",
        lambda w: {"clientId": w["client"], "name": "Jo Johnson", "email": "jo@a.test"},
    ),
    "updateContact": (
        "contact { id portalAccess }",
        lambda w: {"id": w["contact update"], "portalAccess": True},
    ),
    "deleteContact": ("deletedId", lambda w: {"id": w["contact delete"]}),
    "revokePortalSessions": ("contact { id }", lambda w: {"contactId": w["contact revoke"]}),
    "createJob": (
        "job { id version }",
        lambda w: {"pipelineId": w["pipeline"], "clientId": w["client"], "title": "2026 return"},
    ),
    "updateJob": ("job { id version }", lambda w: {"id": w["job"], "title": "renamed"}),
    "archiveJob": ("job { id status }", lambda w: {"id": w["to archive"]}),
    "moveJob": ("job { id version }", lambda w: {"jobId": w["to move"], "stageId": w["stages"][1]}),
    "transferJob": (
        "job { id version }",
        lambda w: {"jobId": w["to transfer"], "pipelineId": w["payroll"]},
    ),
    "bulkMoveJobs": (
        "results { jobId job { id version } errors { code } }",
        lambda w: {"jobIds": [w["bulk move"]], "stageId": w["stages"][1]},
    ),
    "bulkUpdateJobs": (
        "results { jobId job { id tags } errors { code } }",
        lambda w: {"jobIds": [w["job"]], "addTags": ["bulk"]},
    ),
    "bulkArchiveJobs": (
        "results { jobId job { id status } errors { code } }",
        lambda w: {"jobIds": [w["bulk archive"]]},
    ),
    "createJobs": (
        "results { jobId clientId job { id title } errors { code } }",
        lambda w: {"clientIds": [w["client"]], "pipelineId": w["pipeline"], "title": "Bulk"},
    ),
    "createTask": ("task { id title }", lambda w: {"jobId": w["job"], "title": "Call"}),
    "updateTask": ("task { id title }", lambda w: {"id": w["task update"], "title": "renamed"}),
    "completeTask": ("task { id done }", lambda w: {"id": w["task complete"]}),
    "reopenTask": ("task { id done }", lambda w: {"id": w["task reopen"]}),
    "deleteTask": ("deletedId job { id }", lambda w: {"id": w["task delete"]}),
    "createAutomation": (
        "automation { id }",
        lambda w: {
            "stageId": w["stages"][2],
            "action": "CREATE_TASK",
            "settings": {"title": "Sign"},
        },
    ),
    "updateAutomation": (
        "automation { id enabled }",
        lambda w: {"id": w["automation update"], "enabled": False},
    ),
    "deleteAutomation": ("deletedId", lambda w: {"id": w["automation delete"]}),
    "retryAutomationRun": ("automationRun { id status }", lambda w: {"id": w["failed run"]}),
    "submitOrganizer": (
        "organizer { id status }",
        lambda w: {"id": w["organizer"], "answers": ["Salary"]},
    ),
    "sendMessage": (
        "message { id subject direction }",
        lambda w: {"jobId": w["job"], "subject": "Documents", "body": "Please upload them."},
    ),
    "payInvoice": ("invoice { id status }", lambda w: {"id": w["invoice"]}),
    "resendEmail": ("email { id status }", lambda w: {"id": w["email"]}),
    "inviteUser": (
        "user { id role } token",  # the role every inviter can give a token to
        lambda w: {"email": "new@a.test", "role": "ADMIN"},
    ),
    "updateUser": ("user { id name }", lambda w: {"id": w["rename"], "name": "Renamed"}),
    "deactivateUser": ("user { id isActive }", lambda w: {"id": w["leaver"]}),
    "createApiToken": (
        "apiToken { id scopes } secret",
        lambda w: {"name": "partner", "scopes": w["scopes"]},
    ),
    "revokeApiToken": ("apiToken { id revokedAt }", lambda w: {"id": w["spare token"]}),
    "createWebhookEndpoint": ("webhookEndpoint { id }", lambda w: {"url": URL}),
    "updateWebhookEndpoint": (
        "webhookEndpoint { id description }",
        lambda w: {"id": w["endpoint update"], "description": "CRM"},
    ),
    "deleteWebhookEndpoint": ("deletedId", lambda w: {"id": w["endpoint delete"]}),
    "redeliverWebhook": ("webhookDelivery { id status }", lambda w: {"deliveryId": w["delivery"]}),
    "createJobTemplate": (
        "jobTemplate { id name }",
        lambda w: {"name": "Yearly", "pipelineId": w["pipeline"], "titleTemplate": "{period} 1040"},
    ),
    "updateJobTemplate": (
        "jobTemplate { id name }",
        lambda w: {"id": w["template update"], "name": "Monthly books"},
    ),
    "deleteJobTemplate": ("deletedId", lambda w: {"id": w["template delete"]}),
    "createJobFromTemplate": (
        "job { id period }",
        lambda w: {
            "templateId": w["template update"],
            "clientId": w["client"],
            "period": "2026-01",
        },
    ),
    "createRecurringSchedule": (
        "recurringSchedule { id frequency }",
        lambda w: {
            "templateId": w["template update"],
            "clientIds": [w["client"]],
            "frequency": "MONTHLY",
            "startsOn": "2026-01-01",
            "timezone": "America/New_York",
        },
    ),
    "updateRecurringSchedule": (
        "recurringSchedule { id paused }",
        lambda w: {"id": w["schedule update"], "paused": True},
    ),
    "deleteRecurringSchedule": ("deletedId", lambda w: {"id": w["schedule delete"]}),
    "createCustomField": (
        "customField { id key }",
        lambda w: {"entity": "CLIENT", "key": "filing_status", "label": "Filing", "type": "TEXT"},
    ),
    "updateCustomField": (
        "customField { id label }",
        lambda w: {"id": w["field update"], "label": "Employer id"},
    ),
    "deleteCustomField": ("deletedId", lambda w: {"id": w["field delete"]}),
    "startExport": (
        "export { id status }",
        lambda w: {"pipelineId": w["pipeline"], "include": ["TASKS", "CLIENT"]},
    ),
}


def mutation_document(name: str) -> str:
    fields, _ = MUTATIONS[name]
    return (
        f"mutation($input: {mutation_fields()[name]}) {{ {name}(input: $input) "
        f"{{ errors {{ code field message }} {fields} }} }}"
    )


def mutation_needs(name: str) -> set[str]:
    return {ADMIN if name in ADMIN_MUTATIONS else WRITE, *([READ] if name in READ_TOO else [])}


def test_every_mutation_of_the_schema_has_a_row_in_the_matrix() -> None:
    """A new mutation must be added here, with the permission it needs, to pass."""
    assert set(mutation_fields()) == set(MUTATIONS)
    assert ADMIN_MUTATIONS <= set(MUTATIONS)


# -------------------------------------------------------------------- the mutation matrix


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_every_mutation_is_allowed_or_refused_as_the_table_says(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """Refused: FORBIDDEN and no row of any table changed. Allowed: it ran and succeeded."""
    world = await build_world(firm_a)
    world["scopes"] = sorted(caller.has) or [READ]
    token = await token_for(firm_a, caller)
    wrong: list[str] = []
    after = await snapshot()
    for name in sorted(mutation_fields()):
        allowed = mutation_needs(name) <= caller.has
        before = after
        body = await post(http, token, mutation_document(name), input=MUTATIONS[name][1](world))
        after = await snapshot()
        if allowed:
            payload = (body.get("data") or {}).get(name) or {}
            if not no_forbidden(body) or payload.get("errors") != []:
                wrong.append(f"{name}: should run, got {body}")
            elif after == before:
                wrong.append(f"{name}: said it ran but changed nothing")
        elif not forbidden(body):
            wrong.append(f"{name}: should be FORBIDDEN, got {body}")
        elif after != before:
            wrong.append(f"{name}: refused but changed the database")
    assert wrong == []


# ----------------------------------------------------------------------- the query matrix

Query = Callable[[World], str]
QUERIES: dict[str, Query] = {
    "node": lambda w: f'node(id: "{w["job"]}") {{ id }}',
    "nodes": lambda w: f'nodes(ids: ["{w["job"]}", "{w["client"]}"]) {{ id }}',
    "viewer": lambda w: "viewer { id role }",
    "users": lambda w: "users { id }",
    "pipelines": lambda w: "pipelines { totalCount }",
    "pipeline": lambda w: f'pipeline(id: "{w["pipeline"]}") {{ id }}',
    "job": lambda w: f'job(id: "{w["job"]}") {{ id }}',
    "jobs": lambda w: "jobs { totalCount }",
    "clients": lambda w: "clients { totalCount }",
    "jobTemplates": lambda w: "jobTemplates { totalCount }",
    "customFields": lambda w: "customFields { id }",
    "recurringSchedules": lambda w: "recurringSchedules { totalCount }",
    "client": lambda w: f'client(id: "{w["client"]}") {{ id }}',
    "apiTokens": lambda w: "apiTokens { id }",
    "webhookEndpoints": lambda w: "webhookEndpoints { id }",
    "export": lambda w: f'export(id: "{w["export"]}") {{ id status }}',
}


def test_every_query_of_the_schema_has_a_row_in_the_matrix() -> None:
    assert query_fields() == set(QUERIES)


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_every_query_is_allowed_or_refused_as_the_table_says(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    world = await small_world(firm_a)
    token = await token_for(firm_a, caller)
    wrong: list[str] = []
    for name in sorted(query_fields()):
        needs = ADMIN if name in ADMIN_QUERIES else READ
        body = await post(http, token, "{ " + QUERIES[name](world) + " }")
        if needs in caller.has:
            if "errors" in body or not body["data"][name]:
                wrong.append(f"{name}: should answer, got {body}")
        elif not forbidden(body):
            wrong.append(f"{name}: should be FORBIDDEN, got {body}")
    assert wrong == []


ADMIN_TYPE_IDS = ("spare token", "endpoint update", "delivery")


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_admin_types_by_node_need_admin(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """node/nodes of an ApiToken, WebhookEndpoint or WebhookDelivery: null without ADMIN,
    exactly like an id that does not exist; the whole query is refused without READ."""
    world = await small_world(firm_a)
    token = await token_for(firm_a, caller)
    ids = [world[label] for label in ADMIN_TYPE_IDS]
    fields = " ".join(f'n{n}: node(id: "{i}") {{ id }}' for n, i in enumerate(ids))
    body = await post(
        http, token, "query($ids: [ID!]!) { " + fields + " all: nodes(ids: $ids) { id } }", ids=ids
    )
    if READ not in caller.has:
        assert forbidden(body), body
    elif ADMIN in caller.has:
        assert body == {
            "data": {
                **{f"n{n}": {"id": i} for n, i in enumerate(ids)},
                "all": [{"id": i} for i in ids],
            }
        }
    else:
        assert body == {"data": {**{f"n{n}": None for n in range(3)}, "all": [None] * 3}}


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_admin_types_behind_fragments_and_nested_edges_need_admin(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """Deliveries reached through their endpoint, and the admin list through fragments: ADMIN
    is what webhookEndpoints needs (instead of READ), and what its types need; a delivery's
    payload (board data) needs READ too."""
    await small_world(firm_a)
    token = await token_for(firm_a, caller)
    body = await post(
        http,
        token,
        """query { ...Admin }
        fragment Admin on Query { webhookEndpoints { ... on WebhookEndpoint {
            secret deliveries { edges { node { payload } } } } } }""",
    )
    if {ADMIN, READ} <= caller.has:
        assert "errors" not in body and len(body["data"]["webhookEndpoints"]) == 2, body
    else:
        assert forbidden(body), body


# ------------------------------------------------------------------ mutations without READ

MOVE_ASKING = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
    %s } }"""
NESTED_SELECTIONS = {
    "a linked object": MOVE_ASKING % "job { client { name } }",
    "a linked list": MOVE_ASKING % "job { assignees { id } }",
    "a connection": MOVE_ASKING % "job { tasks { totalCount } }",
    "a linked id": MOVE_ASKING % "job { stage { id } }",
    "an inline fragment": MOVE_ASKING % "... on MoveJobPayload { job { pipeline { name } } }",
    "a named fragment": MOVE_ASKING % "job { ...Card }"
    + " fragment Card on Job { client { name } }",
}


async def test_without_read_a_mutation_answers_its_objects_own_fields(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    world = await small_world(firm_a)
    token = await token_for(firm_a, Caller("OWNER", frozenset({WRITE})))
    body = await post(
        http,
        token,
        MOVE_ASKING % "job { id version tags } errors { code field }",
        j=world["to move"],
        s=world["stages"][1],
    )
    assert body == {
        "data": {
            "moveJob": {"job": {"id": world["to move"], "version": 2, "tags": []}, "errors": []}
        }
    }


@pytest.mark.parametrize("document", NESTED_SELECTIONS.values(), ids=NESTED_SELECTIONS.keys())
async def test_without_read_a_mutation_asking_for_linked_objects_is_refused_whole(
    http: httpx.AsyncClient, firm_a: NewFirm, document: str
) -> None:
    world = await small_world(firm_a)
    token = await token_for(firm_a, Caller("OWNER", frozenset({WRITE, ADMIN})))
    before = await snapshot()
    body = await post(http, token, document, j=world["to move"], s=world["stages"][1])
    assert forbidden(body), body
    assert await snapshot() == before
    # the control: with READ the very same document runs
    body = await post(http, firm_a.token, document, j=world["to move"], s=world["stages"][1])
    assert "errors" not in body and body["data"]["moveJob"]["job"], body


async def test_without_read_an_admin_mutation_answers_only_its_objects_own_fields(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await token_for(firm_a, Caller("OWNER", frozenset({ADMIN})))
    create = """mutation { createPipeline(input: {name: "Payroll", stageNames: ["In"]}) {
        pipeline { %s } errors { code } } }"""
    before = await snapshot()
    assert forbidden(await post(http, token, create % "id stages { name }"))
    assert await snapshot() == before
    body = await post(http, token, create % "id name")
    assert body["data"]["createPipeline"]["pipeline"]["name"] == "Payroll", body


# ------------------------------------------------------------------ subscriptions over HTTP

SUBSCRIBE = "subscription($p: ID!) { boardUpdated(pipelineId: $p) { type } }"


async def test_a_subscription_over_http_without_read_is_forbidden(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    world = await small_world(firm_a)
    token = await token_for(firm_a, Caller("OWNER", frozenset({WRITE, ADMIN})))
    assert forbidden(await post(http, token, SUBSCRIBE, p=world["pipeline"]))


async def test_a_subscription_over_http_is_a_clear_client_error(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    world = await small_world(firm_a)
    response = await http.post(
        "/graphql",
        json={"query": SUBSCRIBE, "variables": {"p": world["pipeline"]}},
        headers={"Authorization": f"Bearer {firm_a.token}"},
    )
    assert response.status_code < 500
    codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
    assert codes and "INTERNAL_SERVER_ERROR" not in codes, response.text


# ---------------------------------------------------------------------- people and tokens

INVITE = """mutation($email: String!, $role: Role!) { inviteUser(input: {email: $email,
    role: $role}) { user { id role } token errors { code field } } }"""
UPDATE_USER = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
    user { id name role } errors { code field } } }"""
DEACTIVATE = """mutation($id: ID!) { deactivateUser(input: {id: $id}) {
    user { id isActive } errors { code field } } }"""
CREATE_TOKEN = """mutation($scopes: [TokenScope!]!) { createApiToken(input: {name: "partner",
    scopes: $scopes}) { apiToken { id scopes lastUsedAt } secret errors { code field } } }"""
TOKENS = "{ apiTokens { id name scopes lastUsedAt revokedAt userId } }"
VIEWER = "{ viewer { id role } }"
NEW_CLIENT = """mutation { createClient(input: {name: "Blue Harbor"}) { client { id }
    errors { code } } }"""
NEW_PIPELINE = """mutation { createPipeline(input: {name: "Payroll", stageNames: ["In"]}) {
    pipeline { id } errors { code } } }"""


def refused_with(payload: dict, code: str) -> bool:
    """A mutation that ran and refused: its object null and one UserError of this code."""
    objects = [v for k, v in payload.items() if k != "errors"]
    return [e["code"] for e in payload["errors"]] == [code] and not any(objects)


async def admin_token(firm: NewFirm) -> str:
    return await token_for(firm, Caller("ADMIN", ALL))


async def test_an_admin_may_invite_staff_and_admins_but_not_owners(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await admin_token(firm_a)
    before = await snapshot()
    owner = (await post(http, token, INVITE, email="boss@a.test", role="OWNER"))["data"]
    assert refused_with(owner["inviteUser"], "FORBIDDEN") and owner["inviteUser"]["token"] is None
    assert await snapshot() == before
    for role in ("ADMIN", "STAFF"):
        invited = (await post(http, token, INVITE, email=f"{role}@a.test", role=role))["data"]
        assert invited["inviteUser"]["errors"] == []
        assert invited["inviteUser"]["user"]["role"] == role


async def test_an_admin_cannot_demote_or_promote_to_owner(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await admin_token(firm_a)
    staff = await User.create(firm_id=firm_a.firm.id, email="s@a.test", name="Staff")
    before = await snapshot()
    for change in (
        {"id": gid("User", firm_a.owner.id), "role": "STAFF"},
        {"id": gid("User", firm_a.owner.id), "role": "ADMIN"},
        {"id": gid("User", staff.id), "role": "OWNER"},
    ):
        answer = (await post(http, token, UPDATE_USER, input=change))["data"]["updateUser"]
        assert refused_with(answer, "FORBIDDEN"), (change, answer)
    assert await snapshot() == before


async def test_an_admin_cannot_change_an_owners_name(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await admin_token(firm_a)
    before = await snapshot()
    change = {"id": gid("User", firm_a.owner.id), "name": "Mallory"}
    answer = (await post(http, token, UPDATE_USER, input=change))["data"]["updateUser"]
    assert refused_with(answer, "FORBIDDEN"), answer
    assert await snapshot() == before


async def test_an_admin_cannot_deactivate_an_owner(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await admin_token(firm_a)
    second_owner = await User.create(
        firm_id=firm_a.firm.id, email="o2@a.test", name="Second Owner", role=Role.OWNER
    )
    before = await snapshot()
    for owner in (firm_a.owner, second_owner):  # not even one of two
        answer = (await post(http, token, DEACTIVATE, id=gid("User", owner.id)))["data"]
        assert refused_with(answer["deactivateUser"], "FORBIDDEN"), answer
    assert await snapshot() == before
    assert (await post(http, firm_a.token, VIEWER))["data"]["viewer"]["role"] == "OWNER"


async def test_the_last_active_owner_can_be_neither_demoted_nor_deactivated(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    me = gid("User", firm_a.owner.id)
    gone = await User.create(
        firm_id=firm_a.firm.id,
        email="old@a.test",
        name="Old Owner",
        role=Role.OWNER,
        is_active=False,
    )  # an owner, but not active
    before = await snapshot()
    for role in ("ADMIN", "STAFF"):
        answer = await post(http, firm_a.token, UPDATE_USER, input={"id": me, "role": role})
        assert answer["data"]["updateUser"]["user"] is None, answer
        assert answer["data"]["updateUser"]["errors"], answer
    answer = (await post(http, firm_a.token, DEACTIVATE, id=me))["data"]["deactivateUser"]
    assert answer["user"] is None and answer["errors"], answer
    assert await snapshot() == before
    assert gone.is_active is False

    # with a second active owner, either may step down
    await post(http, firm_a.token, INVITE, email="o2@a.test", role="OWNER")
    answer = await post(http, firm_a.token, UPDATE_USER, input={"id": me, "role": "ADMIN"})
    assert answer["data"]["updateUser"] == {
        "user": {"id": me, "name": "Alice Owner", "role": "ADMIN"},
        "errors": [],
    }


async def test_a_token_cannot_get_a_scope_its_creator_lacks(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    token = await token_for(firm_a, Caller("OWNER", frozenset({READ, ADMIN})))
    before = await snapshot()
    for scopes in ([WRITE], [READ, WRITE], [READ, WRITE, ADMIN]):
        answer = (await post(http, token, CREATE_TOKEN, scopes=scopes))["data"]["createApiToken"]
        assert refused_with(answer, "FORBIDDEN"), (scopes, answer)
        assert answer["errors"][0]["field"] == "scopes"
    assert await snapshot() == before
    answer = (await post(http, token, CREATE_TOKEN, scopes=[READ, ADMIN]))["data"]
    assert answer["createApiToken"]["errors"] == []
    assert sorted(answer["createApiToken"]["apiToken"]["scopes"]) == [ADMIN, READ]


async def test_create_api_token_shows_the_secret_once(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """The secret works as a bearer token with the scopes asked for; it is stored hashed, and
    no type of the schema can show it again."""
    answer = (await post(http, firm_a.token, CREATE_TOKEN, scopes=[READ]))["data"]
    created = answer["createApiToken"]
    secret = created["secret"]
    assert created["errors"] == [] and secret.startswith("wf_")
    assert (await post(http, secret, VIEWER))["data"]["viewer"]["id"] == gid(
        "User", firm_a.owner.id
    )

    listed = await http.post(
        "/graphql", json={"query": TOKENS}, headers={"Authorization": f"Bearer {firm_a.token}"}
    )
    assert created["apiToken"]["id"] in listed.text and secret not in listed.text
    introspected = await post(
        http, firm_a.token, '{ __type(name: "ApiToken") { fields { name } } }'
    )
    names = {f["name"] for f in introspected["data"]["__type"]["fields"]}
    assert names == {"id", "name", "scopes", "createdAt", "lastUsedAt", "revokedAt", "userId"}
    rows = await ApiToken.all().values()
    assert all(secret not in json.dumps(row, default=str) for row in rows)
    assert all(secret[3:] not in json.dumps(row, default=str) for row in rows)


async def test_a_created_token_has_exactly_the_scopes_asked_for(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    created = (await post(http, firm_a.token, CREATE_TOKEN, scopes=[READ]))["data"]
    secret = created["createApiToken"]["secret"]
    assert created["createApiToken"]["apiToken"]["scopes"] == [READ]
    assert "errors" not in await post(http, secret, VIEWER)
    assert forbidden(await post(http, secret, NEW_CLIENT))
    assert forbidden(await post(http, secret, TOKENS))


async def test_last_used_at_is_set_once_a_token_is_used(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    created = (await post(http, firm_a.token, CREATE_TOKEN, scopes=[READ]))["data"]
    token_id, secret = (
        created["createApiToken"]["apiToken"]["id"],
        created["createApiToken"]["secret"],
    )
    assert created["createApiToken"]["apiToken"]["lastUsedAt"] is None

    def last_used(tokens: dict) -> str | None:
        return next(t["lastUsedAt"] for t in tokens["data"]["apiTokens"] if t["id"] == token_id)

    assert last_used(await post(http, firm_a.token, TOKENS)) is None
    started = datetime.now(UTC)
    await post(http, secret, VIEWER)
    used = last_used(await post(http, firm_a.token, TOKENS))
    assert used is not None
    assert abs((datetime.fromisoformat(used) - started).total_seconds()) < 5


async def test_an_invited_user_gets_a_working_token_with_the_rights_of_their_role(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    for role, may_shape_pipelines in (("STAFF", False), ("ADMIN", True), ("OWNER", True)):
        invited = await post(http, firm_a.token, INVITE, email=f"new-{role}@a.test", role=role)
        answer = invited["data"]["inviteUser"]
        token = answer["token"]
        assert answer["errors"] == [] and token
        assert (await post(http, token, VIEWER))["data"]["viewer"] == answer["user"]
        client_made = await post(http, token, NEW_CLIENT)
        assert client_made["data"]["createClient"]["errors"] == [], client_made
        pipeline = await post(http, token, NEW_PIPELINE)
        if may_shape_pipelines:
            assert pipeline["data"]["createPipeline"]["errors"] == [], (role, pipeline)
        else:
            assert forbidden(pipeline), (role, pipeline)


async def test_a_lowered_role_takes_effect_on_existing_tokens_at_once(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    invited = (await post(http, firm_a.token, INVITE, email="adm@a.test", role="ADMIN"))["data"]
    token, user = invited["inviteUser"]["token"], invited["inviteUser"]["user"]["id"]
    assert (await post(http, token, NEW_PIPELINE))["data"]["createPipeline"]["errors"] == []
    lowered = await post(http, firm_a.token, UPDATE_USER, input={"id": user, "role": "STAFF"})
    assert lowered["data"]["updateUser"]["errors"] == []
    assert forbidden(await post(http, token, NEW_PIPELINE))
    assert (await post(http, token, NEW_CLIENT))["data"]["createClient"]["errors"] == []


async def test_revoked_tokens_and_deactivated_users_get_401_at_once(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    created = (await post(http, firm_a.token, CREATE_TOKEN, scopes=[READ]))["data"]
    secret = created["createApiToken"]["secret"]
    invited = (await post(http, firm_a.token, INVITE, email="s@a.test", role="STAFF"))["data"]
    staff_token = invited["inviteUser"]["token"]
    for token in (secret, staff_token):
        assert (
            await http.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
            )
        ).status_code == 200
    revoke = """mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { revokedAt }
        errors { code } } }"""
    revoked = await post(http, firm_a.token, revoke, id=created["createApiToken"]["apiToken"]["id"])
    assert revoked["data"]["revokeApiToken"]["apiToken"]["revokedAt"]
    deactivated = await post(http, firm_a.token, DEACTIVATE, id=invited["inviteUser"]["user"]["id"])
    assert deactivated["data"]["deactivateUser"]["user"]["isActive"] is False
    for token in (secret, staff_token):
        response = await http.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401


SLOW_USER_UPDATES = """
CREATE FUNCTION wf_test_slow_update() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER wf_test_slow_update BEFORE UPDATE ON app_user
FOR EACH ROW EXECUTE FUNCTION wf_test_slow_update();
"""


@pytest.mark.postgres_only
@pytest.mark.parametrize("how", ["deactivate", "demote"])
async def test_two_owners_removing_each_other_at_once_leave_one_owner(
    http: httpx.AsyncClient, firm_a: NewFirm, how: str
) -> None:
    """A trigger makes every update of a user take 0.3 s, so both requests are in flight
    together (the window a real race needs, made wide)."""
    second = await User.create(
        firm_id=firm_a.firm.id, email="o2@a.test", name="Second Owner", role=Role.OWNER
    )
    _, second_token = await issue_token(second, "second")

    async def remove(token: str, user: User) -> dict:
        if how == "deactivate":
            return await post(http, token, DEACTIVATE, id=gid("User", user.id))
        return await post(
            http, token, UPDATE_USER, input={"id": gid("User", user.id), "role": "STAFF"}
        )

    connection = connections.get("default")
    await connection.execute_script(SLOW_USER_UPDATES)
    try:
        answers = await asyncio.gather(
            remove(firm_a.token, second), remove(second_token, firm_a.owner)
        )
    finally:
        await connection.execute_script(
            "DROP TRIGGER wf_test_slow_update ON app_user; DROP FUNCTION wf_test_slow_update();"
        )
    owners = await User.filter(firm_id=firm_a.firm.id, role=Role.OWNER, is_active=True).count()
    assert owners == 1, answers


# ------------------------------------------------------------ websockets, real processes


REVOKE = """mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { revokedAt }
    errors { code } } }"""
CLOSED_WITHIN = 2.0  # seconds from a revocation's answer to its sockets' close


def new_token(server: ServerProcess, owner: str, *scopes: str) -> tuple[str, str]:
    """(id, secret) of a new token of the owner with these scopes."""
    answer = graphql(server, owner, CREATE_TOKEN, scopes=list(scopes))["createApiToken"]
    assert answer["errors"] == [], answer
    return answer["apiToken"]["id"], answer["secret"]


def invite(server: ServerProcess, owner: str, email: str, role: str) -> tuple[str, str]:
    """(user id, first token) of a newly invited user."""
    answer = graphql(server, owner, INVITE, email=email, role=role)["inviteUser"]
    assert answer["errors"] == [], answer
    return answer["user"]["id"], answer["token"]


def http_status(server: ServerProcess, token: str) -> int:
    return httpx.post(
        f"{server.url}/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).status_code


async def refusal(server: ServerProcess, token: str, protocol: str) -> int | None:
    """The close code of a connection_init with this token."""
    async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        return await close_code(ws)


async def closed_within(sub: Subscription, seconds: float) -> int | None:
    return await asyncio.wait_for(close_code(sub.ws), seconds)


@pytest.mark.slow
async def test_a_subscription_needs_a_token_with_read(stack: Stack) -> None:
    """READ subscribes (and gets events); a token without READ is closed with 4403 at
    connection_init, an unknown or revoked one with 4401; on both sub-protocols."""
    board = make_board(stack.first)
    allowed = {
        "READ": new_token(stack.first, board.token, READ)[1],
        "READ+WRITE": new_token(stack.first, board.token, READ, WRITE)[1],
        "all": new_token(stack.first, board.token, READ, WRITE, ADMIN)[1],
        "staff": invite(stack.first, board.token, "staff@acme.test", "STAFF")[1],
    }
    revoked_id, revoked = new_token(stack.first, board.token, READ)
    graphql(stack.first, board.token, REVOKE, id=revoked_id)
    refused = {
        "WRITE": (new_token(stack.first, board.token, WRITE)[1], 4403),
        "ADMIN": (new_token(stack.first, board.token, ADMIN)[1], 4403),
        "WRITE+ADMIN": (new_token(stack.first, board.token, WRITE, ADMIN)[1], 4403),
        "unknown": ("wf_" + "x" * 43, 4401),
        "revoked": (revoked, 4401),
    }
    subs = []
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        for label, (token, code) in refused.items():
            assert await refusal(stack.last, token, protocol) == code, (label, protocol)
        for token in allowed.values():
            subs.append(await watch_board(stack.last, token, board, protocol))
    graphql(stack.first, board.token, MOVE, j=board.jobs[0], s=board.stages[1])
    for sub in subs:
        assert (await sub.event())["type"] == "JOB_MOVED"
        await sub.close()


@pytest.mark.slow
async def test_a_revoked_token_stops_at_once_on_every_process(stack: Stack) -> None:
    """Revoked through one process: 401 on every process, and its websocket on another
    process closed with 4401 within a second or two; other tokens' sockets stay open."""
    board = make_board(stack.first)
    token_id, secret = new_token(stack.first, board.token, READ)
    doomed = await watch_board(stack.first, secret, board)
    other = await watch_board(stack.first, board.token, board)
    graphql(stack.last, board.token, MOVE, j=board.jobs[0], s=board.stages[1])
    assert (await doomed.event())["type"] == (await other.event())["type"] == "JOB_MOVED"

    answer = await asyncio.to_thread(graphql, stack.last, board.token, REVOKE, id=token_id)
    assert answer["revokeApiToken"]["errors"] == []
    assert await closed_within(doomed, CLOSED_WITHIN) == 4401
    assert [http_status(server, secret) for server in stack.servers] == [401] * len(stack.servers)

    graphql(stack.last, board.token, MOVE, j=board.jobs[1], s=board.stages[1])
    assert (await other.event())["type"] == "JOB_MOVED"
    await other.close()


@pytest.mark.slow
async def test_deactivating_a_user_closes_their_sockets_and_stops_their_tokens(
    stack: Stack,
) -> None:
    board = make_board(stack.first)
    user_id, first = invite(stack.first, board.token, "admin@acme.test", "ADMIN")
    _, second = new_token(stack.first, first, READ)  # a token the user made for themself
    theirs = [
        await watch_board(stack.first, first, board),
        await watch_board(stack.last, second, board),
    ]
    owners = await watch_board(stack.first, board.token, board)

    answer = await asyncio.to_thread(graphql, stack.last, board.token, DEACTIVATE, id=user_id)
    assert answer["deactivateUser"]["errors"] == []
    for sub in theirs:
        assert await closed_within(sub, CLOSED_WITHIN) == 4401
    for server in stack.servers:
        assert [http_status(server, first), http_status(server, second)] == [401, 401]

    graphql(stack.last, board.token, MOVE, j=board.jobs[0], s=board.stages[1])
    assert (await owners.event())["type"] == "JOB_MOVED"
    await owners.close()


@pytest.mark.slow
async def test_a_lowered_role_closes_the_users_sockets_and_they_reconnect_with_less(
    stack: Stack,
) -> None:
    board = make_board(stack.first)
    user_id, token = invite(stack.first, board.token, "admin@acme.test", "ADMIN")
    sub = await watch_board(stack.first, token, board)
    lowered = await asyncio.to_thread(
        graphql, stack.last, board.token, UPDATE_USER, input={"id": user_id, "role": "STAFF"}
    )
    assert lowered["updateUser"]["errors"] == []
    assert await closed_within(sub, CLOSED_WITHIN) == 4401
    assert http_status(stack.first, token) == 200  # the token itself still works, as STAFF
    again = await watch_board(stack.first, token, board)
    graphql(stack.last, board.token, MOVE, j=board.jobs[0], s=board.stages[1])
    assert (await again.event())["type"] == "JOB_MOVED"
    await again.close()


@pytest.mark.slow
async def test_a_socket_may_only_run_what_its_token_may(stack: Stack) -> None:
    """Operations sent over a websocket go through the same checks as over HTTP: a READ
    token's socket cannot mutate (FORBIDDEN, nothing moves); READ+WRITE's can."""
    board = make_board(stack.first)
    version = """query($j: ID!) { job(id: $j) { version stage { id } } }"""
    read = new_token(stack.first, board.token, READ)[1]
    sub = await Subscription.open(stack.last, read, MOVE, j=board.jobs[0], s=board.stages[1])
    message = await sub.message()
    await sub.close()
    assert message["type"] == "error", message
    assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]
    assert graphql(stack.first, board.token, version, j=board.jobs[0])["job"] == {
        "version": 1,
        "stage": {"id": board.stages[0]},
    }

    read_write = new_token(stack.first, board.token, READ, WRITE)[1]
    sub = await Subscription.open(stack.last, read_write, MOVE, j=board.jobs[0], s=board.stages[1])
    assert await sub.message() == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"moveJob": {"job": {"version": 2}, "errors": []}}},
    }
    await sub.close()
