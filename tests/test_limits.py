"""Limits, each tested with the abusive request it stops: query depth, aliases, tokens, root
fields, page size, computed cost, body size, batches, malformed JSON, execution time, rate limits
in query cost, and what an unauthenticated caller may learn.

A refused request runs nothing: no SQL but the caller's token lookup, no change to any table
(and for a refused mutation, no new row).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from models import Client, Job, JobEvent, Task
from schema.connection import MAX_PAGE
from schema.guard import MAX_COST, MAX_ROOT_FIELDS
from settings import Settings
from tests.conftest import StatementCounter
from tests.factories import board, client, gid
from tests.mutations import snapshot
from tests.servers import RedisProcess, ServerProcess
from web.app import create_app
from web.middleware import RequestLog
from workflow.firms import NewFirm

CREATE_JOB = """mutation($p: ID!, $c: ID!) {
  createJob(input: {pipelineId: $p, clientId: $c, title: "Abuse"}) { job { %s } errors { code } }
}"""
# 100 pipelines x 100 jobs x 100 tasks: cost 100 * (1 + 100 * (1 + 100)) = 1,010,100.
COSTLY_QUERY = """{ pipelines(first: 100) { edges { node { jobs(first: 100) { edges { node {
  tasks(first: 100) { edges { node { id } } } } } } } } } }"""
# 100 pipelines x 100 jobs: cost 100 * (1 + 100) = 10,100, well under MAX_COST.
EXPENSIVE_QUERY = """{ pipelines(first: 100) { edges { node { jobs(first: 100) { edges { node {
  id } } } } } } }"""
EXPENSIVE_COST = 10_100


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def codes(body: dict[str, Any]) -> list[str | None]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@dataclass
class World:
    """Firm A with a pipeline and a client, and a way to send it anything."""

    http: httpx.AsyncClient
    firm: NewFirm
    pipeline: str
    client: str
    statements: StatementCounter

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers=bearer(self.firm.token),
        )

    async def refused(self, query: str, **variables: Any) -> httpx.Response:
        """Send what must be refused before it runs: the only SQL is the token lookup, and no
        table changes."""
        before = await snapshot()
        self.statements.statements.clear()
        response = await self.post(query, **variables)
        ran = [s for s in self.statements.statements if '"api_token"' not in s]
        assert ran == [], ran
        assert await snapshot() == before
        return response

    async def refused_job(self, selection: str) -> httpx.Response:
        """A createJob whose payload selection is the abuse: refused whole, no job made."""
        response = await self.refused(CREATE_JOB % selection, p=self.pipeline, c=self.client)
        assert await Job.all().count() == 0
        return response


@pytest.fixture
async def world(
    http: httpx.AsyncClient, firm_a: NewFirm, sql_statements: StatementCounter
) -> World:
    pipeline, _ = await board(firm_a)
    customer = await client(firm_a)
    world = World(
        http, firm_a, gid("Pipeline", pipeline.id), gid("Client", customer.id), sql_statements
    )
    assert (await world.post("{ viewer { id } }")).status_code == 200  # token's last use written
    return world


# --- depth, aliases, tokens, root fields -------------------------------------------------


def nested(levels: int, leaf: str = "id") -> str:
    """job -> pipeline -> jobs -> node -> pipeline -> ...: four levels deeper per round."""
    inner = leaf
    for _ in range(levels):
        inner = f"pipeline {{ jobs(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return inner


async def test_a_query_nested_past_max_depth_is_refused_before_running(world: World) -> None:
    """job -> pipeline -> jobs -> node -> pipeline ... 24 deep: refused, no SQL run."""
    deep = f"query Deep($j: ID!) {{ job(id: $j) {{ {nested(6)} }} }}"
    assert deep.count("{") - 1 > MAX_DEPTH
    response = await world.refused(deep, j=gid("Job", 1))
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        f"'Deep' exceeds maximum operation depth of {MAX_DEPTH}"
    ]
    shallow = await world.post(
        f"query Ok($j: ID!) {{ job(id: $j) {{ {nested(2)} }} }}", j=gid("Job", 1)
    )
    assert shallow.json() == {"data": {"job": None}}  # the same shape, 10 deep, runs


async def test_a_deep_mutation_payload_is_refused_and_creates_nothing(world: World) -> None:
    """The depth limit holds for a mutation's payload too: the job is not created."""
    response = await world.refused_job(nested(5))
    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]


