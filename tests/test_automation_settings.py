"""Automation settings and conditions are typed: each action takes exactly its keys, of their
types and ranges, and ids in them are decoded like every other id. Anything else is refused with
a UserError when saved (createAutomation, updateAutomation) and changes nothing."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from automations import manage
from automations.manage import MAX_AUTOMATIONS_PER_STAGE
from models import ActionType, Automation, Pipeline, Stage, User
from tests.conftest import GraphQL
from tests.factories import board, gid, scope_of
from tests.mutations import snapshot
from workflow import webhooks
from workflow.errors import DomainError
from workflow.firms import NewFirm

CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { id settings conditions } errors { code field message } } }"""
UPDATE = """mutation($input: UpdateAutomationInput!) { updateAutomation(input: $input) {
  automation { id settings conditions } errors { code field message } } }"""


@dataclass
class World:
    gql: GraphQL  # as firm A's owner
    stages: list[Stage]
    other: Pipeline  # a second pipeline of firm A
    other_stages: list[Stage]
    user: User
    endpoint: int
    foreign: dict[str, str]  # firm B's ids, by setting

    def stage(self, n: int = 1) -> str:
        return gid("Stage", self.stages[n].id)


@pytest.fixture
async def w(gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm) -> World:
    _, stages = await board(firm_a)
    other, other_stages = await board(firm_a, ("Lead", "Won"), name="Bookkeeping Lead")
    user = await User.create(firm_id=firm_a.firm.id, name="Pat", email="pat@a.test")
    endpoint = await webhooks.create_endpoint(scope_of(firm_a), "http://127.0.0.1:9/hooks")
    b_pipeline, b_stages = await board(firm_b)
    b_endpoint = await webhooks.create_endpoint(scope_of(firm_b), "http://127.0.0.1:9/b")
    foreign = {
        "stageId": gid("Stage", b_stages[1].id),
        "pipelineId": gid("Pipeline", b_pipeline.id),
        "assigneeId": gid("User", firm_b.owner.id),
        "endpointId": gid("WebhookEndpoint", b_endpoint.id),
    }
    return World(gql, stages, other, other_stages, user, endpoint.id, foreign)


async def _state() -> tuple[Any, ...]:
    automations_ = sorted(repr(sorted(r.items())) for r in await Automation.all().values())
    return await snapshot(), automations_


async def _existing(w: World, action: str) -> str:
    """An automation of `action` on stages[1], with valid settings, to update."""
    settings = valid_settings(w)[action]
    data = await _create(w, action, settings)
    assert data["errors"] == [], data
    return data["automation"]["id"]


async def _create(
    w: World,
    action: str,
    settings: Any,
    conditions: Any = None,
) -> dict[str, Any]:
    payload = {"stageId": w.stage(), "action": action, "settings": settings}
    if conditions is not None:
        payload["conditions"] = conditions
    return (await w.gql(CREATE, input=payload))["createAutomation"]


def valid_settings(w: World) -> dict[str, dict[str, Any]]:
    return {
        "CREATE_TASK": {"title": "Prepare", "assigneeId": gid("User", w.user.id), "dueInDays": 3},
        "SEND_ORGANIZER": {
            "title": "Organizer",
            "questions": ["Income?"],
            "remindEveryDays": 7,
            "maxReminders": 3,
        },
        "SEND_MESSAGE": {"subject": "Hi {client.name}", "body": "Due {job.dueDate}"},
        "CREATE_INVOICE": {
            "currency": "USD",
            "lineItems": [{"description": "1040", "quantity": 2, "unitPriceCents": 100}],
            "remindEveryDays": 365,
            "maxReminders": 50,
        },
        "MOVE_JOB": {"stageId": w.stage(2)},
        "TRANSFER_JOB": {
            "pipelineId": gid("Pipeline", w.other.id),
            "stageId": gid("Stage", w.other_stages[1].id),
        },
        "ARCHIVE_JOB": {},
        "UPDATE_TAGS": {"target": "CLIENT", "add": ["vip"], "remove": ["lead"]},
        "CALL_WEBHOOK": {"endpointId": gid("WebhookEndpoint", w.endpoint)},
    }


