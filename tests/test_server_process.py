"""Full stack: `python server.py` as a process, driven over real HTTP, on each database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ROOT, ServerProcess

pytestmark = pytest.mark.slow  # every test here starts server processes


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for the module: each test works in a firm of its own."""
    process = ServerProcess(tmp_path_factory.mktemp("server"), DATABASE_URL=database_url).start()
    yield process
    process.stop()


def test_server_process_serves_the_workflow_over_http(server: ServerProcess) -> None:
    base = server.url
    owner = json.loads(server.cli("create-firm", "Acme CPA", "--owner-email", "owner@acme.test"))
    assert set(owner) == {"firm_id", "user_id", "token"}
    headers = {"Authorization": f"Bearer {owner['token']}"}

    def gql(query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    assert httpx.post(f"{base}/graphql", json={"query": "{ viewer { id } }"}).status_code == 401
    assert httpx.get(f"{base}/readyz").json() == {"database": "ok", "broker": "ok"}
    assert "graphiql" in httpx.get(f"{base}/graphql").text.lower()

    assert gql("{ viewer { id email role } }")["viewer"] == {
        "id": owner["user_id"],
        "email": "owner@acme.test",
        "role": "OWNER",
    }
    pipeline = gql("""mutation { createPipeline(input: {name: "1040 Return",
        stageNames: ["Review Docs", "Prepare Return", "Review"]}) {
        pipeline { id stages { id name } } errors { code } } }""")["createPipeline"]["pipeline"]
    client = gql("""mutation { createClient(input: {name: "Avery Johnson", tags: ["vip"]}) {
        client { id } } }""")["createClient"]["client"]
    created = gql(
        """mutation($p: ID!, $c: ID!) { createJob(input: {pipelineId: $p, clientId: $c,
        title: "Avery 2025"}) { job { id version stage { name } } errors { code } } }""",
        p=pipeline["id"],
        c=client["id"],
    )["createJob"]
    assert created["errors"] == [] and created["job"]["stage"] == {"name": "Review Docs"}
    moved = gql(
        """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s,
        expectedVersion: 1}) { job { version stage { name } } errors { code } } }""",
        j=created["job"]["id"],
        s=pipeline["stages"][2]["id"],
    )["moveJob"]
    assert moved == {"job": {"version": 2, "stage": {"name": "Review"}}, "errors": []}
    board = gql(
        """query BoardQuery($p: ID!) { pipeline(id: $p) { stages { name
        jobs(first: 20) { edges { node { title client { name }
          history(first: 10) { edges { node { type } } } } } }
        } } }""",
        p=pipeline["id"],
    )["pipeline"]["stages"]
    assert [len(s["jobs"]["edges"]) for s in board] == [0, 0, 1]
    assert board[2]["jobs"]["edges"][0]["node"] == {
        "title": "Avery 2025",
        "client": {"name": "Avery Johnson"},
        "history": {"edges": [{"node": {"type": "JOB_CREATED"}}, {"node": {"type": "JOB_MOVED"}}]},
    }
    lines = server.log_lines("op=BoardQuery")
    assert len(lines) == 1 and "status=200" in lines[0] and "firm=" in lines[0]
    assert "firm=-" not in lines[0] and " id=" in lines[0] and "ms=" in lines[0]


def test_demo_seeds_a_board(server: ServerProcess) -> None:
    base = server.url
    demo = json.loads(server.cli("demo"))
    response = httpx.post(
        f"{base}/graphql",
        headers={"Authorization": f"Bearer {demo['token']}"},
        json={
            "query": "{ pipelines(first: 10) { edges { node { name stages { name "
            "jobs(first: 20) { edges { node { recurringSchedule { id } } } } } } } } }"
        },
    )
    assert "errors" not in response.json(), response.text
    edges = response.json()["data"]["pipelines"]["edges"]
    pipelines = {e["node"]["name"]: e["node"] for e in edges}
    assert set(pipelines) == {"1040 Return", "W-2", "Payroll", "Bookkeeping Lead"}
    assert [s["name"] for s in pipelines["1040 Return"]["stages"]] == [
        "Review Docs",
        "Prepare Engagement Letter",
        "Prepare Return",
        "Review",
    ]

    def by_hand(pipeline: dict[str, Any]) -> int:
        """Its jobs the demo made itself (the server's scheduler may have made the recurring
        schedules' first ones meanwhile)."""
        jobs = [e["node"] for s in pipeline["stages"] for e in s["jobs"]["edges"]]
        return sum(1 for job in jobs if job["recurringSchedule"] is None)

    assert {name: by_hand(p) for name, p in pipelines.items()} == dict.fromkeys(pipelines, 5)


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3"}
    done = subprocess.run(
        [sys.executable, "server.py", "--workers", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("configuration error: DATABASE_URL: SQLite has a single")


def test_bad_configuration_fails_with_one_line() -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://nowhere/db"}
    done = subprocess.run(
        [sys.executable, "server.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "configuration error: DATABASE_URL: scheme 'mysql' is not supported; "
        "use sqlite://PATH or postgres://USER@HOST:PORT/DB"
    ]
