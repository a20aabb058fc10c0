"""Concurrency: 50 clients move and transfer the same 20 jobs at random between two pipelines,
through two server processes on PostgreSQL, for 8 s (30 s with RELIABILITY_LONG=1), and on
until 20 changes are acknowledged (60 s at most).

No lost update: each acknowledged change has a version of its own (only a move that changed
nothing may repeat a version). No duplicated rank. Every change was acknowledged or is a
renumbering. And replaying the event log (each job's JOB_CREATED, JOB_MOVED and
JOB_TRANSFERRED_IN events) gives exactly the final board: each job's pipeline and stage, and
the rank of each job whose last placing event records one."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.board import PIPELINE, new_board, pk
from tests.reliability.infra import KEEPALIVE, LONG, bearer, board_problems, fetch, gql, start_all
from tests.servers import ServerProcess

CLIENTS = 50
SECONDS = 30.0 if LONG else 8.0
# Enough acknowledged changes to prove something: on a loaded machine (16 in 8 s in one run
# beside three other suites) the race goes on past SECONDS until there are, for MAX_SECONDS.
MIN_ACKS = 20
MAX_SECONDS = 60.0
JOBS = 20
RESULT = "job { id version pipeline { id } stage { id } } errors { code field }"
MOVE = f"""mutation($input: MoveJobInput!) {{ moveJob(input: $input) {{ {RESULT} }} }}"""
TRANSFER = f"""mutation($input: TransferJobInput!) {{ transferJob(input: $input) {{
  {RESULT} }} }}"""
# what racing clients may be told: the anchor left, the job left for the other pipeline, a
# transfer into the pipeline it is already in, a stale expectedVersion
EXPECTED_ERRORS = {"NOT_FOUND", "WRONG_PIPELINE", "INVALID_INPUT", "VERSION_CONFLICT"}
BOARD = """query($p: ID!) { pipeline(id: $p) { stages { id jobs(first: 100) {
  edges { node { id } } } } } }"""


@dataclass
class Ack:
    job: int
    version: int
    op: str
    pipeline: int
    stage: int
    anchored: bool


@dataclass
class Race:
    pipelines: dict[str, list[str]]  # pipeline -> its stages
    jobs: list[str]
    token: str
    acks: list[Ack]
    refusals: Counter[str]
    unexpected: list[str]
    where: dict[str, str] = field(default_factory=dict)  # each job's pipeline, as last seen
    versions: dict[str, int] = field(default_factory=dict)  # and its version

    async def client(
        self, servers: list[ServerProcess], seed: int, until: float, cap: float
    ) -> None:
        rng = random.Random(seed)
        where, versions = self.where, self.versions
        async with httpx.AsyncClient(timeout=60, limits=KEEPALIVE) as http:
            while (now := time.monotonic()) < until or (len(self.acks) < MIN_ACKS and now < cap):
                job = rng.choice(self.jobs)
                query, request = self._pick(rng, job, where, versions)
                server = servers[rng.randrange(len(servers))]
                response = await http.post(
                    f"{server.url}/graphql",
                    headers=bearer(self.token),
                    json={"query": query, "variables": {"input": request}},
                )
                if response.status_code != 200 or "errors" in response.json():
                    self.unexpected.append(f"{response.status_code} {response.text[:300]}")
                    continue
                op = "moveJob" if query is MOVE else "transferJob"
                payload = response.json()["data"][op]
                if payload["errors"]:
                    code = payload["errors"][0]["code"]
                    self.refusals[code] += 1
                    if code not in EXPECTED_ERRORS:
                        self.unexpected.append(f"{op} {request}: {payload['errors']}")
                    continue
                done = payload["job"]
                where[job], versions[job] = done["pipeline"]["id"], done["version"]
                self.acks.append(
                    Ack(
                        pk(job),
                        done["version"],
                        op,
                        pk(done["pipeline"]["id"]),
                        pk(done["stage"]["id"]),
                        "afterJobId" in request or "beforeJobId" in request,
                    )
                )

    def _pick(
        self, rng: random.Random, job: str, where: dict[str, str], versions: dict[str, int]
    ) -> tuple[str, dict[str, Any]]:
        home = where[job]
        request: dict[str, Any] = {"jobId": job}
        if job in versions and rng.random() < 0.2:
            request["expectedVersion"] = versions[job]
        if rng.random() < 0.35:
            other = next(p for p in self.pipelines if p != home)
            request["pipelineId"] = other
            if rng.random() < 0.5:
                request["stageId"] = rng.choice(self.pipelines[other])
            return TRANSFER, request
        request["stageId"] = rng.choice(self.pipelines[home])
        if rng.random() < 0.3:
            request[rng.choice(["afterJobId", "beforeJobId"])] = rng.choice(
                [j for j in self.jobs if j != job]
            )
        return MOVE, request


def lost_updates(acks: list[Ack]) -> list[str]:
    """Acknowledged changes that share a version: only moves that changed nothing (no anchor,
    already in that stage) may give the version they found."""
    groups: dict[tuple[int, int], list[Ack]] = defaultdict(list)
    for ack in acks:
        groups[(ack.job, ack.version)].append(ack)
    problems = []
    for (job, version), group in groups.items():
        changes = [a for a in group if a.op == "transferJob" or a.anchored]
        places = {(a.pipeline, a.stage) for a in group}
        if len(group) > 1 and (len(changes) > 1 or len(places) > 1):
            problems.append(
                f"job {job} version {version} acknowledged {len(group)} times: "
                f"{[(a.op, a.stage, a.anchored) for a in group]}"
            )
    return problems


def replay(events: list[Any]) -> tuple[dict[int, dict[str, Any]], set[tuple[int, int]], int]:
    """Replay the placing events (JOB_CREATED, JOB_MOVED, JOB_TRANSFERRED_IN) in log order:
    each job's pipeline, stage and rank (when its last placing event records one); the
    (job, version) of every change a client made; how many were renumberings."""
    replayed: dict[int, dict[str, Any]] = {}
    changes: set[tuple[int, int]] = set()
    renumbered = 0
    for event in events:
        if event["type"] not in ("JOB_CREATED", "JOB_MOVED", "JOB_TRANSFERRED_IN"):
            continue
        recorded = json.loads(event["changes"])
        replayed[event["job_id"]] = {
            "pipeline": event["pipeline_id"],
            "stage": event["to_stage_id"],
            "rank": recorded.get("rank"),
        }
        if event["type"] != "JOB_CREATED":
            if recorded.get("renumbered"):
                renumbered += 1
            else:
                changes.add((event["job_id"], event["job_version"]))
    return replayed, changes, renumbered


async def board_order(
    server: ServerProcess, token: str, pipelines: list[str]
) -> dict[str, list[str]]:
    """Each stage's jobs in the order the API shows them."""
    async with httpx.AsyncClient(timeout=30) as http:
        return {
            stage["id"]: [e["node"]["id"] for e in stage["jobs"]["edges"]]
            for p in pipelines
            for stage in (await gql(http, server, token, BOARD, p=p))["pipeline"]["stages"]
        }