async def _refused(
    w: World, action: str, settings: Any, conditions: Any = None, automation_id: str | None = None
) -> list[dict[str, Any]]:
    """createAutomation and updateAutomation (of `automation_id`, or of a new valid automation
    of `action`) with these settings and conditions: both refused with one UserError, nothing
    written; their two errors."""
    automation_id = automation_id or await _existing(w, action)
    before = await _state()
    created = await _create(w, action, settings, conditions)
    update: dict[str, Any] = {"id": automation_id, "settings": settings}
    if conditions is not None:
        update["conditions"] = conditions
    updated = (await w.gql(UPDATE, input=update))["updateAutomation"]
    assert await _state() == before
    errors = []
    for payload in (created, updated):
        assert payload["automation"] is None, (settings, payload)
        assert len(payload["errors"]) == 1, payload
        errors.append(payload["errors"][0])
    return errors


# --- ids in settings (defect 13) ------------------------------------------------------------

# (action, the other settings, the id setting): every id-bearing setting of every action
ID_SETTINGS: list[tuple[str, dict[str, Any], str]] = [
    ("MOVE_JOB", {}, "stageId"),
    ("TRANSFER_JOB", {}, "pipelineId"),
    ("TRANSFER_JOB", {"pipelineId": "OTHER"}, "stageId"),
    ("CREATE_TASK", {"title": "Prepare"}, "assigneeId"),
    ("CALL_WEBHOOK", {}, "endpointId"),
]
ID_TYPES = {
    "stageId": "Stage",
    "pipelineId": "Pipeline",
    "assigneeId": "User",
    "endpointId": "WebhookEndpoint",
}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


# ids that are no id: out of the columns' range, as numbers or encoded, and malformed
BAD_IDS: list[Any] = [
    2**31,
    2**63,
    10**20,
    -(2**63),
    -1,
    0,
    2**31 - 1,
    7,
    1.5,
    True,
    _b64("Stage:99999999999999999999"),
    _b64("Stage:2147483648"),
    _b64("User:-1"),
    "not an id",
    "",
    "x" * 1000,
    ["a"],
    {"id": 1},
]


