"""Idempotency-Key: a retried mutation returns the first response instead of running again.

Same key and body: the stored response, marked `idempotent-replayed: true`, and the work done
once. Same key, another body: 422. Two at once: one runs, the other hears 409 (or the replay).
Keys belong to a token. A secret made by a request is not kept: its replay answers null there.
A request refused before running (429, 503) releases its key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import settings
from models import ApiToken, Client, IdempotentRequest, Job, JobEvent, Permission
from tests.factories import board, client, gid
from tests.mutations import snapshot
from tests.servers import ServerProcess
from tests.test_limits import changes_blocked, codes
from web import ratelimit
from web.app import create_app
from web.middleware import RequestLog
from workflow.firms import NewFirm, issue_token

CREATE_JOB = """mutation($p: ID!, $c: ID!, $t: String!) {
  createJob(input: {pipelineId: $p, clientId: $c, title: $t}) {
    job { id title version stage { name } } errors { code } } }"""
CREATE_CLIENT = """mutation($n: String!) { createClient(input: {name: $n}) {
  client { id name } errors { code } } }"""


@dataclasses.dataclass
class Board:
    pipeline_pk: int
    pipeline: str
    client: str

    def create_job(self, title: str = "Avery 2025") -> dict[str, Any]:
        return {
            "query": CREATE_JOB,
            "variables": {"p": self.pipeline, "c": self.client, "t": title},
        }


@pytest.fixture
async def jobs_board(firm_a: NewFirm) -> Board:
    pipeline, _ = await board(firm_a)
    customer = await client(firm_a)
    return Board(pipeline.id, gid("Pipeline", pipeline.id), gid("Client", customer.id))


@pytest.fixture
def serve(db: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `python server.py` on the test's database; stopped at the end."""
    started: list[ServerProcess] = []

    def start(*args: str, **env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, *args, DATABASE_URL=db, **env)
        started.append(server)  # stopped even if it fails to start
        return server.start()

    yield start
    for server in started:
        server.stop()


def keyed(token: str, key: str | bytes) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


async def test_the_same_key_and_body_replays_the_first_response_and_runs_once(
    http: httpx.AsyncClient, firm_a: NewFirm, jobs_board: Board
) -> None:
    first = await http.post(
        "/graphql", json=jobs_board.create_job(), headers=keyed(firm_a.token, "job-1")
    )
    assert first.status_code == 200 and first.json()["data"]["createJob"]["errors"] == []
    assert "idempotent-replayed" not in first.headers
    for _ in range(2):
        again = await http.post(
            "/graphql", json=jobs_board.create_job(), headers=keyed(firm_a.token, "job-1")
        )
        assert again.status_code == first.status_code
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
    assert await Job.all().count() == 1
    assert await JobEvent.all().count() == 1
    # Without a key nothing is remembered: the same request runs again.
    await http.post(
        "/graphql",
        json=jobs_board.create_job(),
        headers={"Authorization": f"Bearer {firm_a.token}"},
    )
    assert await Job.all().count() == 2


async def test_the_same_key_with_another_body_is_refused_422_and_runs_nothing(
    http: httpx.AsyncClient, firm_a: NewFirm, jobs_board: Board
) -> None:
    first = await http.post(
        "/graphql", json=jobs_board.create_job("Avery 2025"), headers=keyed(firm_a.token, "job-1")
    )
    before = await snapshot()
    other = await http.post(
        "/graphql", json=jobs_board.create_job("Blake 2025"), headers=keyed(firm_a.token, "job-1")
    )
    assert other.status_code == 422
    assert codes(other.json()) == ["IDEMPOTENCY_KEY_REUSED"]
    assert "idempotent-replayed" not in other.headers
    assert await snapshot() == before
    assert await Job.all().values_list("title", flat=True) == ["Avery 2025"]
    replay = await http.post(
        "/graphql", json=jobs_board.create_job("Avery 2025"), headers=keyed(firm_a.token, "job-1")
    )
    assert replay.content == first.content  # the key still answers for its first body