async def test_fifty_clients_racing_over_twenty_jobs_lose_no_update(
    postgres_url: str, logs: Path, processes: list[ServerProcess]
) -> None:
    servers = [ServerProcess(logs, DATABASE_URL=postgres_url) for _ in range(2)]
    processes += servers
    await start_all(servers)
    board = await new_board(servers[0], jobs=JOBS)
    async with httpx.AsyncClient(timeout=30) as http:
        other = (await gql(http, servers[0], board.token, PIPELINE, n="Bookkeeping"))[
            "createPipeline"
        ]["pipeline"]
    pipelines = {board.pipeline: board.stages, other["id"]: [s["id"] for s in other["stages"]]}
    race = Race(
        pipelines,
        board.jobs,
        board.token,
        [],
        Counter(),
        [],
        where=dict.fromkeys(board.jobs, board.pipeline),
    )
    started = time.monotonic()
    until, cap = started + SECONDS, started + MAX_SECONDS
    await asyncio.gather(*(race.client(servers, seed, until, cap) for seed in range(CLIENTS)))
    raced = time.monotonic() - started

    pipeline_pks = [pk(p) for p in pipelines]
    events = await fetch(
        postgres_url,
        """SELECT e.job_id, e.job_version, e.type,
        e.pipeline_id, e.to_stage_id, e.changes FROM job_event e
        WHERE e.pipeline_id = ANY($1) AND e.job_id IS NOT NULL ORDER BY e.id""",
        pipeline_pks,
    )
    jobs = {
        r["id"]: r
        for r in await fetch(
            postgres_url, "SELECT id, pipeline_id, stage_id, rank, version FROM job"
        )
    }
    replayed, changes, renumbered = replay(events)
    final = {
        job: {
            "pipeline": row["pipeline_id"],
            "stage": row["stage_id"],
            "rank": row["rank"] if replayed[job]["rank"] is not None else None,
        }
        for job, row in jobs.items()
    }
    acked = {(a.job, a.version) for a in race.acks}
    logged = {(e["job_id"], e["job_version"]) for e in events}
    shown = await board_order(servers[0], board.token, list(pipelines))
    by_rank = {
        stage: [
            str(j)
            for j in sorted(
                (j for j in board.jobs if jobs[pk(j)]["stage_id"] == pk(stage)),
                key=lambda j: jobs[pk(j)]["rank"],
            )
        ]
        for stage in shown
    }
    ops = Counter(a.op for a in race.acks)
    print(
        f"\nconcurrency: {CLIENTS} clients x {SECONDS:.0f} s ({raced:.1f} s with the last "
        f"answers) over {JOBS} jobs: "
        f"{len(race.acks)} acknowledged ({dict(ops)}), refused {dict(race.refusals)}, "
        f"{len(race.unexpected)} unexpected answers; {len(changes)} changes in the log "
        f"(+{renumbered} renumberings), {len(acked)} distinct acknowledged versions (the "
        f"{len(race.acks) - len(acked)} others repeat a version: moves that changed nothing); "
        f"lost updates: {len(lost_updates(race.acks))}; replay matches the board: "
        f"{replayed == final}"
    )
    assert race.unexpected == []
    assert len(race.acks) >= MIN_ACKS
    assert ops["moveJob"] > 0 and ops["transferJob"] > 0
    assert lost_updates(race.acks) == []
    assert acked <= logged, "an acknowledged version is not in the log"
    assert changes <= acked, "a change that nobody was told about"
    assert await board_problems(postgres_url, pipeline_pks) == []
    assert replayed == final
    assert shown == by_rank, "the board is not in rank order"
