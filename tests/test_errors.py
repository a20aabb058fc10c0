"""Unexpected failures are logged with the request id and masked for the client."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import GraphQL
from tests.factories import board, client, gid, job
from workflow import jobs
from workflow.firms import NewFirm


async def test_unexpected_error_is_masked_and_logged_with_the_request_id(
    http: httpx.AsyncClient, firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail: connection string postgres://admin:pw@db")

    monkeypatch.setattr(jobs, "move_job", broken)
    response = await http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {firm_a.token}", "X-Request-ID": "req-42"},
        json={"query": """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s})
              { job { id } errors { code } } }""",
              "variables": {"j": gid("Job", card.id), "s": gid("Stage", stages[1].id)}},
    )
    body = response.json()
    assert response.headers["x-request-id"] == "req-42"
    assert body["data"] is None  # moveJob is non-null, so the masked error nulls data
    assert body["errors"][0]["message"] == "Internal server error (request id req-42)"
    assert body["errors"][0]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "secret" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "workflow.errors"]
    assert len(logged) == 1 and "request_id=req-42" in logged[0].getMessage()
    assert logged[0].exc_info is not None and "secret detail" in str(logged[0].exc_info[1])


async def test_domain_errors_in_queries_carry_their_code(gql: GraphQL) -> None:
    body = await gql('{ job(id: "not-an-id") { id } }', expect_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ID", "field": "id"}
    assert body["errors"][0]["message"] == "id is not a valid id"


async def test_syntax_errors_are_shown_as_they_are(gql: GraphQL) -> None:
    body = await gql("{ pipelines { ", expect_errors=True)
    assert body["errors"][0]["message"].startswith("Syntax Error")
