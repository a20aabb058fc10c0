"""Scenarios 4 and 5, fan-out and memory: N idle websocket subscribers of one board
(graphql-transport-ws), spread over 2 server processes sharing PostgreSQL and Redis, held by
helper processes (bench.subscribers). A client moves a card, waits until every subscriber has
the event, and moves again. Latency: receipt time minus the event's occurredAt (stamped in
the change's transaction, so it slightly overstates commit-to-delivery). Only the moves'
JOB_MOVED deliveries are timed and counted: the servers' own scheduler may record events
meanwhile (JOB_OVERDUE for the seeded jobs past due, as the subscribers connect).

Floor: a raw Redis PUBLISH to as many raw SUBSCRIBE connections, held the same way.
Memory: growth of the two servers' RSS once the N subscriptions are open and idle, over N.

    python -m bench.fanout        (the same as `python -m bench fanout`)
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from typing import Any

from bench.http import GraphQL, payload_errors
from bench.infra import PeakMemory
from bench.report import Row, per_second, table
from bench.suite import Suite, gid
from tests.servers import ROOT, ServerProcess, rss_kb

SUBSCRIPTION = """subscription Board($p: ID!) { boardUpdated(pipelineId: $p) {
  cursor type stageId fromStageId occurredAt job { id title version rank stage { id } } } }"""
MOVE = """mutation Move($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  errors { code message } } }"""
WHERE = "query Where($j: ID!) { job(id: $j) { stage { id } } }"
PER_PROCESS = 2500  # subscribers one helper process holds


class Pool:
    """Helper processes holding subscribers, driven in step."""

    def __init__(self, subscribers: int) -> None:
        self.size = max(1, math.ceil(subscribers / PER_PROCESS))
        self.processes: list[asyncio.subprocess.Process] = []
        self.expected = 0  # events each subscriber should have received since the last report

    async def __aenter__(self) -> Pool:
        for _ in range(self.size):
            self.processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.subscribers",
                    cwd=ROOT,
                    limit=2**28,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        return self

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def ask(
        self, process: asyncio.subprocess.Process, request: dict[str, Any]
    ) -> dict[str, Any]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(request).encode() + b"\n")
        await process.stdin.drain()
        answer: dict[str, Any] = json.loads(await process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"subscriber process: {answer['error']}")
        return answer

    async def everyone(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.ask(p, request) for p in self.processes)))

    async def open(self, count: int, **request: Any) -> None:
        shares = [count // self.size + (n < count % self.size) for n in range(self.size)]
        await asyncio.gather(
            *(
                self.ask(p, {"cmd": "open", "count": share, **request})
                for p, share in zip(self.processes, shares, strict=True)
            )
        )

    async def next_event(self) -> None:
        """Until every subscriber has received one more event."""
        self.expected += 1
        answers = await self.everyone({"cmd": "wait", "events": self.expected, "timeout": 120})
        if any(a.get("timeout") for a in answers):
            raise RuntimeError(f"subscribers timed out waiting for an event: {answers}")

    async def report(self) -> tuple[list[float], list[str], int]:
        """Latencies (ms) and errors since the last report."""
        latencies, errors, error_count, _ = await self.report_all()
        return latencies, errors, error_count

    async def report_all(self) -> tuple[list[float], list[str], int, int]:
        """Latencies (ms), errors, their count, and the deliveries of events not timed."""
        self.expected = 0
        answers = await self.everyone({"cmd": "report"})
        return (
            [v for a in answers for v in a["latencies"]],
            [e for a in answers for e in a["errors"]],
            sum(a["error_count"] for a in answers),
            sum(a.get("untimed", 0) for a in answers),
        )


async def subscribe(pool: Pool, servers: list[ServerProcess], suite: Suite, count: int) -> None:
    await pool.open(
        count,
        kind="ws",
        urls=[s.ws_url for s in servers],
        token=suite.firm.token,
        query=SUBSCRIPTION,
        variables={"p": suite.pipeline},
        timed="JOB_MOVED",
    )


async def moves(server: ServerProcess, suite: Suite, pool: Pool, count: int) -> float:
    """Move a card between the first two stages `count` times, each time once every
    subscriber has the last event; the seconds it took."""
    job = gid("Job", suite.firm.jobs_by_stage[suite.firm.stage_ids[0]][0])
    stages = [gid("Stage", stage) for stage in suite.firm.stage_ids[:2]]
    started = time.perf_counter()
    async with GraphQL(server.url, suite.firm.token) as http:
        _, data = await http.timed(WHERE, j=job)
        at = stages.index(data["job"]["stage"]["id"])
        for _ in range(count):
            at ^= 1
            _, data = await http.timed(MOVE, j=job, s=stages[at])
            assert not payload_errors(data), data
            await pool.next_event()
    return time.perf_counter() - started


async def redis_floor(suite: Suite, subscribers: int, count: int) -> Row:
    async with Pool(subscribers) as pool:
        await pool.open(subscribers, kind="redis", url=suite.redis.url, channel="bench")
        reader, writer = await asyncio.open_connection("127.0.0.1", suite.redis.port)
        started = time.perf_counter()
        for _ in range(count):
            writer.write(f"PUBLISH bench {time.time():.6f}\r\n".encode())
            await reader.readline()
            await pool.next_event()
        seconds = time.perf_counter() - started
        writer.close()
        latencies, _, _ = await pool.report()
    return Row(
        f"floor: Redis PUBLISH to {subscribers:,} subscribers",
        latencies,
        throughput=per_second(subscribers * count, seconds, "deliveries"),
    )


async def count(suite: Suite) -> str:
    """SQL statements per event (the move included), over both processes, as "fixed + per
    subscriber": counted with 10 subscribers, then 40."""
    events = suite.plan.count_requests
    counting = await suite.counting(2)
    server = counting.servers[0]
    per: dict[int, float] = {}
    async with Pool(40) as pool:
        for total, more in ((10, 10), (40, 30)):
            await subscribe(pool, counting.servers, suite, more)
            await moves(server, suite, pool, 1)  # warm-up
            await pool.report()
            await counting.tally.measure_idle(suite.plan.idle_seconds)  # the feeds poll
            counted = await counting.per_request(events, lambda: moves(server, suite, pool, events))
            per[total] = counted.sql
            await pool.report()
    slope = (per[40] - per[10]) / 30
    slope = round(slope, 1) + 0.0  # no "-0.0" from noise
    return f"{per[10] - 10 * slope:.0f} + {slope:.1f}/sub"


