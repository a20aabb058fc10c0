"""Money stays representable: `Invoice.totalCents` is a GraphQL Int (at most 2^31 - 1 cents,
$21,474,836.47), so an invoice whose total could not be answered is refused when its automation
is saved, and again when it would be created."""

from __future__ import annotations

from typing import Any

import pytest

from automations import runner
from models import ActionType, Automation, AutomationRun, Invoice
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.mutations import snapshot
from workflow import jobs
from workflow.documents import MAX_INVOICE_TOTAL_CENTS
from workflow.firms import NewFirm

CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { id } errors { code field message } } }"""
UPDATE = """mutation($input: UpdateAutomationInput!) { updateAutomation(input: $input) {
  automation { id settings } errors { code field message } } }"""
BOARD = """{ pipelines(first: 1) { edges { node { stages { jobs(first: 10) { edges { node {
  title invoices(first: 5) { edges { node { totalCents lineItems } } } } } } } } } } }"""


def test_the_limit_is_what_graphql_int_can_carry() -> None:
    assert MAX_INVOICE_TOTAL_CENTS == 2**31 - 1


def _item(price: int, quantity: int = 1) -> dict[str, Any]:
    return {"description": "Audit", "quantity": quantity, "unitPriceCents": price}


OVER = [
    pytest.param([_item(2**30, 2)], id="quantity x price"),
    pytest.param([_item(MAX_INVOICE_TOTAL_CENTS), _item(1)], id="sum of items"),
    pytest.param([_item(10**10)], id="one price"),
    pytest.param([_item(2**31 - 1, 10_000)] * 100, id="every maximum"),
]


async def _automations() -> list[str]:
    return sorted(repr(sorted(row.items())) for row in await Automation.all().values())


@pytest.mark.parametrize("items", OVER)
async def test_an_invoice_over_the_limit_is_refused_when_saved(
    gql: GraphQL, firm_a: NewFirm, items: list[dict[str, Any]]
) -> None:
    _, stages = await board(firm_a)
    settings = {"currency": "USD", "lineItems": [_item(100)]}
    kept = await gql(
        CREATE,
        input={
            "stageId": gid("Stage", stages[1].id),
            "action": "CREATE_INVOICE",
            "settings": settings,
        },
    )
    automation_id = kept["createAutomation"]["automation"]["id"]
    before, automations = await snapshot(), await _automations()
    created = (
        await gql(
            CREATE,
            input={
                "stageId": gid("Stage", stages[1].id),
                "action": "CREATE_INVOICE",
                "settings": {"currency": "USD", "lineItems": items},
            },
        )
    )["createAutomation"]
    updated = (
        await gql(
            UPDATE, input={"id": automation_id, "settings": {"currency": "USD", "lineItems": items}}
        )
    )["updateAutomation"]
    for payload in (created, updated):
        assert payload["automation"] is None
        (error,) = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "settings.lineItems")
        assert "2147483647" in error["message"]
    assert (await snapshot(), await _automations()) == (before, automations)


async def test_an_invoice_of_exactly_the_limit_is_made_and_answered_on_the_board(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    items = [_item(2**30 - 1, 2), _item(1)]  # 2^31 - 1 in all
    saved = (
        await gql(
            CREATE,
            input={
                "stageId": gid("Stage", stages[1].id),
                "action": "CREATE_INVOICE",
                "settings": {"currency": "USD", "lineItems": items},
            },
        )
    )["createAutomation"]
    assert saved["errors"] == []
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    assert await runner.run_due() == 1
    data = await gql(BOARD)
    answered = [
        e["node"]
        for s in data["pipelines"]["edges"][0]["node"]["stages"]
        for e in s["jobs"]["edges"]
    ]
    assert answered == [
        {
            "title": card.title,
            "invoices": {
                "edges": [{"node": {"totalCents": MAX_INVOICE_TOTAL_CENTS, "lineItems": items}}]
            },
        }
    ]


async def test_an_automation_saved_before_the_limit_fails_its_run_and_invoices_nothing(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """Settings written before the rule (straight into the table) are checked when run too."""
    pipeline, stages = await board(firm_a)
    await Automation.create(
        firm_id=firm_a.firm.id,
        stage_id=stages[1].id,
        position=0,
        action=ActionType.CREATE_INVOICE,
        settings={"currency": "USD", "lineItems": [_item(2**31)]},
        conditions={},
    )
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    assert await runner.run_due() == 1
    run = await AutomationRun.get(job_id=card.id)
    assert run.error and "2147483647" in run.error
    assert await Invoice.filter(job_id=card.id).count() == 0
    assert (await gql(BOARD))["pipelines"]["edges"][0]["node"]["stages"][1]["jobs"]["edges"]
