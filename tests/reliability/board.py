"""Boards for the reliability scenarios, built through the API, and the automation, webhook
and run accounting read back from the database."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import httpx

from tests.live import make_board
from tests.reliability.infra import fetch, gql
from tests.servers import ServerProcess
from workflow.global_ids import parse_id

CREATE_TASK = """mutation($s: ID!) { createAutomation(input: {stageId: $s, action: CREATE_TASK,
  settings: {title: "Review the documents"}}) { automation { id } errors { code } } }"""
ENDPOINT = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
  webhookEndpoint { id } errors { code message } } }"""
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  job { version } errors { code field } } }"""
CREATE_JOB = """mutation($p: ID!, $c: ID!, $s: ID!, $t: String!) {
  createJob(input: {pipelineId: $p, clientId: $c, stageId: $s, title: $t}) {
    job { id } errors { code } } }"""
PIPELINE = """mutation($n: String!) { createPipeline(input: {name: $n,
  stageNames: ["Intake", "Work", "Done"]}) { pipeline { id stages { id } } errors { code } } }"""
CLIENT = """mutation { createClient(input: {name: "Avery"}) { client { id } } }"""


def pk(global_id: str) -> int:
    return parse_id(global_id, "id")[1]


@dataclass
class Board:
    """A firm's token, a pipeline of three stages and its jobs (global ids), as in tests.live."""

    token: str
    pipeline: str
    stages: list[str]
    jobs: list[str]

    @property
    def pipeline_pk(self) -> int:
        return pk(self.pipeline)

    @property
    def stage_pks(self) -> list[int]:
        return [pk(s) for s in self.stages]

    @property
    def job_pks(self) -> list[int]:
        return [pk(j) for j in self.jobs]


async def new_board(server: ServerProcess, jobs: int, firm: str = "Acme CPA") -> Board:
    made = await asyncio.to_thread(make_board, server, jobs, firm)
    return Board(made.token, made.pipeline, made.stages, made.jobs)


async def add_create_task(server: ServerProcess, board: Board, stage: str) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        created = (await gql(http, server, board.token, CREATE_TASK, s=stage))["createAutomation"]
    assert created["errors"] == [], created
    return pk(created["automation"]["id"])


async def add_endpoint(server: ServerProcess, board: Board, url: str) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        created = (await gql(http, server, board.token, ENDPOINT, url=url))["createWebhookEndpoint"]
    assert created["errors"] == [], created
    return pk(created["webhookEndpoint"]["id"])


async def event_seq(url: str, pipeline_pk: int) -> int:
    [row] = await fetch(url, "SELECT event_seq FROM pipeline WHERE id = $1", pipeline_pk)
    return int(row["event_seq"])


async def wait_until_settled(url: str, within: float = 90) -> None:
    """Until no automation run waits and no webhook delivery is undelivered."""
    async with asyncio.timeout(within):
        while True:
            [row] = await fetch(
                url,
                """SELECT
                (SELECT count(*) FROM automation_run WHERE status = 'PENDING') AS runs,
                (SELECT count(*) FROM webhook_delivery WHERE status <> 'DELIVERED') AS hooks""",
            )
            if row["runs"] == 0 and row["hooks"] == 0:
                return
            await asyncio.sleep(0.25)


@dataclass
class RunAccount:
    """What became of the runs of one automation."""

    entries: int  # events that put a job in the automation's stage
    runs: int
    runs_per_entry: Counter[int]
    statuses: Counter[str]
    ran_events_per_run: Counter[int]  # AUTOMATION_RAN events naming each run
    tasks: int
    max_attempts: int

    def problems(self) -> list[str]:
        problems = []
        if self.runs != self.entries or any(n != 1 for n in self.runs_per_entry.values()):
            problems.append(f"{self.runs} runs for {self.entries} entries")
        if set(self.statuses) - {"SUCCEEDED", "SKIPPED"}:
            problems.append(f"unfinished or failed runs: {dict(self.statuses)}")
        if len(self.ran_events_per_run) != self.runs or any(
            n != 1 for n in self.ran_events_per_run.values()
        ):
            twice = {r: n for r, n in self.ran_events_per_run.items() if n != 1}
            problems.append(
                f"AUTOMATION_RAN events: {len(self.ran_events_per_run)} runs "
                f"reported for {self.runs}; more than once: {twice}"
            )
        if self.tasks != self.statuses["SUCCEEDED"]:
            problems.append(f"{self.tasks} tasks for {self.statuses['SUCCEEDED']} runs")
        return problems


async def run_account(url: str, automation_pk: int, stage_pk: int) -> RunAccount:
    entries = await fetch(
        url,
        """SELECT id FROM job_event WHERE to_stage_id = $1
        AND type IN ('JOB_CREATED', 'JOB_MOVED', 'JOB_TRANSFERRED_IN')
        AND coalesce(from_stage_id, 0) <> $1""",
        stage_pk,
    )
    runs = await fetch(
        url,
        "SELECT id, entry_id, status, attempts FROM automation_run WHERE automation_id = $1",
        automation_pk,
    )
    reported = await fetch(url, "SELECT changes FROM job_event WHERE type = 'AUTOMATION_RAN'")
    run_ids = {r["id"] for r in runs}
    ran: Counter[int] = Counter()
    for row in reported:
        run = json.loads(row["changes"])["run"]
        if run in run_ids:
            ran[run] += 1
    [tasks] = await fetch(
        url, "SELECT count(*) AS n FROM task WHERE title = $1", "Review the documents"
    )
    return RunAccount(
        entries=len(entries),
        runs=len(runs),
        runs_per_entry=Counter(r["entry_id"] for r in runs),
        statuses=Counter(r["status"] for r in runs),
        ran_events_per_run=ran,
        tasks=int(tasks["n"]),
        max_attempts=max((r["attempts"] for r in runs), default=0),
    )
