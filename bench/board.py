"""Scenario 1, board load: one pipeline, all its stages, the first 50 jobs of each with their
client, assignees and tasks, over HTTP from a server process; one client, then 10 at once.
Identical loads between two changes are answered from the server's result cache
(schema/result_cache.py); "after a change" times loads that each follow a change (1 client:
a move on the board, a card reordered in its stage; 10 clients: the firm's catalog version
bumped before each load), not timed, so that every one executes the query.

Floor: the same rows by one hand-written SQL statement through asyncpg, shaped into the same
nesting and serialized with orjson, in the benchmark's process (no HTTP, no GraphQL).
Peer: PostGraphile 5 over the same tables, serving the same board (bench/peer.py), if it can
be installed. After a change, the floor, our server and the peer are timed round after round
in turn (same client, same changes), and every answer's job ids per stage are checked to be
the same, in the same order.

    python -m bench.board        (the same as `python -m bench board`)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import orjson

from bench import peer
from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.moves import MOVE
from bench.report import Row, per_second
from bench.sqlcount import PerRequest, Tally
from bench.suite import Suite, gid
from tests.databases import asyncpg_url

PER_STAGE = 50
CLIENTS = (1, 10)  # concurrent clients (the floor: as many connections)
# tasks(first: 10): without it the cost guard (schema/guard.py) counts a default page of 100
# tasks per job, and the board costs more than it allows.
BOARD = """query Board($p: ID!) { pipeline(id: $p) { id name stages { id name
  jobs(first: 50) { totalCount edges { node { id title version rank dueDate client { id name }
    assignees { id name } tasks(first: 10) { edges { node { id title done } } } } } } } } }"""

# Stage pages by the (stage_id, rank) index; children aggregated per job. task.job_id has no
# index, so tasks are one hash join over the task table (the server's loaders do the same).
FLOOR_SQL = """
WITH page AS (
  SELECT j.* FROM stage s CROSS JOIN LATERAL (
    SELECT * FROM job WHERE job.stage_id = s.id AND job.status = 'ACTIVE'
    ORDER BY rank LIMIT $2) j
  WHERE s.pipeline_id = $1),
tasks AS (
  SELECT t.job_id, array_agg((t.id, t.title, t.done) ORDER BY t.id) AS tasks
  FROM task t JOIN page ON page.id = t.job_id GROUP BY t.job_id),
people AS (
  SELECT ja.job_id, array_agg((u.id, u.name) ORDER BY u.id) AS people
  FROM job_assignee ja JOIN page ON page.id = ja.job_id JOIN app_user u ON u.id = ja.user_id
  GROUP BY ja.job_id),
totals AS (
  SELECT stage_id, count(*) AS total FROM job WHERE pipeline_id = $1 AND status = 'ACTIVE'
  GROUP BY stage_id)
SELECT s.id AS stage_id, s.name AS stage_name, totals.total, page.id, page.title, page.version,
  page.rank, page.due_date, c.id AS client_id, c.name AS client_name, tasks.tasks, people.people
FROM stage s LEFT JOIN totals ON totals.stage_id = s.id LEFT JOIN page ON page.stage_id = s.id
LEFT JOIN client c ON c.id = page.client_id LEFT JOIN tasks ON tasks.job_id = page.id
LEFT JOIN people ON people.job_id = page.id
WHERE s.pipeline_id = $1 ORDER BY s.position, page.rank"""


def shape(rows: list[asyncpg.Record]) -> dict[str, Any]:
    """The board's nesting, as the GraphQL answer has it."""
    stages: dict[int, dict[str, Any]] = {}
    for row in rows:
        stage = stages.setdefault(
            row["stage_id"],
            {
                "id": row["stage_id"],
                "name": row["stage_name"],
                "jobs": {"totalCount": row["total"] or 0, "edges": []},
            },
        )
        if row["id"] is None:
            continue
        stage["jobs"]["edges"].append(
            {
                "node": {
                    "id": row["id"],
                    "title": row["title"],
                    "version": row["version"],
                    "rank": row["rank"],
                    "dueDate": row["due_date"],
                    "client": {"id": row["client_id"], "name": row["client_name"]},
                    "assignees": [{"id": p[0], "name": p[1]} for p in row["people"] or ()],
                    "tasks": {
                        "edges": [
                            {"node": {"id": t[0], "title": t[1], "done": t[2]}}
                            for t in row["tasks"] or ()
                        ]
                    },
                }
            }
        )
    return {"pipeline": {"stages": list(stages.values())}}