def _with(w: World, others: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    settings = {k: gid("Pipeline", w.other.id) if v == "OTHER" else v for k, v in others.items()}
    return {**settings, key: value}


@pytest.mark.parametrize(
    ("action", "others", "key"), ID_SETTINGS, ids=[f"{a} {k}" for a, _, k in ID_SETTINGS]
)
async def test_an_id_setting_that_is_no_id_is_refused(
    w: World, action: str, others: dict[str, Any], key: str
) -> None:
    existing = await _existing(w, action)
    for bad in BAD_IDS:
        for error in await _refused(w, action, _with(w, others, key, bad), None, existing):
            assert (error["code"], error["field"]) == ("INVALID_ID", f"settings.{key}"), bad


@pytest.mark.parametrize(
    ("action", "others", "key"), ID_SETTINGS, ids=[f"{a} {k}" for a, _, k in ID_SETTINGS]
)
async def test_another_firms_id_in_settings_is_answered_like_a_missing_one(
    w: World, action: str, others: dict[str, Any], key: str
) -> None:
    missing = gid(ID_TYPES[key], 999_999)
    answers = [
        await _refused(w, action, _with(w, others, key, value))
        for value in (w.foreign[key], missing)
    ]
    assert answers[0] == answers[1]
    for error in answers[0]:
        assert (error["code"], error["field"]) == ("NOT_FOUND", f"settings.{key}"), error


async def test_the_domain_refuses_out_of_range_row_ids(firm_a: NewFirm) -> None:
    """Below the API (the demo, the runner, tests), ids in settings are row ids: one out of the
    columns' range cannot exist, and answers NOT_FOUND, not a database error."""
    _, stages = await board(firm_a)
    for huge in (2**31, 2**63, 10**20):
        for action, settings, key in [
            (ActionType.MOVE_JOB, {"stageId": huge}, "stageId"),
            (ActionType.CREATE_TASK, {"title": "x", "assigneeId": huge}, "assigneeId"),
            (ActionType.CALL_WEBHOOK, {"endpointId": huge}, "endpointId"),
            (ActionType.TRANSFER_JOB, {"pipelineId": huge}, "pipelineId"),
        ]:
            with pytest.raises(DomainError) as refused:
                await manage.create_automation(scope_of(firm_a), stages[1].id, action, settings)
            assert (refused.value.code, refused.value.field) == ("NOT_FOUND", f"settings.{key}")


# --- typed settings and conditions (defect 14) ---------------------------------------------


def _item(**changes: Any) -> dict[str, Any]:
    return {"description": "1040", "quantity": 1, "unitPriceCents": 100, **changes}


def _invoice(*items: Any) -> dict[str, Any]:
    return {"currency": "USD", "lineItems": list(items)}


def _reminders_wrong(others: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """remindEveryDays (1-365) and maxReminders (1-50): out of range, of another type, or
    one without the other (the missing one is named)."""
    every, most = "settings.remindEveryDays", "settings.maxReminders"
    cases: list[tuple[dict[str, Any], str]] = []
    for value in (0, -1, 366, 10**6, "7", 7.5, True, [7], {"days": 7}):
        cases.append(({**others, "remindEveryDays": value, "maxReminders": 3}, every))
    for value in (0, 51, 2**31, "3", 3.0, False):
        cases.append(({**others, "remindEveryDays": 7, "maxReminders": value}, most))
    cases += [
        ({**others, "remindEveryDays": 7}, most),
        ({**others, "remindEveryDays": 7, "maxReminders": None}, most),
        ({**others, "maxReminders": 3}, every),
        ({**others, "remindEveryDays": None, "maxReminders": 3}, every),
    ]
    return cases


STAGE, PIPELINE = "STAGE", "PIPELINE"  # a valid stage (MOVE_JOB) or pipeline (TRANSFER_JOB)
# action: [(settings, the field named)]; each wrong in one place (type, range or key)
WRONG: dict[str, list[tuple[dict[str, Any], str]]] = {
    "CREATE_TASK": [
        ({"title": ["x"]}, "settings.title"),
        ({"title": 5}, "settings.title"),
        ({"title": {"text": "x"}}, "settings.title"),
        ({"title": None}, "settings.title"),
        ({}, "settings.title"),
        ({"title": "x", "description": ["y"]}, "settings.description"),
        ({"title": "x", "description": 5}, "settings.description"),
        ({"title": "x", "assignToJobAssignees": "yes"}, "settings.assignToJobAssignees"),
        ({"title": "x", "assignToJobAssignees": 1}, "settings.assignToJobAssignees"),
        ({"title": "x", "assignToJobAssignees": "false"}, "settings.assignToJobAssignees"),
        ({"title": "x", "dueInDays": "3"}, "settings.dueInDays"),
        ({"title": "x", "dueInDays": True}, "settings.dueInDays"),
        ({"title": "x", "dueInDays": 3.5}, "settings.dueInDays"),
        ({"title": "x", "dueInDays": -1}, "settings.dueInDays"),
        ({"title": "x", "dueInDays": 3651}, "settings.dueInDays"),
        ({"title": "x", "dueInDays": 2**64}, "settings.dueInDays"),
        ({"title": "x", "color": "red"}, "settings"),
    ],
    "SEND_ORGANIZER": [
        ({"title": "x", "questions": [None]}, "settings.questions"),
        ({"title": "x", "questions": [1]}, "settings.questions"),
        ({"title": "x", "questions": [["Income?"]]}, "settings.questions"),
        ({"title": "x", "questions": "Income?"}, "settings.questions"),
        ({"title": "x", "questions": {"q": "Income?"}}, "settings.questions"),
        ({"title": "x"}, "settings.questions"),
        ({"title": "x", "questions": [""]}, "settings.questions"),
        ({"title": "x", "questions": ["Income?"] * 201}, "settings.questions"),
        ({"title": ["x"], "questions": ["Income?"]}, "settings.title"),
        ({"title": None, "questions": ["Income?"]}, "settings.title"),
        ({"title": "x", "questions": ["Income?"], "due": 3}, "settings"),
        *_reminders_wrong({"title": "x", "questions": ["Income?"]}),
    ],
    "SEND_MESSAGE": [
        ({"subject": ["Hi"], "body": "b"}, "settings.subject"),
        ({"subject": 1, "body": "b"}, "settings.subject"),
        ({"body": "b"}, "settings.subject"),
        ({"subject": "Hi", "body": {"text": "b"}}, "settings.body"),
        ({"subject": "Hi", "body": ["b"]}, "settings.body"),
        ({"subject": "Hi", "body": None}, "settings.body"),
        ({"subject": "Hi", "body": "b", "to": "client@example.test"}, "settings"),
    ],
    "CREATE_INVOICE": [
        (_invoice(_item(unitPriceCents="100")), "settings.lineItems"),
        (_invoice(_item(unitPriceCents=True)), "settings.lineItems"),
        (_invoice(_item(unitPriceCents=1.5)), "settings.lineItems"),
        (_invoice(_item(unitPriceCents=None)), "settings.lineItems"),
        (_invoice(_item(quantity="2")), "settings.lineItems"),
        (_invoice(_item(quantity=True)), "settings.lineItems"),
        (_invoice(_item(quantity=0)), "settings.lineItems"),
        (_invoice(_item(description=["1040"])), "settings.lineItems"),
        (_invoice(_item(description=5)), "settings.lineItems"),
        (_invoice(_item(description=None)), "settings.lineItems"),
        (_invoice(_item(tax=5)), "settings.lineItems"),
        (_invoice(None), "settings.lineItems"),
        (_invoice("1040: 100"), "settings.lineItems"),
        ({"currency": "USD", "lineItems": _item()}, "settings.lineItems"),
        ({"currency": ["USD"], "lineItems": [_item()]}, "settings.currency"),
        ({"currency": 840, "lineItems": [_item()]}, "settings.currency"),
        ({**_invoice(_item()), "dueInDays": 3}, "settings"),
        *_reminders_wrong(_invoice(_item())),
    ],
    "MOVE_JOB": [
        ({"stageId": STAGE, "position": 1}, "settings"),
        ({}, "settings.stageId"),
    ],
    "TRANSFER_JOB": [
        ({"pipelineId": PIPELINE, "rank": "a"}, "settings"),
        ({}, "settings.pipelineId"),
    ],
    "ARCHIVE_JOB": [
        ({"reason": "done"}, "settings"),
        ({"reason": None}, "settings"),
    ],
    "UPDATE_TAGS": [
        ({"target": ["JOB"], "add": ["vip"]}, "settings.target"),
        ({"target": "job", "add": ["vip"]}, "settings.target"),
        ({"target": 1, "add": ["vip"]}, "settings.target"),
        ({"add": "vip"}, "settings.add"),
        ({"add": [None]}, "settings.add"),
        ({"add": [1]}, "settings.add"),
        ({"add": False}, "settings.add"),
        ({"add": ["vip"], "remove": {"lead": True}}, "settings.remove"),
        ({"add": ["vip"], "remove": ""}, "settings.remove"),
        ({"add": ["vip"], "client": True}, "settings"),
    ],
    "CALL_WEBHOOK": [
        ({"endpointId": "ENDPOINT", "payload": {}}, "settings"),
        ({}, "settings.endpointId"),
    ],
}


def _filled(w: World, settings: dict[str, Any]) -> dict[str, Any]:
    ids = {
        STAGE: w.stage(2),
        PIPELINE: gid("Pipeline", w.other.id),
        "ENDPOINT": gid("WebhookEndpoint", w.endpoint),
    }
    return {
        key: ids.get(value, value) if isinstance(value, str) else value
        for key, value in settings.items()
    }


@pytest.mark.parametrize("action", list(WRONG))
async def test_wrong_typed_settings_are_refused_not_coerced(w: World, action: str) -> None:
    existing = await _existing(w, action)
    for settings, field in WRONG[action]:
        for error in await _refused(w, action, _filled(w, settings), None, existing):
            assert (error["code"], error["field"]) == ("INVALID_INPUT", field), settings


CONDITIONS_WRONG: list[tuple[Any, str]] = [
    ({"clientTagsAll": "vip"}, "conditions.clientTagsAll"),
    ({"clientTagsAll": [None]}, "conditions.clientTagsAll"),
    ({"clientTagsNone": 0}, "conditions.clientTagsNone"),
    ({"clientTagsNone": False}, "conditions.clientTagsNone"),
    ({"jobTagsAll": [1]}, "conditions.jobTagsAll"),
    ({"jobTagsAll": {"vip": True}}, "conditions.jobTagsAll"),
    ({"priorities": "HIGH"}, "conditions.priorities"),
    ({"priorities": ["high"]}, "conditions.priorities"),
    ({"priorities": [None]}, "conditions.priorities"),
    ({"priorities": True}, "conditions.priorities"),
    ({"tags": ["vip"]}, "conditions"),
    (["vip"], "conditions"),
    ("vip", "conditions"),
]


async def test_wrong_typed_conditions_are_refused(w: World) -> None:
    existing = await _existing(w, "ARCHIVE_JOB")
    for conditions, field in CONDITIONS_WRONG:
        for error in await _refused(w, "ARCHIVE_JOB", {}, conditions, existing):
            assert (error["code"], error["field"]) == ("INVALID_INPUT", field), conditions


async def test_valid_settings_and_conditions_are_accepted_and_read_back_unchanged(w: World) -> None:
    """Every action's settings, then the settings read back sent again (nulls included)."""
    conditions = {
        "clientTagsAll": ["vip"],
        "clientTagsNone": [],
        "jobTagsAll": None,
        "priorities": ["HIGH", "URGENT"],
    }
    for action, settings in valid_settings(w).items():
        created = await _create(w, action, settings, conditions)
        assert created["errors"] == [], (action, created)
        automation = created["automation"]
        assert automation["conditions"] == {
            "clientTagsAll": ["vip"],
            "priorities": ["HIGH", "URGENT"],
        }
        again = (
            await w.gql(
                UPDATE,
                input={
                    "id": automation["id"],
                    "settings": automation["settings"],
                    "conditions": automation["conditions"],
                },
            )
        )["updateAutomation"]
        assert again["errors"] == [] and again["automation"] == automation, action
    created = await _create(
        w,
        "CREATE_TASK",
        {
            "title": "Sign",
            "description": None,
            "assigneeId": None,
            "assignToJobAssignees": True,
            "dueInDays": None,
        },
    )
    assert created["automation"]["settings"] == {
        "title": "Sign",
        "description": "",
        "assigneeId": None,
        "assignToJobAssignees": True,
        "dueInDays": None,
    }
    optional = await _create(
        w, "TRANSFER_JOB", {"pipelineId": gid("Pipeline", w.other.id), "stageId": None}
    )
    assert optional["errors"] == []


# --- at most MAX_AUTOMATIONS_PER_STAGE automations on a stage (defect 6, in part) -----------


async def test_a_stage_takes_at_most_its_cap_of_automations(w: World, firm_a: NewFirm) -> None:
    assert MAX_AUTOMATIONS_PER_STAGE == 20
    scope = scope_of(firm_a)
    made = [
        await manage.create_automation(scope, w.stages[1].id, ActionType.ARCHIVE_JOB, {})
        for _ in range(MAX_AUTOMATIONS_PER_STAGE)
    ]
    before = await _state()
    refused = await _create(w, "ARCHIVE_JOB", {})
    assert refused["automation"] is None
    (error,) = refused["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "stageId")
    assert str(MAX_AUTOMATIONS_PER_STAGE) in error["message"]
    assert await _state() == before
    other_stage = (
        await w.gql(CREATE, input={"stageId": w.stage(2), "action": "ARCHIVE_JOB", "settings": {}})
    )["createAutomation"]
    assert other_stage["errors"] == []  # the cap is per stage
    await manage.delete_automation(scope, made[0].id)
    assert (await _create(w, "ARCHIVE_JOB", {}))["errors"] == []  # room again
    assert await Automation.filter(stage_id=w.stages[1].id).count() == MAX_AUTOMATIONS_PER_STAGE