async def test_concurrent_requests_with_one_key_run_once(
    http: httpx.AsyncClient, firm_a: NewFirm, jobs_board: Board
) -> None:
    """Five at once in one process: one runs; each other one is told 409 or gets the replay."""
    responses = await asyncio.gather(
        *[
            http.post(
                "/graphql", json=jobs_board.create_job(), headers=keyed(firm_a.token, "burst")
            )
            for _ in range(5)
        ]
    )
    assert_ran_once(responses)
    assert await Job.all().count() == 1


def assert_ran_once(responses: list[httpx.Response]) -> None:
    """One response is the request's run; each other one is a 409 or that response replayed."""
    ran = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(ran) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 409:
            assert codes(response.json()) == ["IDEMPOTENCY_KEY_IN_USE"]
            assert response.headers["retry-after"] == "1"
        else:
            assert response.headers["idempotent-replayed"] == "true"
            assert response.content == ran[0].content


@pytest.mark.postgres_only
@pytest.mark.slow
async def test_one_key_runs_once_across_server_processes(
    db: str, firm_a: NewFirm, jobs_board: Board, serve: Callable[..., ServerProcess]
) -> None:
    """Two server processes on PostgreSQL. While a request waits for its pipeline's lock, six
    more with its key, sent to both processes, get 409; it then completes once and is replayed.
    And eight sent at once to both, with a new key, create one job.

    (Two processes rather than `--workers 2`: uvicorn's supervisor kills a worker that does not
    answer its 5 s health check, so on a loaded machine `--workers` may never come up.)"""
    servers = await asyncio.gather(*[asyncio.to_thread(serve) for _ in range(2)])
    async with httpx.AsyncClient(timeout=30) as http:

        async def create(server: ServerProcess, key: str) -> httpx.Response:
            return await http.post(
                f"{server.url}/graphql",
                json=jobs_board.create_job(),
                headers=keyed(firm_a.token, key),
            )

        async with changes_blocked(db, jobs_board.pipeline_pk):
            first = asyncio.create_task(create(servers[0], "slow-one"))
            await _until_claimed("slow-one")
            others = await asyncio.gather(*[create(servers[n % 2], "slow-one") for n in range(6)])
            assert not first.done()
        assert [r.status_code for r in others] == [409] * 6
        assert {codes(r.json())[0] for r in others} == {"IDEMPOTENCY_KEY_IN_USE"}
        done = await first
        assert done.status_code == 200 and done.json()["data"]["createJob"]["errors"] == []
        replay = await create(servers[1], "slow-one")
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == done.content
        assert await Job.all().count() == 1

        assert_ran_once(await asyncio.gather(*[create(servers[n % 2], "burst") for n in range(8)]))
        assert await Job.all().count() == 2


async def _until_claimed(key: str) -> None:
    deadline = time.monotonic() + 10
    while not await IdempotentRequest.filter(key=key).exists():
        assert time.monotonic() < deadline, "the first request never claimed its key"
        await asyncio.sleep(0.05)


async def test_keys_belong_to_a_firm(
    http: httpx.AsyncClient, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    """Firm B may use the key firm A used, with another body: its request runs, and neither
    firm is shown the other's response."""
    a = await http.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": {"n": "A's"}},
        headers=keyed(firm_a.token, "shared-key"),
    )
    b = await http.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": {"n": "B's"}},
        headers=keyed(firm_b.token, "shared-key"),
    )
    assert b.status_code == 200 and "idempotent-replayed" not in b.headers
    assert b.json()["data"]["createClient"]["client"]["name"] == "B's"
    same_body = await http.post(
        "/graphql",
        headers=keyed(firm_b.token, "shared-key"),
        json={"query": CREATE_CLIENT, "variables": {"n": "A's"}},
    )
    assert same_body.status_code == 422  # B's key holds B's request, not A's
    replay = await http.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": {"n": "A's"}},
        headers=keyed(firm_a.token, "shared-key"),
    )
    assert replay.content == a.content and replay.headers["idempotent-replayed"] == "true"
    assert sorted(await Client.all().values_list("firm_id", "name")) == [
        (firm_a.firm.id, "A's"),
        (firm_b.firm.id, "B's"),
    ]


