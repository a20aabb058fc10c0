"""Custom fields (workflow/custom_fields.py): definitions, values on jobs and clients checked
against them, the job filter, automation conditions, title and message placeholders, webhook
payloads, and what renaming and deleting a definition do to stored values. Both databases."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from automations import manage
from models import (
    ActionType,
    AutomationRun,
    Client,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    EventType,
    Job,
    JobEvent,
    RunStatus,
    WebhookDelivery,
)
from schema.result_cache import STORE
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, scope_of
from tests.mutations import document
from tests.test_bad_input import MISSING, refused
from workflow import custom_fields, documents, jobs, templates, webhooks
from workflow.errors import DomainError
from workflow.firms import NewFirm

JOB, CLIENT = CustomFieldEntity.JOB, CustomFieldEntity.CLIENT
T = CustomFieldType
URL = "http://127.0.0.1:9/hook"

JOBS = """query($f: JobFilter) { jobs(filter: $f) { totalCount edges { node { title
  customFields } } } }"""


async def define(firm: NewFirm, entity: CustomFieldEntity = JOB) -> dict[str, CustomField]:
    """One field of each type (SELECT: filing_status) for `entity`."""
    scope = scope_of(firm)
    made = {}
    for key, kind, options in (
        ("note", T.TEXT, None),
        ("fee", T.NUMBER, None),
        ("year_end", T.DATE, None),
        ("extension", T.BOOLEAN, None),
        ("filing_status", T.SELECT, ["MFJ", "single", "HOH"]),
    ):
        made[key] = await custom_fields.create_custom_field(
            scope, entity, key, key.replace("_", " ").title(), kind, options=options
        )
    return made


async def test_definitions_are_created_listed_and_found_by_id(gql: GraphQL) -> None:
    created = await gql(
        document("createCustomField"),
        input={
            "entity": "CLIENT",
            "key": "filing_status",
            "label": "Filing status",
            "type": "SELECT",
            "options": ["MFJ", "single"],
            "required": False,
        },
    )
    assert created["createCustomField"]["errors"] == []
    field_id = created["createCustomField"]["customField"]["id"]
    await gql(
        document("createCustomField"),
        input={"entity": "JOB", "key": "fee", "label": "Fee", "type": "NUMBER"},
    )
    listed = await gql(
        "{ all: customFields { key entity } clients: customFields(entity: CLIENT) "
        "{ key label type options required position } }"
    )
    assert [(f["key"], f["entity"]) for f in listed["all"]] == [
        ("fee", "JOB"),
        ("filing_status", "CLIENT"),
    ]
    assert listed["clients"] == [
        {
            "key": "filing_status",
            "label": "Filing status",
            "type": "SELECT",
            "options": ["MFJ", "single"],
            "required": False,
            "position": 0,
        }
    ]
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on CustomField { key } } }", id=field_id
    )
    assert node["node"] == {"key": "filing_status"}


@pytest.mark.parametrize(
    ("input", "field", "says"),
    [
        ({"key": "Bad Key"}, "key", "lower-case"),
        ({"key": "9lives"}, "key", "lower-case"),
        ({"key": "x" * 41}, "key", "40 characters"),
        ({"label": "  "}, "label", "empty"),
        ({"options": ["a"]}, "options", "only a SELECT"),
        ({"type": "SELECT"}, "options", "at least one option"),
        ({"type": "SELECT", "options": ["a", "a"]}, "options", "distinct"),
        ({"type": "SELECT", "options": ["x" * 101]}, "options", "100"),
        ({"type": "SELECT", "options": [str(n) for n in range(101)]}, "options", "100 options"),
        ({"key": "note"}, "key", "exists"),
    ],
)
async def test_bad_definitions_are_refused(
    gql: GraphQL, firm_a: NewFirm, input: dict[str, Any], field: str, says: str
) -> None:
    await custom_fields.create_custom_field(scope_of(firm_a), JOB, "note", "Note", T.TEXT)
    given = {"entity": "JOB", "key": "ein", "label": "EIN", "type": "TEXT"} | input
    error = await refused(gql, "createCustomField", given)
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert says in error["message"]


async def test_at_most_fifty_definitions_per_entity(gql: GraphQL, firm_a: NewFirm) -> None:
    for n in range(custom_fields.FIELDS_MAX):
        await custom_fields.create_custom_field(scope_of(firm_a), JOB, f"f{n}", "F", T.TEXT)
    error = await refused(
        gql, "createCustomField", {"entity": "JOB", "key": "one_more", "label": "X", "type": "TEXT"}
    )
    assert error["field"] == "entity"
    made = await gql(  # the other entity has its own fifty
        document("createCustomField"),
        input={"entity": "CLIENT", "key": "one_more", "label": "X", "type": "TEXT"},
    )
    assert made["createCustomField"]["errors"] == []


@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        ({"note": 5}, "customFields.note", "give a string"),
        ({"note": "x" * 1001}, "customFields.note", "1000 characters"),
        ({"note": "a\u0000b"}, "customFields.note", "control characters"),
        ({"fee": "12"}, "customFields.fee", "give a number"),
        ({"fee": True}, "customFields.fee", "give a number"),
        ({"fee": 1e16}, "customFields.fee", "finite number"),
        ({"fee": 10**400}, "customFields.fee", "finite number"),
        ({"year_end": "2026-02-30"}, "customFields.year_end", "YYYY-MM-DD"),
        ({"year_end": "2026-2-3"}, "customFields.year_end", "YYYY-MM-DD"),
        ({"year_end": 20260101}, "customFields.year_end", "give a string"),
        ({"extension": "true"}, "customFields.extension", "true or false"),
        ({"extension": 1}, "customFields.extension", "true or false"),
        ({"filing_status": "married"}, "customFields.filing_status", "one of its options"),
        ({"filing_status": ["MFJ"]}, "customFields.filing_status", "give a string"),
        ({"ein": "12-3456789"}, "customFields.ein", "no custom field 'ein'"),
        ({"x" * 500: 1}, "customFields." + "x" * 50 + "…", "no custom field"),
        ([1, 2], "customFields", "an object"),
        ("MFJ", "customFields", "an object"),
    ],
)
async def test_bad_values_are_typed_user_errors_naming_the_key(
    gql: GraphQL, firm_a: NewFirm, values: Any, field: str, says: str
) -> None:
    await define(firm_a)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    created = {"pipelineId": gid("Pipeline", pipeline.id), "clientId": gid("Client", avery.id)}
    error = await refused(gql, "createJob", created | {"title": "2025", "customFields": values})
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert says in error["message"]
    card = await jobs.create_job(scope_of(firm_a), pipeline.id, avery.id, "2025")
    error = await refused(gql, "updateJob", {"id": gid("Job", card.id), "customFields": values})
    assert (error["field"], says in error["message"]) == (field, True)


async def test_client_values_are_checked_against_client_fields(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    await define(firm_a, CLIENT)
    await custom_fields.create_custom_field(scope_of(firm_a), JOB, "job_only", "J", T.TEXT)
    error = await refused(gql, "createClient", {"name": "Blue", "customFields": {"job_only": "x"}})
    assert error["field"] == "customFields.job_only"
    made = await gql(
        document("createClient").replace("client { id }", "client { id customFields }"),
        input={"name": "Blue", "customFields": {"filing_status": "MFJ", "fee": 12.5}},
    )
    assert made["createClient"]["client"]["customFields"] == {"filing_status": "MFJ", "fee": 12.5}
    changed = await gql(
        document("updateClient").replace("client { id }", "client { customFields }"),
        input={
            "id": made["createClient"]["client"]["id"],
            "customFields": {"fee": None, "extension": False},
        },
    )
    assert changed["updateClient"]["client"]["customFields"] == {
        "filing_status": "MFJ",
        "extension": False,
    }


async def test_values_merge_and_each_change_is_a_job_updated_event_with_a_diff(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    await define(firm_a)
    await webhooks.create_endpoint(scope_of(firm_a), URL)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    made = await gql(
        document("createJob").replace("job { id }", "job { id version customFields }"),
        input={
            "pipelineId": gid("Pipeline", pipeline.id),
            "clientId": gid("Client", avery.id),
            "title": "2025",
            "customFields": {"fee": 450, "note": "  ", "filing_status": None},
        },
    )
    card = made["createJob"]["job"]
    assert card["customFields"] == {"fee": 450}  # blank text and null: unset
    update = document("updateJob").replace("job { id }", "job { version customFields }")
    changed = await gql(
        update, input={"id": card["id"], "customFields": {"fee": 500.25, "extension": True}}
    )
    assert changed["updateJob"]["job"] == {
        "version": card["version"] + 1,
        "customFields": {"fee": 500.25, "extension": True},
    }
    cleared = await gql(update, input={"id": card["id"], "customFields": {"fee": None}})
    assert cleared["updateJob"]["job"]["customFields"] == {"extension": True}
    same = await gql(update, input={"id": card["id"], "customFields": {"extension": True}})
    assert same["updateJob"]["job"]["version"] == card["version"] + 2  # nothing changed
    events = await JobEvent.filter(type=EventType.JOB_UPDATED).order_by("id")
    assert [e.changes for e in events] == [
        {
            "custom_fields": {
                "extension": {"from": None, "to": True},
                "fee": {"from": 450, "to": 500.25},
            }
        },
        {"custom_fields": {"fee": {"from": 500.25, "to": None}}},
    ]
    deliveries = await WebhookDelivery.filter(event_type="JOB_UPDATED").order_by("id")
    last = deliveries[-1].payload["data"]
    assert last["job"]["customFields"] == {"extension": True}
    assert last["changes"] == {"custom_fields": {"fee": {"from": 500.25, "to": None}}}
    created = await WebhookDelivery.filter(event_type="JOB_CREATED").first()
    assert created is not None and created.payload["data"]["job"]["customFields"] == {"fee": 450}


async def test_required_fields_on_create_and_never_cleared(gql: GraphQL, firm_a: NewFirm) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    before = await jobs.create_job(scope, pipeline.id, avery.id, "made before")
    await custom_fields.create_custom_field(scope, JOB, "ein", "EIN", T.TEXT, required=True)
    base = {"pipelineId": gid("Pipeline", pipeline.id), "clientId": gid("Client", avery.id)}
    error = await refused(gql, "createJob", base | {"title": "2025"})
    assert (error["field"], error["message"]) == ("customFields.ein", "ein is required")
    error = await refused(gql, "createJob", base | {"title": "2025", "customFields": {"ein": ""}})
    assert error["field"] == "customFields.ein"
    card = await jobs.create_job(
        scope, pipeline.id, avery.id, "2025", custom_field_values={"ein": "12-3456789"}
    )
    error = await refused(
        gql, "updateJob", {"id": gid("Job", card.id), "customFields": {"ein": None}}
    )
    assert "cannot be cleared" in error["message"]
    # a job made before the field became required is updated without it
    renamed = await jobs.update_job(scope, before.id, title="still fine")
    assert renamed.custom_fields == {}


async def test_renaming_keeps_values_and_options_in_use_stay(gql: GraphQL, firm_a: NewFirm) -> None:
    fields = await define(firm_a)
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    for status in ("MFJ", "MFJ", "single"):
        await jobs.create_job(
            scope, pipeline.id, avery.id, status, custom_field_values={"filing_status": status}
        )
    select = gid("CustomField", fields["filing_status"].id)
    renamed = await gql(
        document("updateCustomField").replace("customField { id }", "customField { label }"),
        input={"id": select, "label": "Filing as"},
    )
    assert renamed["updateCustomField"]["customField"] == {"label": "Filing as"}
    assert sorted(j.custom_fields["filing_status"] for j in await Job.all()) == [
        "MFJ",
        "MFJ",
        "single",
    ]
    error = await refused(gql, "updateCustomField", {"id": select, "options": ["single", "HOH"]})
    assert error["field"] == "options"
    assert error["message"].startswith("2 job(s) have 'MFJ' in filing_status")
    kept = await gql(
        document("updateCustomField").replace("customField { id }", "customField { options }"),
        input={"id": select, "options": ["MFJ", "single", "QW"]},  # HOH unused: it may go
    )
    assert kept["updateCustomField"]["customField"] == {"options": ["MFJ", "single", "QW"]}


async def test_deleting_a_definition_removes_its_values_everywhere(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    fields = await define(firm_a)
    client_fields = await define(firm_a, CLIENT)
    await define(firm_b)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    await Client.filter(id=avery.id).update(custom_fields={"fee": 1, "note": "x"})
    values = {"fee": 10, "note": "keep"}
    card = await jobs.create_job(
        scope_of(firm_a), pipeline.id, avery.id, "t", custom_field_values=values
    )
    other_pipeline, _ = await board(firm_b)
    other = await jobs.create_job(
        scope_of(firm_b),
        other_pipeline.id,
        (await client(firm_b)).id,
        "b",
        custom_field_values={"fee": 10},
    )
    shown = "{ jobs { edges { node { customFields client { customFields } } } } }"
    before = (await gql(shown))["jobs"]["edges"][0]["node"]  # cached until the next change
    assert before == {"customFields": values, "client": {"customFields": {"fee": 1, "note": "x"}}}
    for field in (fields["fee"], client_fields["note"]):
        deleted = await gql(
            document("deleteCustomField"), input={"id": gid("CustomField", field.id)}
        )
        assert deleted["deleteCustomField"] == {
            "errors": [],
            "deletedId": gid("CustomField", field.id),
        }
    assert (await Job.get(id=card.id)).custom_fields == {"note": "keep"}
    assert (await Client.get(id=avery.id)).custom_fields == {"fee": 1}
    assert (await Job.get(id=other.id)).custom_fields == {"fee": 10}  # another firm's
    assert (await Job.get(id=card.id)).version == card.version  # no event, no new version
    after = (await gql(shown))["jobs"]["edges"][0]["node"]  # the cache saw the change
    assert after == {"customFields": {"note": "keep"}, "client": {"customFields": {"fee": 1}}}


async def test_another_firms_definition_is_a_missing_one(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    theirs = (await define(firm_b))["note"]
    for op, extra in (("updateCustomField", {"label": "Mine"}), ("deleteCustomField", {})):
        foreign = await refused(gql, op, {"id": gid("CustomField", theirs.id)} | extra)
        missing = await refused(gql, op, {"id": gid("CustomField", MISSING)} | extra)
        assert foreign == missing
        assert foreign["code"] == "NOT_FOUND"
    found = await gql("query($id: ID!) { node(id: $id) { id } }", id=gid("CustomField", theirs.id))
    assert found["node"] is None


async def _filter_world(firm_a: NewFirm, firm_b: NewFirm) -> None:
    await define(firm_a)
    await define(firm_b)
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    rows: list[tuple[str, dict[str, Any]]] = [
        ("a", {"fee": 100, "year_end": "2025-12-31", "filing_status": "MFJ", "extension": True}),
        ("b", {"fee": 250.5, "year_end": "2026-06-30", "filing_status": "single"}),
        ("c", {"fee": 400, "year_end": "2026-03-31", "note": "it's big", "extension": False}),
        ("d", {}),
    ]
    for title, values in rows:
        await jobs.create_job(scope, pipeline.id, avery.id, title, custom_field_values=values)
    theirs, _ = await board(firm_b)
    await jobs.create_job(  # the same keys and values in another firm: never found
        scope_of(firm_b),
        theirs.id,
        (await client(firm_b)).id,
        "other firm",
        custom_field_values={"fee": 100, "filing_status": "MFJ", "extension": True},
    )


@pytest.mark.parametrize(
    ("filters", "titles"),
    [
        ([{"key": "filing_status", "equals": "MFJ"}], ["a"]),
        ([{"key": "fee", "equals": 100}], ["a"]),
        ([{"key": "fee", "equals": 250.5}], ["b"]),
        ([{"key": "extension", "equals": True}], ["a"]),
        ([{"key": "extension", "equals": False}], ["c"]),
        ([{"key": "note", "equals": "it's big"}], ["c"]),
        ([{"key": "year_end", "equals": "2026-03-31"}], ["c"]),
        ([{"key": "fee", "min": 200}], ["b", "c"]),
        ([{"key": "fee", "max": 250.5}], ["a", "b"]),
        ([{"key": "fee", "min": 101, "max": 399.99}], ["b"]),
        ([{"key": "year_end", "min": "2026-01-01"}], ["b", "c"]),
        ([{"key": "year_end", "max": "2026-03-31"}], ["a", "c"]),
        ([{"key": "fee", "min": 100}, {"key": "extension", "equals": False}], ["c"]),
        ([{"key": "fee", "min": 1000}], []),
    ],
)
async def test_jobs_filter_by_custom_fields(
    gql: GraphQL,
    firm_a: NewFirm,
    firm_b: NewFirm,
    filters: list[dict[str, Any]],
    titles: list[str],
) -> None:
    await _filter_world(firm_a, firm_b)
    found = (await gql(JOBS, f={"customFields": filters}))["jobs"]
    assert sorted(e["node"]["title"] for e in found["edges"]) == titles
    assert found["totalCount"] == len(titles)


@pytest.mark.parametrize(
    ("wanted", "says"),
    [
        ({"key": "ein", "equals": "1"}, "no job custom field 'ein'"),
        ({"key": "fee", "equals": "100"}, "give a number"),
        ({"key": "filing_status", "equals": "married"}, "one of its options"),
        ({"key": "note", "min": "a"}, "ranges are for NUMBER and DATE"),
        ({"key": "filing_status", "max": "MFJ"}, "ranges are for NUMBER and DATE"),
        ({"key": "year_end", "min": "June"}, "YYYY-MM-DD"),
        ({"key": "fee"}, "give equals, min or max"),
    ],
)
async def test_bad_custom_field_filters_are_typed_errors(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm, wanted: dict[str, Any], says: str
) -> None:
    await _filter_world(firm_a, firm_b)
    body = await gql(JOBS, expect_errors=True, f={"customFields": [wanted]})
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": "filter.customFields"}
    assert says in error["message"]


async def test_a_custom_field_filter_costs_one_statement_more(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm, sql_statements: StatementCounter
) -> None:
    await _filter_world(firm_a, firm_b)
    counts = []
    for f in ({}, {"customFields": [{"key": "fee", "min": 1}, {"key": "note", "equals": "x"}]}):
        STORE.clear()
        sql_statements.statements.clear()
        await gql(JOBS, f=f)
        counts.append(len([s for s in sql_statements.statements if "api_token" not in s]))
    assert counts[1] == counts[0] + 1, sql_statements.statements  # the definitions, once


async def test_automation_conditions_on_job_and_client_values(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    await define(firm_a)
    await define(firm_a, CLIENT)
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    for bad, field in (
        ({"ein": ["x"]}, "conditions.customFields.ein"),
        ({"filing_status": ["married"]}, "conditions.customFields.filing_status"),
        ({"client.fee": ["12"]}, "conditions.customFields.client.fee"),
        ({"fee": []}, "conditions.customFields.fee"),
        (["fee"], "conditions.customFields"),
    ):
        with pytest.raises(DomainError) as refusal:
            await manage.create_automation(
                scope,
                stages[0].id,
                ActionType.CREATE_TASK,
                {"title": "x"},
                conditions={"customFields": bad},
            )
        assert refusal.value.field == field
    automation = await manage.create_automation(
        scope,
        stages[0].id,
        ActionType.CREATE_TASK,
        {"title": "Married filing jointly checklist"},
        conditions={"customFields": {"filing_status": ["MFJ", "HOH"], "client.extension": [True]}},
    )
    assert automation.conditions == {
        "customFields": {"filing_status": ["MFJ", "HOH"], "client.extension": [True]}
    }
    extended = await client(firm_a)
    await Client.filter(id=extended.id).update(custom_fields={"extension": True})
    plain = await client(firm_a, "Blue Harbor")
    made = {}
    for title, owner, status in (
        ("runs", extended, "MFJ"),
        ("wrong status", extended, "single"),
        ("no extension", plain, "MFJ"),
    ):
        made[title] = await jobs.create_job(
            scope, pipeline.id, owner.id, title, custom_field_values={"filing_status": status}
        )
    runs = {r.job_id: r for r in await AutomationRun.filter(automation_id=automation.id)}
    assert runs[made["runs"].id].status != RunStatus.SKIPPED
    assert runs[made["wrong status"].id].status == RunStatus.SKIPPED
    assert 'the job\'s filing_status is "single"' in (runs[made["wrong status"].id].error or "")
    assert runs[made["no extension"].id].status == RunStatus.SKIPPED
    assert "the client's extension is null" in (runs[made["no extension"].id].error or "")


async def test_title_and_message_placeholders(gql: GraphQL, firm_a: NewFirm) -> None:
    await define(firm_a, CLIENT)
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    await Client.filter(id=avery.id).update(custom_fields={"filing_status": "MFJ"})
    with pytest.raises(DomainError) as refusal:
        await templates.create_job_template(
            scope, "Yearly", pipeline.id, "{client.customFields.ein} 1040"
        )
    assert refusal.value.field == "titleTemplate" and "client.customFields.ein" in str(
        refusal.value.message
    )
    template = await templates.create_job_template(
        scope, "Yearly", pipeline.id, "{client.name} 1040 ({client.customFields.filing_status})"
    )
    made = await templates.create_job_from_template_ids(scope, template.id, avery.id, None)
    assert made.title == "Avery Johnson 1040 (MFJ)"
    plain = await client(firm_a, "Blue Harbor")  # no value: empty
    made = await templates.create_job_from_template_ids(scope, template.id, plain.id, None)
    assert made.title == "Blue Harbor 1040 ()"
    await custom_fields.create_custom_field(scope, JOB, "fee", "Fee", T.NUMBER)
    body = "Fee {job.customFields.fee}, filing as {client.customFields.filing_status}."
    automation = await manage.create_automation(
        scope, stages[0].id, ActionType.SEND_MESSAGE, {"subject": "Hi", "body": body}
    )
    assert automation.settings["body"] == body
    with pytest.raises(DomainError) as refusal:
        await manage.create_automation(
            scope,
            stages[0].id,
            ActionType.SEND_MESSAGE,
            {"subject": "Hi", "body": "{job.customFields.filing_status}"},  # a CLIENT field
        )
    assert refusal.value.field == "settings.body"
    card = await jobs.create_job(
        scope, pipeline.id, avery.id, "t", custom_field_values={"fee": 450}
    )
    assert documents.render(body, card, await Client.get(id=avery.id)) == (
        "Fee 450, filing as MFJ."
    )


@pytest.mark.postgres_only
async def test_an_equality_filter_can_be_served_by_the_gin_index(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    """The statements the filter makes (page and total) can read job by the GIN index of
    migration 0017 (bench/custom_fields.py measures what it saves). On tables this small the
    planner prefers others: sequential scans are priced out and the other plain indexes of job
    dropped in a transaction rolled back, so that the question is only whether GIN can serve."""
    await _filter_world(firm_a, firm_b)
    scope = scope_of(firm_a)
    queryset = await custom_fields.job_filter(
        scope,
        scope.query(Job).filter(status__in=["ACTIVE", "COMPLETED"]),
        [custom_fields.FieldFilter("filing_status", "MFJ")],
    )
    db = connections.get("default")
    for statement in (queryset.order_by("id").limit(51), queryset.count()):
        async with db.acquire_connection() as connection, connection.transaction():
            await connection.execute("SET LOCAL enable_seqscan = off")
            await connection.execute("SET LOCAL enable_indexscan = off")  # not the pkey walk
            for row in await connection.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'job' "
                "AND indexname <> 'idx_job_custom_fields' AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            ):
                await connection.execute(f'DROP INDEX "{row[0]}"')
            plan = [
                str(row[0])
                for row in await connection.fetch("EXPLAIN " + statement.sql(params_inline=True))
            ]
        assert any("idx_job_custom_fields" in line for line in plan), "\n".join(plan)