def check(data: dict[str, Any], suite: Suite) -> None:
    stages = data["pipeline"]["stages"]
    expected = min(PER_STAGE, suite.firm.job_count // len(stages))
    assert all(len(s["jobs"]["edges"]) == expected for s in stages), "board is incomplete"


async def load(url: str, suite: Suite, clients: int, requests: int) -> tuple[list[float], float]:
    """Latencies of `requests` board loads by `clients` concurrent clients, and the seconds
    the lot took."""
    latencies: list[float] = []

    async def client(count: int) -> None:
        async with GraphQL(url, suite.firm.token) as http:
            for _ in range(count):
                elapsed, data = await http.timed(BOARD, p=suite.pipeline)
                check(data, suite)
                latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return latencies, time.perf_counter() - started


@dataclass
class Counts:
    cached: PerRequest  # a load like the one before it
    executed: PerRequest  # a load after a change


async def count(suite: Suite) -> Counts:
    """SQL statements per board load, on a counting server: repeated, and after a change (made
    without a request, so that only the load is counted)."""
    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await http.timed(BOARD, p=suite.pipeline)  # a process's first request loads more

        async def loads(changed: bool) -> None:
            for _ in range(suite.plan.count_requests):
                if changed:
                    await suite.change_catalog()
                await http.timed(BOARD, p=suite.pipeline)

        cached = await counting.per_request(suite.plan.count_requests, lambda: loads(False))
        executed = await counting.per_request(suite.plan.count_requests, lambda: loads(True))
        return Counts(cached, executed)


async def count_peer(suite: Suite) -> str:
    """SQL statements per board load of the peer, on a peer of its own through the counting
    proxy (started and stopped here: the timed one must not go through the proxy)."""
    firm = suite.firm.firm_id
    async with peer.started(suite.counter.url, firm, suite.log_dir, "peer-count") as counting:
        async with GraphQL(counting.url, counting.token) as http:
            await http.timed(peer.BOARD, p=suite.firm.pipeline_id)  # its first plans
            tally = Tally(suite.counter)
            tally.start()
            for _ in range(suite.plan.count_requests):
                await http.timed(peer.BOARD, p=suite.firm.pipeline_id)
            return str(tally.per(suite.plan.count_requests))


async def floor_load(connection: asyncpg.Connection, suite: Suite) -> tuple[float, dict[str, Any]]:
    """One floor load on `connection`: (milliseconds, the shaped board)."""
    started = time.perf_counter()
    rows = await connection.fetch(FLOOR_SQL, suite.firm.pipeline_id, PER_STAGE)
    data = shape(rows)
    orjson.dumps(data)
    return (time.perf_counter() - started) * 1000, data


Load = Callable[[], Awaitable[tuple[float, dict[str, Any]]]]
Ids = list[tuple[int, list[str]]]


def ids_of(side: str, data: dict[str, Any]) -> Ids:
    if side == FLOOR:
        return peer.floor_ids(data)
    return peer.board_ids(data, side == PEER)


FLOOR, OURS, PEER = "floor", "ours", "peer"


@dataclass
class Sides:
    """The boards timed side by side, round after round, in a rotating order (so that none is
    always first after the change): the floor, our server and, if it runs, the peer. A peer
    whose board is not ours is dropped from the rounds with the difference in `mismatch`."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    mismatch: str = ""

    def order(self, loads: dict[str, Any], round_: int) -> list[str]:
        names = list(loads)
        shift = round_ % len(names)
        return names[shift:] + names[:shift]

    def agree(self, answers: dict[str, Ids], loads: dict[str, Any]) -> None:
        """Ours must be the floor's board, the peer's ours (else the peer is dropped)."""
        peer.same_board(answers[FLOOR], answers[OURS], "our server against the floor")
        if PEER in answers:
            try:
                peer.same_board(answers[OURS], answers[PEER], peer.NAME)
            except peer.Mismatch as error:
                self.mismatch = str(error)
                loads.pop(PEER, None)
                self.latencies.pop(PEER, None)

    def row(self, side: str, label: str, clients: int, **extra: Any) -> Row:
        latencies = self.latencies.get(side, [])
        seconds = self.seconds.get(side, 0.0)
        rate = len(latencies) / seconds if clients > 1 and seconds else None
        return Row(
            label,
            latencies,
            throughput=per_second(len(latencies), seconds) if rate else "-",
            rate=rate,
            **extra,
        )


async def after_changes(
    suite: Suite, ours_url: str, served: peer.PeerServer | None, rounds: int
) -> Sides:
    """1 client: each round a move on the board (a card reordered in its stage, not timed),
    then one load of each side, every answer checked against the others."""
    stage = suite.firm.stage_ids[0]
    card, *anchors = suite.firm.jobs_by_stage[stage][:3]
    sides = Sides({FLOOR: [], OURS: []})
    async with AsyncExitStack() as stack:
        pg = await asyncpg.connect(asyncpg_url(suite.database_url))
        stack.push_async_callback(pg.close)
        ours = await stack.enter_async_context(GraphQL(ours_url, suite.firm.token))
        loads: dict[str, Load] = {
            FLOOR: lambda: floor_load(pg, suite),
            OURS: lambda: ours.timed(BOARD, p=suite.pipeline),
        }
        if served is not None:
            theirs = await stack.enter_async_context(GraphQL(served.url, served.token))
            loads[PEER] = lambda: theirs.timed(peer.BOARD, p=suite.firm.pipeline_id)
            sides.latencies[PEER] = []
        for n in range(rounds + 1):  # round 0: warm-up
            await ours.timed(
                MOVE, j=gid("Job", card), s=gid("Stage", stage), a=gid("Job", anchors[n % 2])
            )
            answers = {}
            for side in sides.order(loads, n):
                elapsed, data = await loads[side]()
                answers[side] = ids_of(side, data)
                if n:
                    sides.latencies[side].append(elapsed)
            sides.agree(answers, loads)
    return sides


async def after_changes_concurrent(
    suite: Suite, ours_url: str, served: peer.PeerServer | None, clients: int, rounds: int
) -> Sides:
    """`clients` at once: each round, each side in turn gets `clients` concurrent clients that
    each make LOADS_PER_CLIENT loads, every load after a change to the firm (the catalog
    version bumped on the client's own connection, not timed, for every side alike: our
    server's result cache misses, while at most the loads that coincide share one execution).
    Throughput: the side's loads over the wall time of its batches."""
    sides = Sides({FLOOR: [], OURS: []}, {FLOOR: 0.0, OURS: 0.0})
    url = asyncpg_url(suite.database_url)
    async with AsyncExitStack() as stack:

        async def connection() -> asyncpg.Connection:
            connected = await asyncpg.connect(url)
            stack.push_async_callback(connected.close)
            return connected

        async def http(base: str, token: str) -> GraphQL:
            return await stack.enter_async_context(GraphQL(base, token))

        bumps = [await connection() for _ in range(clients)]
        floors = [await connection() for _ in range(clients)]
        ours = [await http(ours_url, suite.firm.token) for _ in range(clients)]
        loads: dict[str, list[Load]] = {
            FLOOR: [partial(floor_load, c, suite) for c in floors],
            OURS: [partial(h.timed, BOARD, p=suite.pipeline) for h in ours],
        }
        if served is not None:
            theirs = [await http(served.url, served.token) for _ in range(clients)]
            loads[PEER] = [partial(h.timed, peer.BOARD, p=suite.firm.pipeline_id) for h in theirs]
            sides.latencies[PEER], sides.seconds[PEER] = [], 0.0
        firm = suite.firm.firm_id

        async def batch(side: str, timed: bool) -> list[Ids]:
            answers: list[Ids] = []

            async def client(n: int) -> None:
                for _ in range(LOADS_PER_CLIENT):
                    await bumps[n].execute(BUMP, firm)
                    elapsed, data = await loads[side][n]()
                    answers.append(ids_of(side, data))
                    if timed:
                        sides.latencies[side].append(elapsed)

            started = time.perf_counter()
            await asyncio.gather(*(client(n) for n in range(clients)))
            if timed:
                sides.seconds[side] += time.perf_counter() - started
            return answers

        reference: Ids | None = None
        for n in range(rounds + 1):  # round 0: warm-up (pools grow to `clients` connections)
            for side in sides.order(loads, n):
                for answer in await batch(side, timed=n > 0):
                    reference = reference or answer
                    if side == PEER:
                        sides.agree({FLOOR: reference, OURS: reference, PEER: answer}, loads)
                    else:
                        peer.same_board(reference, answer, f"{side} at {clients} clients")
                if side not in loads:  # the peer, dropped
                    break
    return sides


LOADS_PER_CLIENT = 2
BUMP = "UPDATE firm SET catalog_version = catalog_version + 1 WHERE id = $1"


async def run(suite: Suite) -> list[Row]:
    requests = suite.plan.board_requests
    sql = await count(suite)
    skipped: Row | None = None
    peer_sql = "-"
    async with AsyncExitStack() as stack:
        [server] = await stack.enter_async_context(suite.servers(1, "board"))
        memory = await stack.enter_async_context(PeakMemory([server.pid]))
        served: peer.PeerServer | None = None
        try:
            peer_sql = await count_peer(suite)
            served = await stack.enter_async_context(
                peer.started(suite.database_url, suite.firm.firm_id, suite.log_dir)
            )
        except peer.Unavailable as error:
            skipped = Row(f"peer ({peer.NAME}) skipped: {error}")
        peer_memory = await stack.enter_async_context(PeakMemory([served.pid] if served else []))
        await load(server.url, suite, 1, 3)  # warm-up: a process's first requests load more
        changed = [
            await after_changes(suite, server.url, served, requests),
            await after_changes_concurrent(
                suite, server.url, served, CLIENTS[1], max(2, requests // CLIENTS[1])
            ),
        ]
        cached = [await load(server.url, suite, clients, requests) for clients in CLIENTS]
    floors, peers, ours = [], [], []
    for clients, sides in zip(CLIENTS, changed, strict=True):
        plural = "s" * (clients > 1)
        floor = sides.row(
            FLOOR, f"floor: board by 1 SQL statement + orjson, {clients} conn.", clients
        )
        floor.sql = "1"
        floors.append(floor)
        theirs = None
        if served is not None:
            theirs = sides.row(
                PEER, f"peer: {peer.NAME}, after a change, {clients} client{plural}", clients
            )
            theirs.floor, theirs.peak_rss_mb, theirs.sql = floor, peer_memory.peak_mb, peer_sql
            if sides.mismatch:
                theirs.notes = f"FAILED: not our board: {sides.mismatch}"
            peers.append(theirs)
        mine = sides.row(OURS, f"board load after a change, {clients} client{plural}", clients)
        mine.sql, mine.floor, mine.peak_rss_mb = str(sql.executed), floor, memory.peak_mb
        mine.peer = theirs if theirs is not None and theirs.latencies else None
        ours.append(mine)
    loads = []
    for n, (clients, (latencies, seconds)) in enumerate(zip(CLIENTS, cached, strict=True)):
        row = Row(
            f"board load, {clients} client{'s' * (clients > 1)}",
            latencies,
            throughput=per_second(len(latencies), seconds),
            rate=len(latencies) / seconds if clients > 1 else None,
            sql=str(sql.cached),
            peak_rss_mb=memory.peak_mb,
            floor=floors[n],
        )
        row.peer = ours[n].peer
        loads.append(row)
    return [*floors, *loads, *([skipped] if skipped else peers), *ours]


if __name__ == "__main__":
    import sys

    from bench.__main__ import main

    main(["board", *sys.argv[1:]])