ADMIN_TOKEN = """mutation { createApiToken(input: {name: "partner", scopes: [READ, WRITE, ADMIN]})
  { key: secret apiToken { id } errors { code } } }"""


async def test_keys_belong_to_a_token_not_to_its_firm(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """The audit's case: a READ-only token of the same firm sends the ADMIN token's key and
    body. It does not receive the first answer (the new ADMIN token's secret): its own request
    runs, and is refused for want of ADMIN."""
    _, reader = await issue_token(firm_a.owner, "reader", [Permission.READ])
    first = await http.post(
        "/graphql", json={"query": ADMIN_TOKEN}, headers=keyed(firm_a.token, "new-token")
    )
    secret = first.json()["data"]["createApiToken"]["key"]
    assert secret.startswith("wf_")
    other = await http.post(
        "/graphql", json={"query": ADMIN_TOKEN}, headers=keyed(reader, "new-token")
    )
    assert "idempotent-replayed" not in other.headers and secret not in other.text
    assert set(codes(other.json())) == {"FORBIDDEN"}
    assert await ApiToken.filter(name="partner").count() == 1


async def test_a_replay_never_repeats_a_secret(http: httpx.AsyncClient, firm_a: NewFirm) -> None:
    """The stored answer of a secret-making mutation has null for the secret, under any alias;
    the replay is otherwise the first answer, and the token was made once."""
    first = await http.post(
        "/graphql", json={"query": ADMIN_TOKEN}, headers=keyed(firm_a.token, "mint")
    )
    secret = first.json()["data"]["createApiToken"]["key"]
    replay = await http.post(
        "/graphql", json={"query": ADMIN_TOKEN}, headers=keyed(firm_a.token, "mint")
    )
    assert replay.headers["idempotent-replayed"] == "true"
    answer = replay.json()["data"]["createApiToken"]
    assert answer["key"] is None
    assert answer["apiToken"] == first.json()["data"]["createApiToken"]["apiToken"]
    assert await ApiToken.filter(name="partner").count() == 1
    [stored] = await IdempotentRequest.filter(key="mint").values_list("response", flat=True)
    assert secret not in stored and "wf_" not in stored
    invite = """mutation { inviteUser(input: {email: "new@a.test", role: STAFF}) {
      user { id } token errors { code } } }"""
    made = await http.post(
        "/graphql", json={"query": invite}, headers=keyed(firm_a.token, "invite")
    )
    assert made.json()["data"]["inviteUser"]["token"].startswith("wf_")
    again = await http.post(
        "/graphql", json={"query": invite}, headers=keyed(firm_a.token, "invite")
    )
    assert again.json()["data"]["inviteUser"]["token"] is None
    assert again.json()["data"]["inviteUser"]["user"] == made.json()["data"]["inviteUser"]["user"]


async def test_an_invalid_key_is_refused_400_and_runs_nothing(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """Empty, over 255 characters, spaces, control or non-ASCII characters: 400."""
    for key in ("", "k" * 256, "two words", "tab\there", b"caf\xc3\xa9"):
        response = await http.post(
            "/graphql",
            headers=keyed(firm_a.token, key),
            json={"query": CREATE_CLIENT, "variables": {"n": "X"}},
        )
        assert response.status_code == 400, key
        assert codes(response.json()) == ["INVALID_IDEMPOTENCY_KEY"]
    assert await Client.all().count() == 0
    assert await IdempotentRequest.all().count() == 0
    longest = await http.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": {"n": "X"}},
        headers=keyed(firm_a.token, "~" * 255),
    )
    assert longest.status_code == 200  # the largest valid key


async def test_a_key_expires_after_24_hours(
    http: httpx.AsyncClient, firm_a: NewFirm, jobs_board: Board
) -> None:
    """Past 24 hours the stored response is gone: the key may carry a new request."""
    await http.post(
        "/graphql", json=jobs_board.create_job("Old"), headers=keyed(firm_a.token, "daily")
    )
    await IdempotentRequest.filter(key="daily").update(
        created_at=datetime.now(UTC) - timedelta(hours=24, minutes=1)
    )
    fresh = await http.post(
        "/graphql", json=jobs_board.create_job("New"), headers=keyed(firm_a.token, "daily")
    )
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
    assert sorted(await Job.all().values_list("title", flat=True)) == ["New", "Old"]


class Clock:
    """Stands in for the rate limiter's `time` module: a fixed instant that tests move on."""

    def __init__(self) -> None:
        self.now = (time.time() // 60) * 60 + 1  # just after a window starts

    def time(self) -> float:
        return self.now


@asynccontextmanager
async def app_client(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process with some settings changed (the database is already open)."""
    app = create_app(dataclasses.replace(settings.load(), **changes), own_database=False)
    transport = httpx.ASGITransport(app=RequestLog(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def limited_http(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    """The app with a token limit of 100 cost a minute, on a clock the test controls."""
    clock = Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    async with app_client(token_cost_per_minute=100) as http:
        yield http, clock


async def test_a_rate_limited_request_releases_its_key(
    limited_http: tuple[httpx.AsyncClient, Clock], firm_a: NewFirm
) -> None:
    """Refused 429 with nothing run; a minute later the same key and body run (once)."""
    http, clock = limited_http
    spend = await http.post(
        "/graphql",
        json={"query": "{ pipelines(first: 95) { edges { node { id } } } }"},
        headers={"Authorization": f"Bearer {firm_a.token}"},
    )
    assert spend.status_code == 200
    request = {"query": CREATE_CLIENT, "variables": {"n": "Retry Later"}}
    refused = await http.post("/graphql", json=request, headers=keyed(firm_a.token, "later"))
    assert refused.status_code == 429 and codes(refused.json()) == ["RATE_LIMITED"]
    assert refused.headers["retry-after"] == "59"
    assert await Client.all().count() == 0
    assert await IdempotentRequest.all().count() == 0
    clock.now += 60
    retried = await http.post("/graphql", json=request, headers=keyed(firm_a.token, "later"))
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert await Client.all().count() == 1


async def test_a_timed_out_request_releases_its_key(
    db: str, firm_a: NewFirm, jobs_board: Board
) -> None:
    """503 after a 1 s request timeout behind a busy database, nothing done; the retry with the
    same key runs."""
    headers = keyed(firm_a.token, "timed-out")
    async with app_client(request_timeout=1.0) as http:
        # Warm up: the token's last use and the hourly purge of old keys are written now.
        warm = await http.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers=keyed(firm_a.token, "warm-up")
        )
        assert warm.status_code == 200
        async with changes_blocked(db, jobs_board.pipeline_pk):
            stuck = await http.post("/graphql", json=jobs_board.create_job(), headers=headers)
        assert stuck.status_code == 503
        assert await Job.all().count() == 0
        # The key is freed in the background once the database accepts writes again (here at
        # once on PostgreSQL; within 0.5 s on SQLite, whose write lock the test held).
        async with asyncio.timeout(5):
            while await IdempotentRequest.filter(key="timed-out").exists():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        retried = await http.post("/graphql", json=jobs_board.create_job(), headers=headers)
        assert retried.status_code == 200, retried.text
        assert "idempotent-replayed" not in retried.headers
        assert retried.json()["data"]["createJob"]["errors"] == []
    assert await Job.all().count() == 1
