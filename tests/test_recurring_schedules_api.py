"""Recurring schedules through the GraphQL API: create, read (nextOccurrences, the jobs made,
Job.recurringSchedule), update, pause, delete; bad input refused with a typed error and
nothing written; another firm's template or clients answered like missing ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from automations import scheduler
from models import Client, JobTemplate
from tests.conftest import GraphQL
from tests.factories import board, gid, scope_of
from tests.mutations import document, snapshot
from workflow import clients, clock, templates
from workflow.firms import NewFirm

FIELDS = """id frequency interval startsOn endsOn timezone leadDays paused clientTag nextRunAt
  skippedWhilePaused clients { name } template { name }
  nextOccurrences(first: 3) { period periodStartsOn periodEndsOn createsAt }"""
CREATE = f"""mutation($input: CreateRecurringScheduleInput!) {{
  createRecurringSchedule(input: $input) {{ errors {{ code field message }}
    recurringSchedule {{ {FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateRecurringScheduleInput!) {{
  updateRecurringSchedule(input: $input) {{ errors {{ code field message }}
    recurringSchedule {{ {FIELDS} }} }} }}"""
LIST = """{ recurringSchedules(first: 10) { totalCount edges { node {
  id frequency jobs(first: 10) { edges { node { title period recurringSchedule { id } } } }
} } } }"""


async def _template(firm: NewFirm) -> tuple[JobTemplate, list[Client]]:
    pipeline, _ = await board(firm, ("Collect", "Reconcile"), name="Bookkeeping")
    template = await templates.create_job_template(
        scope_of(firm), "Monthly books", pipeline.id, "{client.name} – {period.monthName}"
    )
    made = [
        await clients.create_client(scope_of(firm), name, None, tags)
        for name, tags in (("Avery", ["business"]), ("Blue", []))
    ]
    return template, made


def _input(template: JobTemplate, made: list[Client], **more: Any) -> dict[str, Any]:
    return {
        "templateId": gid("JobTemplate", template.id),
        "clientIds": [gid("Client", made[1].id)],
        "clientTag": "business",
        "frequency": "MONTHLY",
        "startsOn": "2026-01-31",
        "timezone": "Europe/Paris",
        "leadDays": 2,
        **more,
    }


async def test_a_schedule_through_the_api(gql: GraphQL, firm_a: NewFirm) -> None:
    template, made = await _template(firm_a)
    with clock.frozen(datetime(2026, 2, 10, tzinfo=UTC)):
        answer = (await gql(CREATE, input=_input(template, made)))["createRecurringSchedule"]
        assert answer["errors"] == []
        schedule = answer["recurringSchedule"]
        assert schedule["template"] == {"name": "Monthly books"}
        assert schedule["clients"] == [{"name": "Blue"}]
        assert (schedule["frequency"], schedule["interval"], schedule["paused"]) == (
            "MONTHLY", 1, False,
        )  # fmt: skip
        # created in February: February is the first period (due at once), then March, April
        assert schedule["nextOccurrences"] == [
            {
                "period": "2026-02",
                "periodStartsOn": "2026-02-01",
                "periodEndsOn": "2026-02-28",
                "createsAt": "2026-01-29T23:00:00+00:00",  # midnight in Paris, 2 days before
            },
            {
                "period": "2026-03",
                "periodStartsOn": "2026-03-01",
                "periodEndsOn": "2026-03-31",
                "createsAt": "2026-02-26T23:00:00+00:00",
            },
            {
                "period": "2026-04",
                "periodStartsOn": "2026-04-01",
                "periodEndsOn": "2026-04-30",
                "createsAt": "2026-03-29T22:00:00+00:00",  # summer time by then
            },
        ]
        assert await scheduler.run_due() == 2
        listed = (await gql(LIST))["recurringSchedules"]
        assert listed["totalCount"] == 1
        jobs = [e["node"] for e in listed["edges"][0]["node"]["jobs"]["edges"]]
        assert jobs == [
            {"title": f"{name} – February", "period": "2026-02",
             "recurringSchedule": {"id": schedule["id"]}}
            for name in ("Avery", "Blue")
        ]  # fmt: skip

        paused = (await gql(UPDATE, input={"id": schedule["id"], "paused": True}))[
            "updateRecurringSchedule"
        ]
        assert paused["errors"] == [] and paused["recurringSchedule"]["nextRunAt"] is None
        # a quarter has no single month: the template's {period.monthName} refuses it
        quarterly = {"id": schedule["id"], "paused": False, "frequency": "QUARTERLY"}
        refused = (await gql(UPDATE, input=quarterly))["updateRecurringSchedule"]
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [
            ("templateId", "INVALID_INPUT")
        ]
        assert "monthName" in refused["errors"][0]["message"]
        change = {"paused": False, "interval": 2, "endsOn": None, "clientIds": [], "leadDays": 0}
        retimed = (await gql(UPDATE, input={"id": schedule["id"], **change}))[
            "updateRecurringSchedule"
        ]
        assert retimed["errors"] == []
        node = retimed["recurringSchedule"]
        # January, March, May...: re-timed, it starts with the first period not ended
        assert [o["period"] for o in node["nextOccurrences"]] == ["2026-03", "2026-05", "2026-07"]
        assert node["clients"] == [] and node["paused"] is False

        deleted = (await gql(document("deleteRecurringSchedule"), input={"id": schedule["id"]}))[
            "deleteRecurringSchedule"
        ]
        assert deleted == {"errors": [], "deletedId": schedule["id"]}
        # its jobs stay, no longer linked to it
        job = await gql("{ jobs(first: 5) { edges { node { period recurringSchedule { id } } } } }")
        assert [e["node"] for e in job["jobs"]["edges"]] == 2 * [
            {"period": "2026-02", "recurringSchedule": None}
        ]


async def test_next_occurrences_are_at_most_100(gql: GraphQL, firm_a: NewFirm) -> None:
    template, made = await _template(firm_a)
    created = (await gql(CREATE, input=_input(template, made, frequency="DAILY")))[
        "createRecurringSchedule"
    ]["recurringSchedule"]
    query = """query($id: ID!, $n: Int!) { node(id: $id) {
      ... on RecurringSchedule { nextOccurrences(first: $n) { period } } } }"""
    answer = await gql(query, id=created["id"], n=100)
    assert len(answer["node"]["nextOccurrences"]) == 100
    refused = await gql(query, expect_errors=True, id=created["id"], n=101)
    assert refused["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"timezone": "Not/AZone"}, "timezone", "INVALID_INPUT"),
        ({"endsOn": "2026-01-30"}, "endsOn", "INVALID_INPUT"),
        ({"interval": 0}, "interval", "INVALID_INPUT"),
        ({"interval": 2_000_000_000}, "interval", "INVALID_INPUT"),
        ({"leadDays": -1}, "leadDays", "INVALID_INPUT"),
        ({"clientIds": [], "clientTag": None}, "clientIds", "INVALID_INPUT"),
        ({"clientIds": ["nope"]}, "clientIds", "INVALID_ID"),
        ({"templateId": "nope"}, "templateId", "INVALID_ID"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    gql: GraphQL, firm_a: NewFirm, change: dict[str, Any], field: str, code: str
) -> None:
    template, made = await _template(firm_a)
    before = await snapshot()
    answer = (await gql(CREATE, input=_input(template, made, **change)))["createRecurringSchedule"]
    assert answer["recurringSchedule"] is None
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(field, code)]
    assert await snapshot() == before


async def test_another_firms_template_and_clients_are_not_found(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    template, made = await _template(firm_a)
    theirs, their_clients = await _template(firm_b)
    before = await snapshot()
    missing = {"templateId": gid("JobTemplate", 10**6)}
    for change, field in (
        ({"templateId": gid("JobTemplate", theirs.id)}, "templateId"),
        (missing, "templateId"),
        ({"clientIds": [gid("Client", their_clients[0].id)]}, "clientIds"),
        ({"clientIds": [gid("Client", 10**6)]}, "clientIds"),
    ):
        answer = (await gql(CREATE, input=_input(template, made, **change)))[
            "createRecurringSchedule"
        ]
        assert [(e["field"], e["code"]) for e in answer["errors"]] == [(field, "NOT_FOUND")]
        assert answer["errors"][0]["message"] in {"JobTemplate not found", "Client not found"}
    assert await snapshot() == before


async def test_a_template_in_use_is_not_deleted(gql: GraphQL, firm_a: NewFirm) -> None:
    template, made = await _template(firm_a)
    created = (await gql(CREATE, input=_input(template, made)))["createRecurringSchedule"]
    template_id = {"id": gid("JobTemplate", template.id)}
    refused = (await gql(document("deleteJobTemplate"), input=template_id))["deleteJobTemplate"]
    assert refused["deletedId"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("id", "INVALID_INPUT")]
    assert "recurring schedule" in refused["errors"][0]["message"]
    await gql(document("deleteRecurringSchedule"), input={"id": created["recurringSchedule"]["id"]})
    deleted = (await gql(document("deleteJobTemplate"), input=template_id))["deleteJobTemplate"]
    assert deleted["errors"] == []