async def test_an_alias_bomb_is_refused_and_creates_nothing(world: World) -> None:
    """500 aliases of one field (a 1000-alias bomb is over the token limit before this one)."""
    bomb = " ".join(f"a{n}: title" for n in range(500))
    response = await world.refused_job(bomb)
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert [e["message"] for e in body["errors"]] == [f"500 aliases found. Allowed: {MAX_ALIASES}"]
    bigger = await world.refused_job(" ".join(f"a{n}: title" for n in range(1000)))
    assert "more than 3000 tokens" in bigger.json()["errors"][0]["message"]


async def test_a_huge_document_is_refused_by_its_token_count(world: World) -> None:
    """50,000 selections (about 150 KB, under the body limit): parsing stops at MAX_TOKENS."""
    response = await world.refused_job(" ".join(["id"] * 50_000))
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        f"Syntax Error: Document contains more than {MAX_TOKENS} tokens. Parsing aborted."
    ]


async def test_more_root_fields_than_allowed_are_refused(world: World) -> None:
    """25 root fields (aliases: 25 of 30 allowed) are refused whole; 20 run."""
    assert MAX_ROOT_FIELDS < 25 <= MAX_ALIASES
    allowed = await world.post("{ " + " ".join(f"v{n}: viewer {{ id }}" for n in range(20)) + " }")
    assert len(allowed.json()["data"]) == 20
    for query in (
        "{ " + " ".join(f"v{n}: viewer {{ id }}" for n in range(25)) + " }",
        "mutation { "
        + " ".join(
            f'c{n}: createClient(input: {{name: "Spam {n}"}}) {{ client {{ id }} }}'
            for n in range(25)
        )
        + " }",
    ):
        response = await world.refused(query)
        body = response.json()
        assert body["data"] is None and codes(body) == ["QUERY_TOO_COMPLEX"], body
        assert "25 root fields" in body["errors"][0]["message"]
    assert await Client.all().count() == 1


# --- page size and computed cost ---------------------------------------------------------


async def test_first_over_the_page_cap_is_refused_with_a_clear_error(world: World) -> None:
    """first: 101 on a root connection: INVALID_INPUT naming `first`, no data."""
    response = await world.post("{ pipelines(first: 101) { totalCount } }")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == f"first must be between 0 and {MAX_PAGE}"
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


async def test_first_over_the_page_cap_in_a_mutation_payload_runs_nothing(world: World) -> None:
    response = await world.refused_job("id tasks(first: 101) { totalCount }")
    assert response.json()["errors"][0]["extensions"]["field"] == "first"


async def test_nested_connections_multiplying_past_max_cost_are_refused(world: World) -> None:
    """100 pipelines x 100 jobs x 100 tasks: QUERY_TOO_COMPLEX with the cost, before any SQL."""
    response = await world.refused(COSTLY_QUERY)
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "QUERY_TOO_COMPLEX", "cost": 1_010_100, "maxCost": MAX_COST}
    ]


async def test_a_costly_mutation_payload_is_refused_and_creates_nothing(world: World) -> None:
    """10 stages (as estimated) x 100 jobs x 100 tasks in createJob's payload."""
    response = await world.refused_job("""pipeline { stages { jobs(first: 100) { edges { node {
        tasks(first: 100) { edges { node { id } } } } } } } }""")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"] == MAX_COST


