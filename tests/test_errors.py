"""Unexpected failures are logged with the request id and masked for the client."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from models import keys
from schema.connection import CURSOR_TAG
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job
from workflow import jobs
from workflow.firms import NewFirm


async def test_unexpected_error_is_masked_and_logged_with_the_request_id(
    http: httpx.AsyncClient,
    firm_a: NewFirm,
    monkeypatch: pytest.MonkeyPatch,
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
        json={
            "query": """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s})
              { job { id } errors { code } } }""",
            "variables": {"j": gid("Job", card.id), "s": gid("Stage", stages[1].id)},
        },
    )
    body = response.json()
    assert response.headers["x-request-id"] == "req-42"
    assert body["data"] is None  # moveJob is non-null, so the masked error nulls data
    assert body["errors"][0]["message"] == "Internal server error (request id req-42)"
    assert body["errors"][0]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "req-42",
    }
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


async def test_ids_beyond_the_id_columns_are_invalid_not_a_crash(gql: GraphQL) -> None:
    huge = keys.encode_id(keys.type_tag("Job"), 99999999999)
    body = await gql("query($id: ID!) { node(id: $id) { id } }", expect_errors=True, id=huge)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ID", "field": "id"}
    cursor = keys.encode_id(CURSOR_TAG, 99999999999)
    body = await gql(
        "query($c: String) { jobs(after: $c) { totalCount } }", expect_errors=True, c=cursor
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "after"}


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (
            "mutation($n: String!) { createClient(input: {name: $n}) { errors { code field } } }",
            {"n": "\ud800"},
            "name",
        ),
        (
            """mutation($e: String!) { createClient(input: {name: "ok", email: $e}) {
            errors { code field } } }""",
            {"e": "a\u0000b@c.de"},
            "email",
        ),
    ],
)
async def test_unstorable_characters_are_refused(
    http: httpx.AsyncClient,
    firm_a: NewFirm,
    document: str,
    variables: dict[str, str],
    field: str,
) -> None:
    response = await http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
        content=json.dumps({"query": document, "variables": variables}),  # as a JSON escape
    )
    payload = next(iter(response.json()["data"].values()))
    assert payload["errors"] == [{"code": "INVALID_INPUT", "field": field}]


async def test_a_search_with_control_characters_is_refused(gql: GraphQL) -> None:
    body = await gql(
        'query { jobs(filter: {search: "a\\u0000"}) { totalCount } }', expect_errors=True
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "filter.search"}


async def test_a_flood_of_tags_is_refused_at_once(gql: GraphQL) -> None:
    started = time.perf_counter()
    data = await gql(
        """mutation($t: [String!]) { createClient(input: {name: "x", tags: $t}) {
        client { id } errors { code field } } }""",
        t=[f"tag{n}" for n in range(40_000)],
    )
    assert data["createClient"] == {
        "client": None,
        "errors": [{"code": "INVALID_INPUT", "field": "tags"}],
    }
    assert time.perf_counter() - started < 2