def error_notes(errors: list[str], error_count: int, untimed: int = 0) -> str:
    notes = [f"{error_count} errors, e.g. {errors[0][:80]}"] if error_count else []
    if untimed:
        notes.append(f"{untimed:,} deliveries of other events not timed")
    return "; ".join(notes)


async def fan_out(suite: Suite, subscribers: int, events: int, sql: str | None) -> list[Row]:
    """Open `subscribers` on 2 fresh servers: memory rows, and with `sql` the fan-out rows."""
    floor = await redis_floor(suite, subscribers, events) if sql else None
    async with suite.servers(2, f"fanout-{subscribers}") as servers, Pool(subscribers) as pool:
        idle = sum(rss_kb(s.pid) for s in servers)
        started = time.perf_counter()
        await subscribe(pool, servers, suite, subscribers)
        opened = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let the servers settle
        held = sum(rss_kb(s.pid) for s in servers)
        per_subscription = (held - idle) / subscribers
        rows = [
            Row(
                f"idle subscriptions: {subscribers:,} over 2 processes",
                peak_rss_mb=held / 1024,
                notes=f"{per_subscription:.1f} KB per subscription; opened in {opened:.1f} s",
            )
        ]
        if floor is None or sql is None:
            return rows
        async with PeakMemory(s.pid for s in servers) as memory:
            seconds = await moves(servers[0], suite, pool, events)
        latencies, errors, error_count, untimed = await pool.report_all()
    return [
        floor,
        Row(
            f"fan-out to {subscribers:,} subscribers, 2 processes",
            latencies,
            throughput=per_second(len(latencies), seconds, "deliveries"),
            sql=f"{sql} /event",
            peak_rss_mb=memory.peak_mb,
            floor=floor,
            notes=error_notes(errors, error_count, untimed),
        ),
        *rows,
    ]


async def run(suite: Suite) -> list[Row]:
    sql = await count(suite)
    rows = []
    for subscribers, events in suite.plan.fanout:
        rows += await fan_out(suite, subscribers, events, sql)
        print(f"fan-out to {subscribers:,} subscribers:\n{table(rows)}", flush=True)
    return rows


async def run_memory(suite: Suite) -> list[Row]:
    rows = []
    for subscribers, _ in suite.plan.fanout:
        rows += await fan_out(suite, subscribers, 0, None)
    return rows


if __name__ == "__main__":
    from bench.__main__ import main

    main(["fanout", *sys.argv[1:]])