async def test_a_real_board_of_10_stages_by_50_jobs_is_accepted(world: World) -> None:
    """The board a client app asks for: 10 stages x 50 jobs, each with 12 tasks, tasks(first: 10).
    (Seeded in bulk: the rows a board shows, without their history.)"""
    pipeline, stages = await board(world.firm, tuple(f"Stage {n}" for n in range(10)), "Big")
    customer = await Client.first()
    assert customer is not None
    now = datetime.now(UTC)
    await Job.bulk_create(
        [
            Job(
                firm_id=world.firm.firm.id,
                client_id=customer.id,
                pipeline_id=pipeline.id,
                stage_id=stage.id,
                title=f"job {n}",
                rank=f"{n:04d}",
                stage_entered_at=now,
            )
            for stage in stages
            for n in range(50)
        ]
    )
    await Task.bulk_create(
        [
            Task(firm_id=world.firm.firm.id, job_id=job_id, title=f"task {n}")
            for job_id in await Job.filter(pipeline_id=pipeline.id).values_list("id", flat=True)
            for n in range(12)
        ]
    )
    response = await world.post(
        """query Board($p: ID!) { pipeline(id: $p) { id name
      stages { id name jobs(first: 50) { totalCount edges { node {
        id title version rank dueDate client { name } assignees { name }
        tasks(first: 10) { totalCount edges { node { title done } } } } } } } } }""",
        p=gid("Pipeline", pipeline.id),
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    columns = body["data"]["pipeline"]["stages"]
    assert [len(column["jobs"]["edges"]) for column in columns] == [50] * 10
    assert {
        len(edge["node"]["tasks"]["edges"])
        for column in columns
        for edge in column["jobs"]["edges"]
    } == {10}


# --- the request itself: size, batches, JSON ---------------------------------------------


def padded_mutation(size: int) -> bytes:
    """A createClient request of exactly `size` bytes (padded with spaces inside the query)."""
    query = 'mutation { createClient(input: {name: "Big"}) { client { id } } %s}'
    padding = size - len(json.dumps({"query": query % ""}))
    body = json.dumps({"query": query % (" " * padding)}).encode()
    assert len(body) == size
    return body


async def test_a_body_over_the_limit_is_refused_413_by_content_length(world: World) -> None:
    """MAX_BODY_BYTES (default 1,000,000) declared in Content-Length: refused unread; just
    under it runs."""
    limit = Settings.max_body_bytes
    response = await world.http.post(
        "/graphql",
        content=padded_mutation(limit + 10_000),
        headers={**bearer(world.firm.token), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    assert await Client.all().count() == 1
    under = await world.http.post(
        "/graphql",
        content=padded_mutation(limit - 10_000),
        headers={**bearer(world.firm.token), "content-type": "application/json"},
    )
    assert under.status_code == 200 and await Client.all().count() == 2


async def test_a_streamed_body_over_the_limit_is_refused_413(world: World) -> None:
    """No Content-Length (chunked): counted while reading."""
    payload = padded_mutation(Settings.max_body_bytes + 100_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    response = await world.http.post(
        "/graphql",
        content=chunks(),
        headers={**bearer(world.firm.token), "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
    assert await Client.all().count() == 1


async def test_a_json_array_batch_is_refused_and_runs_nothing(world: World) -> None:
    """Batching is off: an array of operations is a 400, whatever its length."""
    create = {"query": 'mutation { createClient(input: {name: "Batch"}) { client { id } } }'}
    for batch in ([create] * 3, [{"query": "{ viewer { id } }"}] * 1000, []):
        before = await snapshot()
        response = await world.http.post("/graphql", json=batch, headers=bearer(world.firm.token))
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["message"] == "Batching is not enabled"
        assert await snapshot() == before


@pytest.fixture
async def raw_http(db: str) -> AsyncIterator[httpx.AsyncClient]:
    """Like `http`, but an unhandled exception comes back as the 500 a server would send."""
    transport = httpx.ASGITransport(app=RequestLog(create_app()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client_:
        yield client_


async def test_malformed_json_is_a_400(raw_http: httpx.AsyncClient, firm_a: NewFirm) -> None:
    """Truncated, empty, not UTF-8, not JSON, wrong field types: 400, never a 500."""
    for body in (
        b'{"query": "{ viewer { id } }"',
        b"",
        b"\xff\xfe{}",
        b"{'query': 1}",
        b'{"query": 5}',
        b'{"query": "{ viewer { id } }", "variables": "x"}',
        b"{}",
    ):
        response = await raw_http.post(
            "/graphql",
            content=body,
            headers={**bearer(firm_a.token), "content-type": "application/json"},
        )
        assert response.status_code == 400, (body, response.text)


async def test_json_that_is_not_an_object_is_a_400(
    raw_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    for body in (b"null", b'"{ viewer { id } }"', b"5", b"true"):
        response = await raw_http.post(
            "/graphql",
            content=body,
            headers={**bearer(firm_a.token), "content-type": "application/json"},
        )
        assert response.status_code == 400, (body, response.text)


# --- who may learn about the schema ------------------------------------------------------

PROBES = [
    "{ viewr { id } }",  # a typo: an authenticated caller gets "Did you mean 'viewer'?"
    "{ __schema { types { name fields { name } } } }",
    '{ __type(name: "Job") { fields { name } } }',
    "{ job { titl } }",
    "mutation { createJb(input: {}) { job { id } } }",
    f"query {{ job(id: 1) {{ {nested(6)} }} }}",
]
NOT_TOKENS = [
    {},
    {"Authorization": "Bearer wf_not-a-token"},
    {"Authorization": "Basic YTpi"},
    {"Authorization": "Bearer "},
]


async def test_unauthenticated_callers_get_401_and_no_schema(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """Whatever the query, by POST or GET, without a valid token: the same 401, naming
    nothing of the schema (no suggestions, no introspection)."""
    expected = {
        "errors": [
            {
                "message": "a valid bearer token is required (Authorization: Bearer <token>)",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
    for headers in NOT_TOKENS:
        for query in PROBES:
            for response in (
                await http.post("/graphql", json={"query": query}, headers=headers),
                await http.get("/graphql", params={"query": query}, headers=headers),
            ):
                assert response.status_code == 401, (headers, query, response.text)
                assert response.json() == expected
                assert response.headers["www-authenticate"].startswith("Bearer")
        page = await http.get("/graphql", headers=headers)  # the GraphiQL page: no schema in it
        assert page.status_code == 200 and "createJob" not in page.text


async def test_authenticated_callers_may_introspect_and_get_suggestions(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    introspection = await http.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"}, headers=bearer(firm_a.token)
    )
    names = {t["name"] for t in introspection.json()["data"]["__schema"]["types"]}
    assert {"Job", "Pipeline", "Mutation"} <= names
    typo = await http.post(
        "/graphql", json={"query": "{ viewr { id } }"}, headers=bearer(firm_a.token)
    )
    assert "Did you mean 'viewer'?" in typo.json()["errors"][0]["message"]


# --- against a server process: timeout, body limit over real HTTP ------------------------


@asynccontextmanager
async def changes_blocked(database_url: str, pipeline_id: int) -> AsyncIterator[None]:
    """Make every change of this pipeline wait, as a busy database would: its row locked FOR
    UPDATE on PostgreSQL; the write lock held on SQLite (a single writer)."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.split("://", 1)[1], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("COMMIT")
            connection.close()
        return
    pg = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        async with pg.transaction():
            await pg.execute("SELECT id FROM pipeline WHERE id = $1 FOR UPDATE", pipeline_id)
            yield
    finally:
        await pg.close()


@pytest.fixture
def redis(db: str) -> Iterator[RedisProcess]:
    """A private Redis (PostgreSQL runs only: scale-out)."""
    if db.startswith("sqlite"):
        pytest.skip("scale-out runs on PostgreSQL")
    process = RedisProcess().start()
    yield process
    process.stop()


@pytest.fixture
def start_server(db: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `python server.py` processes on the test's database; all stopped at the end."""
    started: list[ServerProcess] = []

    def start(*args: str, **env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, *args, **{"DATABASE_URL": db, **env})
        started.append(server)  # stopped even if it fails to start
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.mark.slow
async def test_a_request_running_past_the_timeout_gets_503_and_changes_nothing(
    db: str, firm_a: NewFirm, start_server: Callable[..., ServerProcess]
) -> None:
    """A createJob stuck behind a busy database for over REQUEST_TIMEOUT_SECONDS=1 gets 503
    with Retry-After, and changes nothing; the server goes on serving. On PostgreSQL it waits
    inside its transaction for the pipeline's lock (and is rolled back); on SQLite for the
    write lock, at the token's first last-used write."""
    server = start_server(REQUEST_TIMEOUT_SECONDS="1")
    pipeline, _ = await board(firm_a)
    customer = await client(firm_a)
    create = {
        "query": CREATE_JOB % "id",
        "variables": {"p": gid("Pipeline", pipeline.id), "c": gid("Client", customer.id)},
    }
    async with httpx.AsyncClient(base_url=server.url, headers=bearer(firm_a.token)) as http:
        if not db.startswith("sqlite"):
            assert (await http.post("/graphql", json={"query": "{ viewer { id } }"})).is_success
        async with changes_blocked(db, pipeline.id):
            started = time.monotonic()
            response = await http.post("/graphql", json=create, timeout=10)
            elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert codes(response.json()) == ["TIMEOUT"]
        assert 1 <= elapsed < 3
        retried = await http.post("/graphql", json=create, timeout=10)  # after the stuck one
        assert retried.json()["data"]["createJob"]["errors"] == []
    assert await Job.all().count() == 1
    assert await JobEvent.all().count() == 1


@pytest.mark.slow
async def test_a_server_refuses_large_bodies_with_413_declared_or_streamed(
    db: str, firm_a: NewFirm, start_server: Callable[..., ServerProcess]
) -> None:
    """MAX_BODY_BYTES=20000 over real HTTP, with Content-Length and chunked."""
    if not db.startswith("sqlite"):
        pytest.skip("HTTP framing does not depend on the database")
    server = start_server(MAX_BODY_BYTES="20000")
    payload = padded_mutation(30_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 4096):
            yield payload[start : start + 4096]

    headers = {**bearer(firm_a.token), "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        for content in (payload, chunks()):
            response = await http.post("/graphql", content=content, headers=headers)
            assert response.status_code == 413, response.text
            assert codes(response.json()) == ["REQUEST_TOO_LARGE"]
        fits = await http.post("/graphql", content=padded_mutation(19_000), headers=headers)
        assert fits.status_code == 200, fits.text
    assert await Client.all().values_list("name", flat=True) == ["Big"]


# --- rate limits in query cost ------------------------------------------------------------


async def fresh_window(needed: float = 10) -> None:
    """Rate limits count in fixed one-minute windows: start with enough of one left."""
    left = 60 - time.time() % 60
    if left < needed:
        await asyncio.sleep(left + 0.2)


class Caller:
    """Sends queries to server processes as one token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.token = http, token

    async def __call__(self, server: ServerProcess, query: str) -> httpx.Response:
        return await self.http.post(
            f"{server.url}/graphql", json={"query": query}, headers=bearer(self.token)
        )

    async def new_token(self, server: ServerProcess) -> Caller:
        response = await self(
            server,
            """mutation { createApiToken(input: {name: "second",
            scopes: [READ, WRITE]}) { secret } }""",
        )
        return Caller(self.http, response.json()["data"]["createApiToken"]["secret"])


@pytest.fixture
async def remote() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


def assert_passed(response: httpx.Response) -> None:
    assert response.status_code == 200 and "errors" not in response.json(), response.text


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    body = response.json()
    assert body.get("data") is None and codes(body) == ["RATE_LIMITED"], body
    assert body["errors"][0]["extensions"]["retryAfter"] == int(response.headers["retry-after"])


@pytest.mark.slow
async def test_the_token_limit_counts_query_cost_not_requests(
    db: str,
    firm_a: NewFirm,
    remote: httpx.AsyncClient,
    start_server: Callable[..., ServerProcess],
) -> None:
    """25,000 a minute: 100 cheap queries and 2 of cost 10,100 pass; a third, or a costly
    mutation, gets 429 and runs nothing; cheap queries still pass (refusals cost nothing)."""
    if not db.startswith("sqlite"):
        pytest.skip("the in-process limiter does not depend on the database (Redis: below)")
    server = start_server(RATE_LIMIT_COST_PER_MINUTE="25000")
    assert 100 + 2 * EXPENSIVE_COST <= 25_000 < 100 + 3 * EXPENSIVE_COST
    alice = Caller(remote, firm_a.token)
    await fresh_window()
    for _ in range(100):
        assert_passed(await alice(server, "{ viewer { id } }"))
    for _ in range(2):
        assert_passed(await alice(server, EXPENSIVE_QUERY))
    assert_rate_limited(await alice(server, EXPENSIVE_QUERY))
    assert_rate_limited(
        await alice(
            server,
            """mutation { createClient(input: {name: "Late"}) {
        client { jobs(first: 100) { edges { node { tasks(first: 100) { edges { node { id }
        } } } } } } } }""",
        )
    )
    cheap = await alice(server, "{ clients(first: 1) { totalCount } }")
    assert cheap.json() == {"data": {"clients": {"totalCount": 0}}}
    assert await Client.all().count() == 0


@pytest.mark.slow
async def test_the_firm_limit_spans_its_tokens_and_spares_other_firms(
    db: str,
    firm_a: NewFirm,
    firm_b: NewFirm,
    remote: httpx.AsyncClient,
    start_server: Callable[..., ServerProcess],
) -> None:
    """Per firm 25,000 a minute (no per-token limit): firm A's second token is refused once its
    first has spent the budget; firm B spends its own."""
    if not db.startswith("sqlite"):
        pytest.skip("the in-process limiter does not depend on the database (Redis: below)")
    server = start_server(RATE_LIMIT_COST_PER_MINUTE="0", FIRM_RATE_LIMIT_COST_PER_MINUTE="25000")
    alice, bob = Caller(remote, firm_a.token), Caller(remote, firm_b.token)
    integration = await alice.new_token(server)
    await fresh_window()
    for _ in range(2):
        assert_passed(await alice(server, EXPENSIVE_QUERY))
    assert_rate_limited(await integration(server, EXPENSIVE_QUERY))
    for _ in range(2):
        assert_passed(await bob(server, EXPENSIVE_QUERY))


@pytest.mark.slow
async def test_server_processes_share_one_budget_through_redis(
    db: str,
    firm_a: NewFirm,
    redis: RedisProcess,
    remote: httpx.AsyncClient,
    start_server: Callable[..., ServerProcess],
) -> None:
    """Two processes on PostgreSQL and one Redis: what one spent, the other refuses."""
    env = {"REDIS_URL": redis.url, "RATE_LIMIT_COST_PER_MINUTE": "25000"}
    one, two = await asyncio.gather(*[asyncio.to_thread(start_server, **env) for _ in range(2)])
    alice = Caller(remote, firm_a.token)
    await fresh_window()
    for _ in range(2):
        assert_passed(await alice(one, EXPENSIVE_QUERY))
    assert_rate_limited(await alice(two, EXPENSIVE_QUERY))
    assert_rate_limited(await alice(one, EXPENSIVE_QUERY))
    assert_passed(await alice(two, "{ viewer { id } }"))
