"""Pipeline templates (issue 16): `Pipeline.template` exports a pipeline's board configuration
with portable references, `importPipelineTemplate` makes the same board in another firm (or
says, in `warnings`, what it could not map there), and a bad document is a typed error that
writes nothing. Both databases, through the API as a client uses it."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from automations import manage, pipeline_templates
from automations.actions import ACTIONS
from automations.pipeline_templates import REFERENCES, SHIPPED, SHIPPED_DIR
from models import (
    ActionType,
    Automation,
    AutomationTrigger,
    Firm,
    JobEvent,
    Permission,
    Pipeline,
    Role,
    Stage,
    User,
)
from schema.types import ID_SETTINGS
from tests.conftest import GraphQL, StatementCounter, graphql_client
from tests.factories import board, gid, scope_of
from tests.markdown import ROOT, fenced_blocks
from workflow import pipelines, webhooks
from workflow.firms import NewFirm, issue_token
from workflow.global_ids import decode_id

TEMPLATE = "query($id: ID!) { pipeline(id: $id) { template } }"
IMPORT = """mutation($input: ImportPipelineTemplateInput!) {
  importPipelineTemplate(input: $input) { pipeline { id name stages { name } }
  warnings { path message } errors { code field message } } }"""
DOC = ROOT / "docs" / "pipeline-templates.md"
ENDPOINT_URL = "http://127.0.0.1:9/hooks"


def doc_example() -> dict[str, Any]:
    """The template of docs/pipeline-templates.md (its one ```json block)."""
    (block,) = [b for b in fenced_blocks(DOC) if b.info == "json"]
    example: dict[str, Any] = json.loads(block.text)
    return example


# ------------------------------------------------------------------------------ the format


def test_every_id_setting_of_every_action_is_written_as_a_portable_reference() -> None:
    """A setting that holds a row id means nothing in another firm: each has its reference."""
    for action, module in ACTIONS.items():
        id_keys = {key for key in module.settings.__annotations__ if key.endswith("Id")}
        assert id_keys == set(REFERENCES.get(action, {})), action
        assert id_keys <= set(ID_SETTINGS), action  # the API decodes them as ids too


# ----------------------------------------------------------------------- a firm's board, twice


@dataclass
class Board:
    pipeline: Pipeline
    stages: list[Stage]
    other: Pipeline  # the pipeline TRANSFER_JOB sends jobs to
    other_stages: list[Stage]
    person: User
    endpoint: int


async def firm_board(firm: NewFirm) -> Board:
    """Stages with every limit and flag, automations of every action, dated and conditional,
    naming a person, an endpoint, another pipeline and its stage, and a stage of their own."""
    scope = scope_of(firm)
    other, other_stages = await board(firm, ("Lead", "Proposal", "Won"), name="Bookkeeping")
    pipeline, stages = await board(firm, ("Intake", "Prepare", "Review", "Done"))
    await pipelines.update_stage(
        scope,
        stages[0].id,
        portal_name="Waiting for your documents",
        wip_limit=25,
        time_limit_days=14,
        auto_move=True,
    )
    await pipelines.update_stage(scope, stages[2].id, wip_limit=3, time_limit_days=2)
    person = await User.create(
        firm_id=firm.firm.id, name="Pat Preparer", email="pat@firm.test", role=Role.STAFF
    )
    endpoint = await webhooks.create_endpoint(scope, ENDPOINT_URL, description="Practice CRM")
    add = manage.create_automation
    await add(
        scope,
        stages[0].id,
        ActionType.SEND_ORGANIZER,
        {"title": "Organizer", "questions": ["Income?"], "remindEveryDays": 7, "maxReminders": 3},
        conditions={"clientTagsAll": ["individual"], "priorities": ["HIGH", "URGENT"]},
    )
    await add(
        scope,
        stages[0].id,
        ActionType.CREATE_TASK,
        {"title": "Chase documents", "assigneeId": person.id, "dueInDays": 2},
        trigger=AutomationTrigger.DAYS_IN_STAGE,
        trigger_days=5,
    )
    await add(
        scope,
        stages[1].id,
        ActionType.CREATE_TASK,
        {"title": "Prepare", "description": "Line by line", "assignToJobAssignees": True},
    )
    await add(
        scope,
        stages[1].id,
        ActionType.SEND_MESSAGE,
        {"subject": "About {job.title}", "body": "Hello {client.name}, due {job.dueDate}."},
        trigger=AutomationTrigger.DAYS_BEFORE_DUE,
        trigger_days=10,
        conditions={"clientTagsNone": ["paper"]},
    )
    await add(
        scope,
        stages[1].id,
        ActionType.CREATE_INVOICE,
        {
            "currency": "USD",
            "lineItems": [{"description": "1040", "quantity": 1, "unitPriceCents": 45000}],
            "remindEveryDays": 14,
            "maxReminders": 2,
        },
        enabled=False,
    )
    await add(
        scope,
        stages[2].id,
        ActionType.MOVE_JOB,
        {"stageId": stages[3].id},
        trigger=AutomationTrigger.DAYS_AFTER_DUE,
        trigger_days=1,
        conditions={"jobTagsAll": ["e-filed"]},
    )
    await add(
        scope,
        stages[2].id,
        ActionType.UPDATE_TAGS,
        {"target": "CLIENT", "add": ["filed"], "remove": ["waiting"]},
        trigger=AutomationTrigger.ON_DUE_DATE,
    )
    await add(scope, stages[3].id, ActionType.CALL_WEBHOOK, {"endpointId": endpoint.id})
    await add(
        scope,
        stages[3].id,
        ActionType.TRANSFER_JOB,
        {"pipelineId": other.id, "stageId": other_stages[2].id},
    )
    await add(scope, stages[3].id, ActionType.ARCHIVE_JOB, {})
    return Board(pipeline, stages, other, other_stages, person, endpoint.id)


async def export(gql: GraphQL, pipeline: Pipeline | int) -> dict[str, Any]:
    pk = pipeline if isinstance(pipeline, int) else pipeline.id
    answer = (await gql(TEMPLATE, id=gid("Pipeline", pk)))["pipeline"]
    assert answer is not None
    document: dict[str, Any] = answer["template"]
    return document


async def import_(gql: GraphQL, template: Any, name: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await gql(IMPORT, input={"template": template, **({"name": name} if name else {})})
    )["importPipelineTemplate"]
    return payload


async def configuration(pipeline_id: int) -> list[dict[str, Any]]:
    """A pipeline's board configuration, row by row: its stages and their automations."""
    stages = await Stage.filter(pipeline_id=pipeline_id).order_by("position")
    return [
        {
            "name": s.name,
            "portal_name": s.portal_name,
            "position": s.position,
            "wip_limit": s.wip_limit,
            "time_limit_days": s.time_limit_days,
            "auto_move": s.auto_move,
            "automations": [
                {
                    "position": a.position,
                    "action": a.action,
                    "trigger": a.trigger,
                    "trigger_days": a.trigger_days,
                    "enabled": a.enabled,
                    "conditions": a.conditions,
                    "settings": a.settings,
                }
                for a in await Automation.filter(stage_id=s.id).order_by("position")
            ],
        }
        for s in stages
    ]


async def test_a_template_from_one_firm_makes_the_same_board_in_another(
    http: httpx.AsyncClient, gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    a = await firm_board(firm_a)
    template = await export(gql, a.pipeline)
    assert template["format"] == "pipeline-template" and template["version"] == 1
    references = [  # every reference is portable: no row id is exported
        automation["settings"][key]
        for stage in template["stages"]
        for automation in stage["automations"]
        for key in REFERENCES.get(ActionType(automation["action"]), {})
    ]
    assert references == [
        {"userEmail": "pat@firm.test"},
        None,  # the task of the job's assignees names nobody
        {"stage": 3},
        {"endpointName": "Practice CRM"},
        {"pipelineName": "Bookkeeping"},
        {"stageName": "Won"},
    ]
    b = await firm_board(firm_b)  # the same email, endpoint name and pipeline in firm B

    made = await import_(gql_b, template, name="1040 Return (from A)")
    assert made["errors"] == [] and made["warnings"] == []
    assert made["pipeline"]["name"] == "1040 Return (from A)"
    new = await Pipeline.get(id=_pk(made["pipeline"]["id"]))
    assert new.firm_id == firm_b.firm.id
    new_stages = await Stage.filter(pipeline_id=new.id).order_by("position")

    # Field by field, with A's ids mapped to B's: each stage to the stage at its position, the
    # person, endpoint and pipeline to B's of the same email and name.
    ids = {
        **{old.id: fresh.id for old, fresh in zip(a.stages, new_stages, strict=True)},
    }
    mapped = {
        "assigneeId": {a.person.id: b.person.id},
        "endpointId": {a.endpoint: b.endpoint},
        "pipelineId": {a.other.id: b.other.id},
        "stageId": {
            **ids,
            **{o.id: n.id for o, n in zip(a.other_stages, b.other_stages, strict=True)},
        },
    }
    expected = await configuration(a.pipeline.id)
    for stage in expected:
        for automation in stage["automations"]:
            automation["settings"] = {
                key: mapped[key][value] if key in mapped and value is not None else value
                for key, value in automation["settings"].items()
            }
    assert await configuration(new.id) == expected
    assert sum(len(s["automations"]) for s in expected) == 10
    assert {a["action"] for s in expected for a in s["automations"]} == set(ActionType)
    assert {a["trigger"] for s in expected for a in s["automations"]} == set(AutomationTrigger)

    # and B's copy exports as the same template, but for its name
    assert await export(gql_b, new.id) == {**template, "name": "1040 Return (from A)"}


def _pk(global_id: str) -> int:
    return decode_id(global_id, "Pipeline", "id")


async def test_the_name_defaults_to_the_templates(gql: GraphQL, firm_a: NewFirm) -> None:
    made = await import_(gql, pipeline_templates.shipped("w-2"))
    assert made["errors"] == [] and made["pipeline"]["name"] == "W-2"
    assert [s["name"] for s in made["pipeline"]["stages"]] == [
        "Collect W-2s",
        "Verify",
        "File",
        "Done",
    ]


# ------------------------------------------------------------------ what does not resolve


async def test_references_that_do_not_resolve_are_warnings_never_guesses(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    a = await firm_board(firm_a)
    template = await export(gql, a.pipeline)
    # Firm B has none of it: no such person, no endpoint, two pipelines named "Bookkeeping"
    # (which one is not guessed); and the MOVE_JOB names a stage the template lacks.
    await board(firm_b, ("Lead",), name="Bookkeeping")
    await board(firm_b, ("Lead",), name="Bookkeeping")
    template["stages"][2]["automations"][0]["settings"]["stageId"] = {"stage": 9}
    before = await _rows(firm_b)

    made = await import_(gql_b, template)
    assert made["errors"] == []
    path = "template.stages[{}].automations[{}].settings.{}".format
    assert [w["path"] for w in made["warnings"]] == [
        path(0, 1, "assigneeId"),
        path(2, 0, "stageId"),
        path(3, 0, "endpointId"),
        path(3, 1, "pipelineId"),
    ]
    messages = [w["message"] for w in made["warnings"]]
    assert "pat@firm.test" in messages[0] and "unassigned" in messages[0]
    assert "position 9" in messages[1] and "left out" in messages[1]
    assert "'Practice CRM'" in messages[2] and "left out" in messages[2]
    assert "2 of pipeline named 'Bookkeeping'" in messages[3]
    after = await _rows(firm_b)
    assert after["Pipeline"] == before["Pipeline"] + 1 and after["Stage"] == before["Stage"] + 4
    new = await Pipeline.filter(firm_id=firm_b.firm.id).order_by("-id").first()
    assert new is not None
    actions = [
        [a["action"], a["settings"].get("assigneeId", "-")]
        for s in await configuration(new.id)
        for a in s["automations"]
    ]
    assert actions == [
        [ActionType.SEND_ORGANIZER, "-"],
        [ActionType.CREATE_TASK, None],  # kept, unassigned
        [ActionType.CREATE_TASK, None],
        [ActionType.SEND_MESSAGE, "-"],
        [ActionType.CREATE_INVOICE, "-"],
        [ActionType.UPDATE_TAGS, "-"],  # the MOVE_JOB before it was left out
        [ActionType.ARCHIVE_JOB, "-"],  # the webhook and the transfer were left out
    ]


async def test_an_inactive_person_a_missing_stage_name_and_a_nameless_endpoint_warn(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    a = await firm_board(firm_a)
    template = await export(gql, a.pipeline)
    b = await firm_board(firm_b)
    b.person.is_active = False
    await b.person.save()
    await Stage.filter(id=b.other_stages[2].id).update(name="Signed")  # no "Won" any more
    await webhooks.update_endpoint(scope_of(firm_b), b.endpoint, description="")
    template["stages"][3]["automations"][0]["settings"]["endpointId"] = {"endpointName": ""}

    made = await import_(gql_b, template)
    assert made["errors"] == []
    warnings = {w["path"].rsplit(".", 1)[1]: w["message"] for w in made["warnings"]}
    assert set(warnings) == {"assigneeId", "endpointId", "stageId"}
    assert "deactivated" in warnings["assigneeId"]
    assert "no name" in warnings["endpointId"]
    assert "'Won'" in warnings["stageId"] and "first stage" in warnings["stageId"]
    new = await Pipeline.filter(firm_id=firm_b.firm.id).order_by("-id").first()
    assert new is not None
    transfer = await Automation.get(stage__pipeline_id=new.id, action=ActionType.TRANSFER_JOB)
    assert transfer.settings == {"pipelineId": b.other.id, "stageId": None}


async def test_a_dangling_reference_exports_as_null_and_imports_with_a_warning(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """An endpoint deleted after the automation was saved: the export says it names nothing."""
    a = await firm_board(firm_a)
    await webhooks.delete_endpoint(scope_of(firm_a), a.endpoint)
    template = await export(gql, a.pipeline)
    assert template["stages"][3]["automations"][0]["settings"] == {"endpointId": None}
    made = await import_(gql, template, name="Copy")
    assert [w["path"] for w in made["warnings"]] == [
        "template.stages[3].automations[0].settings.endpointId"
    ]


# ---------------------------------------------------------------------------- bad documents


def _set(path: str, value: Any) -> Any:
    """A change to the doc example at a dotted path (`stages.0.name`); value DELETE drops it."""

    def change(template: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node: Any = template
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return template

    return change


DELETE = object()
AUTOMATION = "template.stages[{}].automations[{}]".format


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


BAD: list[tuple[str, Any, str]] = [
    ("a newer version", _set("version", 2), "template.version"),
    ("a version as a string", _set("version", "1"), "template.version"),
    ("another format", _set("format", "board"), "template.format"),
    ("not an object", lambda t: [t], "template"),
    ("an unknown key", _set("author", "me"), "template.author"),
    ("an unknown stage key", _set("stages.1.color", "red"), "template.stages[1].color"),
    (
        "an unknown action",
        _set("stages.2.automations.0.action", "FAX_JOB"),
        AUTOMATION(2, 0) + ".action",
    ),
    (
        "an unknown trigger",
        _set("stages.0.automations.1.trigger", "HOURLY"),
        AUTOMATION(0, 1) + ".trigger",
    ),
    (
        "an id for a reference",
        _set("stages.2.automations.0.settings.stageId", 7),
        AUTOMATION(2, 0) + ".settings.stageId",
    ),
    (
        "a reference of another kind",
        _set("stages.1.automations.0.settings.assigneeId", {"userId": 1}),
        AUTOMATION(1, 0) + ".settings.assigneeId",
    ),
    (
        "an email that is a number",
        _set("stages.1.automations.0.settings.assigneeId", {"userEmail": 5}),
        AUTOMATION(1, 0) + ".settings.assigneeId",
    ),
    (
        "a negative stage position",
        _set("stages.2.automations.0.settings.stageId", {"stage": -1}),
        AUTOMATION(2, 0) + ".settings.stageId",
    ),
    ("a limit as a string", _set("stages.0.wipLimit", "5"), "template.stages[0].wipLimit"),
    ("a limit out of range", _set("stages.0.timeLimitDays", 0), "template.stages[0].timeLimitDays"),
    ("a flag as a string", _set("stages.0.autoMove", "yes"), "template.stages[0].autoMove"),
    ("auto-move on the last stage", _set("stages.3.autoMove", True), "template.stages[3].autoMove"),
    (
        "a move to its own stage",
        _set("stages.2.automations.0.settings.stageId", {"stage": 2}),
        AUTOMATION(2, 0) + ".settings.stageId",
    ),
    (
        "a setting missing",
        _set("stages.1.automations.0.settings.title", DELETE),
        AUTOMATION(1, 0) + ".settings.title",
    ),
    (
        "a setting the action lacks",
        _set("stages.3.automations.0.settings.reason", "done"),
        AUTOMATION(3, 0) + ".settings",
    ),
    (
        "days a trigger needs",
        _set("stages.0.automations.1.triggerDays", None),
        AUTOMATION(0, 1) + ".triggerDays",
    ),
    (
        "a bad condition",
        _set("stages.0.automations.0.conditions.priorities", ["SOON"]),
        AUTOMATION(0, 0) + ".conditions.priorities",
    ),
    ("no stages", _set("stages", []), "template.stages"),
    (
        "51 stages",
        lambda t: {**t, "stages": [{"name": f"S{n}"} for n in range(51)]},
        "template.stages",
    ),
    (
        "21 automations",
        _set("stages.3.automations", [{"action": "ARCHIVE_JOB"}] * 21),
        "template.stages[3].automations",
    ),
    ("a long name", _set("name", "x" * 201), "template.name"),
    ("a stage without a name", _set("stages.0.name", DELETE), "template.stages[0].name"),
    ("a name with control characters", _set("stages.0.name", "A\x00B"), "template.stages[0].name"),
    ("a lone surrogate", _set("stages.0.portalName", "\udc00"), "template.stages[0].portalName"),
    ("deep nesting", _set("stages.0.automations.0.settings.questions", _nested(30)), "template"),
    (
        "over 256 KB",
        _set("stages.0.automations.0.settings.questions", ["q" * 1000] * 300),
        "template",
    ),
]


async def _rows(firm: NewFirm) -> dict[str, int]:
    """Rows of the tables an import writes, and the firm's catalog version."""
    counts = {m.__name__: await m.all().count() for m in (Pipeline, Stage, Automation, JobEvent)}
    counts["catalog_version"] = (await Firm.get(id=firm.firm.id)).catalog_version
    return counts


@pytest.mark.parametrize(("case", "change", "field"), BAD, ids=[b[0] for b in BAD])
async def test_a_bad_template_is_a_typed_error_and_writes_nothing(
    http: httpx.AsyncClient, firm_a: NewFirm, case: str, change: Any, field: str
) -> None:
    await _doc_example_firm(firm_a)
    template = change(copy.deepcopy(doc_example()))
    before = await _rows(firm_a)
    response = await http.post(  # JSON escapes, which carry a lone surrogate too
        "/graphql",
        content=json.dumps({"query": IMPORT, "variables": {"input": {"template": template}}}),
        headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()
    made = response.json()["data"]["importPipelineTemplate"]
    assert made["pipeline"] is None and made["warnings"] == []
    (error,) = made["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field), error
    assert await _rows(firm_a) == before
    if case == "a newer version":
        assert "newer" in error["message"]


async def test_a_bad_name_is_the_inputs_and_writes_nothing(gql: GraphQL, firm_a: NewFirm) -> None:
    before = await _rows(firm_a)
    made = await import_(gql, doc_example(), name="   ")
    assert [(e["code"], e["field"]) for e in made["errors"]] == [("INVALID_INPUT", "name")]
    assert await _rows(firm_a) == before


# --------------------------------------------------------------------- tenancy and access


async def test_another_firms_pipeline_has_no_template_to_read(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm
) -> None:
    a = await firm_board(firm_a)
    for pipeline_id in (gid("Pipeline", a.pipeline.id), gid("Pipeline", 999_999)):
        assert await gql_b(TEMPLATE, id=pipeline_id) == {"pipeline": None}
        assert await gql_b(
            "query($id: ID!) { node(id: $id) { ... on Pipeline { template } } }", id=pipeline_id
        ) == {"node": None}
    assert (await gql(TEMPLATE, id=gid("Pipeline", a.pipeline.id)))["pipeline"] is not None


async def test_reading_needs_read_and_importing_needs_admin(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    a = await firm_board(firm_a)
    staff = await User.create(
        firm_id=firm_a.firm.id, name="Sam", email="sam@firm.test", role=Role.STAFF
    )
    _, read_only = await issue_token(firm_a.owner, "read", [Permission.READ])
    _, staff_all = await issue_token(staff, "staff", list(Permission))
    _, admin_only = await issue_token(firm_a.owner, "admin", [Permission.ADMIN])
    template = await export(graphql_client(http, read_only), a.pipeline)  # READ reads it
    before = await _rows(firm_a)
    for token in (read_only, staff_all):
        body = await graphql_client(http, token)(
            IMPORT, expect_errors=True, input={"template": template, "name": "Copy"}
        )
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert await _rows(firm_a) == before
    # ADMIN without READ imports, but reads back no template (it carries the automations)
    admin = graphql_client(http, admin_only)
    refused = await admin(
        """mutation($input: ImportPipelineTemplateInput!) { importPipelineTemplate(input: $input)
        { pipeline { template } errors { code } } }""",
        expect_errors=True,
        input={"template": template, "name": "Copy"},
    )
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}
    made = (
        await admin(
            """mutation($input: ImportPipelineTemplateInput!) {
            importPipelineTemplate(input: $input) { pipeline { name } errors { code } } }""",
            input={"template": template, "name": "Copy"},
        )
    )["importPipelineTemplate"]
    assert made == {"pipeline": {"name": "Copy"}, "errors": []}


# ------------------------------------------------------------------------------ statements


async def test_an_export_costs_the_same_statements_whatever_the_pipeline_holds(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    small, _ = await board(firm_a, ("Only",), name="Small")
    large = await firm_board(firm_a)
    scope = scope_of(firm_a)
    for stage in large.stages:  # more of every kind of reference
        for _ in range(4):
            await manage.create_automation(
                scope,
                stage.id,
                ActionType.CREATE_TASK,
                {"title": "T", "assigneeId": large.person.id},
            )
    counts = []
    for pipeline in (small, large.pipeline):
        await gql("{ viewer { name } }")  # the token's last use is written once a minute
        sql_statements.statements.clear()
        await export(gql, pipeline)
        counts.append(len(sql_statements.statements))
    # token, data version, the pipeline; stages, automations; people, endpoints, pipelines,
    # the transfer's stages (the small one's automations: none, nor any reference)
    assert counts == [5, 9], counts
    many = """{ pipelines(first: 10) { edges { node { template } } } }"""
    await board(firm_a, ("One", "Two"), name="Third")
    sql_statements.statements.clear()
    answer = await gql(many)
    assert len(answer["pipelines"]["edges"]) == 4
    assert len(sql_statements.statements) <= 10, sql_statements.statements  # not per pipeline


async def test_a_changed_endpoint_name_is_seen_by_the_next_export(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """The query result cache serves templates: every reference they read changes in a change."""
    a = await firm_board(firm_a)
    first = await export(gql, a.pipeline)
    assert await export(gql, a.pipeline) == first
    await webhooks.update_endpoint(scope_of(firm_a), a.endpoint, description="New CRM")
    again = await export(gql, a.pipeline)
    assert again["stages"][3]["automations"][0]["settings"] == {
        "endpointId": {"endpointName": "New CRM"}
    }


# ------------------------------------------------------------------ the shipped templates


def test_the_shipped_templates_are_the_seeds_pipelines() -> None:
    files = sorted(p.stem for p in SHIPPED_DIR.glob("*.json"))
    assert files == sorted(SHIPPED)
    names = [pipeline_templates.shipped(stem)["name"] for stem in SHIPPED]
    assert names == ["1040 Return", "W-2", "Payroll", "Bookkeeping Lead"]
    # found from the code's own location, as an editable install maps it (not the cwd)
    assert SHIPPED_DIR == ROOT / "templates" / "pipelines"


async def test_every_shipped_template_imports_into_a_fresh_firm_without_warnings(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """They name no person, endpoint or other pipeline: nothing depends on the firm."""
    for stem in SHIPPED:
        template = pipeline_templates.shipped(stem)
        made = await import_(gql, template)
        assert made["errors"] == [] and made["warnings"] == [], stem
        new_id = _pk(made["pipeline"]["id"])
        assert await export(gql, new_id) == template, stem  # the file is an export as it is


async def test_the_demo_makes_its_pipelines_from_the_shipped_templates(db: str) -> None:
    from workflow.demo import seed_demo

    demo = await seed_demo(pipeline_templates.import_shipped)
    made = await Pipeline.filter(firm_id=demo.firm.id).order_by("id")
    assert [p.name for p in made] == ["1040 Return", "W-2", "Payroll", "Bookkeeping Lead"]
    first = await Stage.get(pipeline_id=made[0].id, position=0)
    assert (first.name, first.portal_name, first.auto_move) == (
        "Review Docs",
        "Waiting for your documents",
        True,
    )
    organizer = await Automation.get(stage_id=first.id)
    assert organizer.action == ActionType.SEND_ORGANIZER
    assert organizer.settings["remindEveryDays"] == 7


# ------------------------------------------------------------------------ the docs' example


async def _doc_example_firm(firm: NewFirm) -> None:
    """What the doc example names: riley@demo.test, the Practice CRM endpoint, the 1040 Return
    pipeline with its Review Docs stage (as in the demo firm)."""
    await User.create(firm_id=firm.firm.id, name="Riley", email="riley@demo.test", role=Role.ADMIN)
    await webhooks.create_endpoint(scope_of(firm), ENDPOINT_URL, description="Practice CRM")
    await board(firm, ("Review Docs", "Prepare Return"), name="1040 Return")


async def test_the_docs_example_imports_and_says_what_depends_on_the_firm(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    example = doc_example()
    await _doc_example_firm(firm_a)
    made = await import_(gql, example)
    assert made["errors"] == [] and made["warnings"] == []
    assert await export(gql, _pk(made["pipeline"]["id"])) == example
    # In a firm without them: exactly the person, the endpoint and the pipeline warn.
    bare = await import_(gql_b, example)
    assert bare["errors"] == []
    assert [re.sub(r"\[\d+\]", "[]", w["path"]) for w in bare["warnings"]] == [
        "template.stages[].automations[].settings.assigneeId",
        "template.stages[].automations[].settings.endpointId",
        "template.stages[].automations[].settings.pipelineId",
    ]


async def test_importing_twice_makes_two_pipelines(gql: GraphQL, firm_a: NewFirm) -> None:
    template = pipeline_templates.shipped("payroll")
    one, two = await import_(gql, template), await import_(gql, template)
    assert one["pipeline"]["id"] != two["pipeline"]["id"]
    assert await Pipeline.filter(firm_id=firm_a.firm.id, name="Payroll").count() == 2
