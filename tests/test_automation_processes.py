"""Automations in real processes: the embedded server runs them itself; in scale-out, serving
processes run none (--no-runner) and two `server.py worker` processes share them, each run
executed exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import make_board
from tests.servers import ServerProcess, graphql

pytestmark = pytest.mark.slow  # every test here starts server processes

CREATE = """mutation($s: ID!) { createAutomation(input: {stageId: $s, action: CREATE_TASK,
  settings: {title: "Review the documents"}}) { errors { code } } }"""
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  errors { code } } }"""
RUNS = """query($p: ID!) { pipeline(id: $p) { jobs { edges { node {
  tasks { totalCount } automationRuns { edges { node { status } } } } } } } }"""


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    if database_url.startswith("sqlite"):
        started = [ServerProcess(tmp_path, DATABASE_URL=database_url).start()]
    else:
        started = [ServerProcess(tmp_path, "--no-runner", DATABASE_URL=database_url).start()]
        started += [
            ServerProcess(tmp_path, "worker", DATABASE_URL=database_url).start() for _ in range(2)
        ]
    yield started
    for process in started:
        process.stop()


def test_every_entry_runs_its_automation_exactly_once(processes: list[ServerProcess]) -> None:
    server = processes[0]
    board = make_board(server, jobs=6)
    assert graphql(server, board.token, CREATE, s=board.stages[1])["createAutomation"] == {
        "errors": []
    }
    for job in board.jobs:
        assert graphql(server, board.token, MOVE, j=job, s=board.stages[1])["moveJob"] == {
            "errors": []
        }
    deadline = time.monotonic() + 20
    while True:
        jobs = graphql(server, board.token, RUNS, p=board.pipeline)["pipeline"]["jobs"]["edges"]
        runs = [r["node"]["status"] for j in jobs for r in j["node"]["automationRuns"]["edges"]]
        if runs == ["SUCCEEDED"] * 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert runs == ["SUCCEEDED"] * 6
    time.sleep(1.5)  # every runner polls again: still one task per job
    jobs = graphql(server, board.token, RUNS, p=board.pipeline)["pipeline"]["jobs"]["edges"]
    assert [j["node"]["tasks"]["totalCount"] for j in jobs] == [1] * 6
