"""Bad input, property-based: every mutation, with inputs generated from its input type
(arbitrary strings with unicode and control characters, lone surrogates and 100,000
characters, ints at and past the 32-bit bounds, nulls, JSON of any shape, ids of the caller's
firm, of another firm, of nothing, and no ids at all), answers without a 5xx, without an
unexpected (INTERNAL_SERVER_ERROR) or unmasked error, without a traceback, and when it says
it refused, nothing in the database changed.

In-process (the `app_http` fixture), on SQLite and on PostgreSQL. A failure prints the input that
caused it (shrunk by Hypothesis): that is the reproducer.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from tortoise import connections

from automations import manage, runner
from models import (
    ActionType,
    ApiToken,
    Automation,
    AutomationRun,
    Client,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Invoice,
    Job,
    JobEvent,
    JobTemplate,
    Message,
    Organizer,
    Permission,
    Pipeline,
    RecurringSchedule,
    Role,
    Stage,
    Task,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.db import close_database, is_postgres, open_database
from schema.node import encode_id
from tests.conftest import TEST_SECRET_KEY
from tests.factories import board, client, job, scope_of
from tests.reliability.fuzzing import (
    GRAPHQL,
    MUTATIONS,
    Ids,
    answer_problems,
    body_of,
    document,
    id_type,
    mutation_input,
    refused,
    snapshot,
)
from tests.reliability.infra import LONG
from web.app import create_app
from web.middleware import RequestLog
from workflow import custom_fields, firms, jobs, people, schedules, tasks, templates, webhooks
from workflow.firms import NewFirm, create_firm
from workflow.periods import Frequency

EXAMPLES = 100 if LONG else 8
MODELS = {
    "Pipeline": Pipeline,
    "Stage": Stage,
    "Job": Job,
    "Client": Client,
    "Task": Task,
    "User": User,
    "Automation": Automation,
    "AutomationRun": AutomationRun,
    "Organizer": Organizer,
    "Invoice": Invoice,
    "Message": Message,
    "WebhookEndpoint": WebhookEndpoint,
    "WebhookDelivery": WebhookDelivery,
    "ApiToken": ApiToken,
    "JobEvent": JobEvent,
    "JobTemplate": JobTemplate,
    "RecurringSchedule": RecurringSchedule,
    "CustomField": CustomField,
}
LAST = ("delete", "deactivate", "revoke", "archive")  # so the others still find their objects
ORDERED = sorted(MUTATIONS, key=lambda m: (m.startswith(LAST), m))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


async def populate(firm: NewFirm) -> None:
    """A firm with something of every kind: two pipelines, jobs in each stage, a task, a
    teammate and their token, automations of several actions and their runs, organizers,
    invoices, messages, a webhook endpoint and its deliveries."""
    scope = scope_of(firm)
    pipeline, stages = await board(firm, ("Intake", "Work", "Done"))
    await board(firm, ("Lead", "Won"), name="Bookkeeping Lead")
    avery = await client(firm)
    cards = [await job(firm, pipeline, avery, f"job {n}") for n in range(3)]
    await tasks.create_task(scope, cards[0].id, "Request W-2")
    await people.invite_user(scope, f"pat@{firm.firm.id}.test", "Pat", Role.STAFF)
    await firms.create_api_token(scope, "integration", [Permission.READ])
    await webhooks.create_endpoint(scope, "http://127.0.0.1:9/hooks")
    for stage, action, settings_ in [
        (stages[1], ActionType.CREATE_TASK, {"title": "Review"}),
        (stages[2], ActionType.SEND_ORGANIZER, {"title": "Questions", "questions": ["W-2?"]}),
        (
            stages[2],
            ActionType.CREATE_INVOICE,
            {"currency": "USD", "lineItems": [{"description": "Return", "unitPriceCents": 10_000}]},
        ),
        (stages[2], ActionType.SEND_MESSAGE, {"subject": "Hi", "body": "{client.name}"}),
    ]:
        await manage.create_automation(scope, stage.id, action, settings_)
    await jobs.move_job(scope, cards[1].id, stages[1].id)
    await jobs.move_job(scope, cards[2].id, stages[2].id)
    await runner.run_due()
    monthly = await templates.create_job_template(
        scope,
        "Monthly",
        pipeline.id,
        "{client.name} {period}",
        checklist=[templates.ChecklistItem("Reconcile", due_in_days=3)],
        due_rule=templates.DueRule(days_after_period_end=10),
    )
    await schedules.create_schedule(
        scope,
        monthly.id,
        frequency=Frequency.MONTHLY,
        starts_on=date(2026, 1, 1),
        timezone="UTC",
        client_tag="individual",
    )
    for entity in CustomFieldEntity:
        await custom_fields.create_custom_field(scope, entity, "note", "Note", CustomFieldType.TEXT)
        await custom_fields.create_custom_field(
            scope, entity, "status", "Status", CustomFieldType.SELECT, options=["a", "b"]
        )


async def ids_of(firm: NewFirm, spare: set[tuple[str, int]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, model in MODELS.items():
        pks = await model.filter(firm_id=firm.firm.id).values_list("id", flat=True)
        found[name] = [str(encode_id(name, pk)) for pk in pks if (name, pk) not in spare]
    return found


@dataclass
class World:
    firm: NewFirm  # the caller, firm A
    ids: Ids
    backend: str


async def _empty() -> None:
    connection = connections.get("default")
    if is_postgres():
        names = [
            r["tablename"]
            for r in await connection.execute_query_dict(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        tables = ", ".join(f'"{n}"' for n in names if n != "tortoise_migrations")
        await connection.execute_script(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return
    names = [
        r["name"]
        for r in await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    ]
    for name in ["firm", *names]:  # the firm first: its rows cascade to nearly everything
        if name not in ("tortoise_migrations", "sqlite_sequence"):
            await connection.execute_script(f'DELETE FROM "{name}"')


@pytest.fixture(scope="module")
async def world(database_url: str) -> AsyncIterator[World]:
    """For the whole module, per backend: two firms populated; firm A's ids (its owner and the
    owner's token spared, so the fuzzer cannot lock itself out) and firm B's. The fuzzing
    changes it as it goes (destructive mutations run last)."""
    await open_database(database_url, migrate=False, secret_key=TEST_SECRET_KEY)
    await _empty()
    firm_a = await create_firm("Firm A", "owner@a.test", "Alice Owner")
    firm_b = await create_firm("Firm B", "owner@b.test", "Bob Owner")
    await populate(firm_a)
    await populate(firm_b)
    token = await ApiToken.filter(user_id=firm_a.owner.id).first()
    assert token is not None
    spare = {("User", firm_a.owner.id), ("ApiToken", token.id)}
    ids = Ids(own=await ids_of(firm_a, spare), foreign=await ids_of(firm_b, set()))
    yield World(firm_a, ids, database_url.partition(":")[0])
    await _empty()
    await close_database()


@pytest.fixture(scope="module")
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process; an exception escaping it is answered 500, as when served."""
    transport = httpx.ASGITransport(app=RequestLog(create_app()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _minimal(kind: Any, mutation: str, name: str, ids: Ids) -> Any:
    """A plain, valid-looking value of a GraphQL input type (the caller's firm's ids)."""
    if isinstance(kind, GraphQLNonNull):
        return _minimal(kind.of_type, mutation, name, ids)
    if isinstance(kind, GraphQLList):
        return [_minimal(kind.of_type, mutation, name, ids)]
    if isinstance(kind, GraphQLInputObjectType):
        return {
            field: _minimal(spec.type, mutation, field, ids)
            for field, spec in kind.fields.items()
            if isinstance(spec.type, GraphQLNonNull)
        }
    if isinstance(kind, GraphQLEnumType):
        return sorted(kind.values)[0]
    own = ids.own.get(id_type(mutation, name) or "", [])
    plain = {
        "ID": own[0] if own else "eA",
        "String": "Plain name",
        "Int": 1,
        "Boolean": False,
        "JSON": {},
        "Date": "2026-05-01",
        "Float": 1.0,
    }
    return plain.get(kind.name, "x")


async def test_each_optional_field_sent_as_null_is_answered_cleanly(
    api: httpx.AsyncClient, world: World
) -> None:
    """Every mutation, with each optional input field in turn explicitly null."""
    assert GRAPHQL.mutation_type is not None
    problems: dict[str, list[str]] = {}
    sent = 0
    for mutation in ORDERED:
        kind = GRAPHQL.mutation_type.fields[mutation].args["input"].type.of_type
        base = _minimal(kind, mutation, "input", world.ids)
        for field, spec in kind.fields.items():
            if isinstance(spec.type, GraphQLNonNull):
                continue
            variables = {"input": {**base, field: None}}
            response = await api.post(
                "/graphql",
                content=body_of(document(mutation), variables),
                headers={
                    "Authorization": f"Bearer {world.firm.token}",
                    "Content-Type": "application/json",
                },
            )
            sent += 1
            if found := answer_problems(response.status_code, response.text):
                problems[f"{mutation}({json.dumps(variables)})"] = found
    print(
        f"\nexplicit nulls ({world.backend}): {sent} requests, "
        f"{len(problems)} answered badly: {problems}"
    )
    assert problems == {}


TALLY: dict[str, Counter[str]] = defaultdict(Counter)
# Built once per mutation and backend: a strategy built afresh for every example spent about
# half of this module's CPU computing its properties again (the draws are the same).
INPUTS: dict[tuple[str, str], st.SearchStrategy[Any]] = {}


def inputs_of(mutation: str, world: World) -> st.SearchStrategy[Any]:
    key = (mutation, world.backend)
    if key not in INPUTS:
        INPUTS[key] = mutation_input(mutation, world.ids)
    return INPUTS[key]


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    """The figures: examples per mutation, applied or refused."""
    yield
    total = sum(sum(c.values()) for c in TALLY.values())
    applied = sum(c["applied"] for c in TALLY.values())
    never = sorted(m for m, c in TALLY.items() if not c["applied"])
    print(
        f"\nfuzz mutations (so far): {total} examples over {len(TALLY)} mutations x "
        f"backends, {applied} applied, {total - applied} refused; never applied: "
        f"{', '.join(never) or 'none'}"
    )


@pytest.mark.parametrize("mutation", ORDERED)
@FUZZ
@given(data=st.data())
async def test_any_input_to_a_mutation_is_answered_cleanly(
    api: httpx.AsyncClient,
    world: World,
    mutation: str,
    data: st.DataObject,
) -> None:
    variables: dict[str, Any] = {"input": data.draw(inputs_of(mutation, world))}
    before = await snapshot()
    response = await api.post(
        "/graphql",
        content=body_of(document(mutation), variables),
        headers={"Authorization": f"Bearer {world.firm.token}", "Content-Type": "application/json"},
    )
    note(f"answer: {response.status_code} {response.text[:600]}")
    assert answer_problems(response.status_code, response.text) == []
    body = json.loads(response.text)
    if refused(body, mutation):
        TALLY[f"{mutation}@{world.backend}"]["refused"] += 1
        assert await snapshot() == before, "refused, yet something changed"
    else:
        TALLY[f"{mutation}@{world.backend}"]["applied"] += 1
