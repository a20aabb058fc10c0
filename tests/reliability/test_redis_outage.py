"""Redis stopped (our private redis-server killed, then a new one on the same port; for 30 s
with RELIABILITY_LONG=1, else 3 s at least and until the outage is noticed and the resumed
subscriber and the moves went on without it) while two server processes take a stream of
moves: every mutation still succeeds, /readyz says the broker is down and then up again, and
a subscriber that resumes from its cursor (its socket dropped during the outage) receives
every event exactly once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.reliability.board import event_seq, new_board
from tests.reliability.infra import (
    LONG,
    MoveStream,
    board_problems,
    exactly_once,
    start_all,
    until,
    watching,
)
from tests.servers import RedisProcess, ServerProcess

# Redis stays down until the outage was noticed, the subscriber resumed, and events and moves
# went through without Redis; and for OUTAGE s at least (the servers retry it meanwhile).
OUTAGE = 30.0 if LONG else 3.0


@dataclass
class Readiness:
    """/readyz of every server, polled until stopped: (seconds, server, status, body)."""

    servers: list[ServerProcess]
    seen: list[tuple[float, int, int, object]] = field(default_factory=list)

    async def poll(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                for n, server in enumerate(self.servers):
                    response = await http.get(f"{server.url}/readyz")
                    self.seen.append((time.monotonic(), n, response.status_code, response.json()))
                await asyncio.sleep(0.2)

    def first(self, status: int, after: float) -> float | None:
        """When every server had first answered `status` since `after`."""
        times = []
        for n in range(len(self.servers)):
            hits = [t for t, s, code, _ in self.seen if s == n and code == status and t >= after]
            if not hits:
                return None
            times.append(min(hits))
        return max(times)


async def test_a_redis_outage_loses_no_mutation_and_no_event(
    postgres_url: str, redis: RedisProcess, logs: Path, processes: list[ServerProcess]
) -> None:
    servers = [
        ServerProcess(logs, DATABASE_URL=postgres_url, REDIS_URL=redis.url) for _ in range(2)
    ]
    processes += servers
    await start_all(servers)
    board = await new_board(servers[0], jobs=4)
    start = await event_seq(postgres_url, board.pipeline_pk)
    readiness, stop_polling = Readiness(servers), asyncio.Event()
    poller = asyncio.create_task(readiness.poll(stop_polling))
    async with watching(servers, board.token, board.pipeline, board.pipeline_pk, start) as watch:
        stream = MoveStream(servers, board.token, board.jobs, board.stages).start()
        await until(lambda: len(stream.acknowledged()) >= 20, within=30)
        redis.stop()
        down = time.monotonic()
        await until(lambda: readiness.first(503, down) is not None, within=10)
        await watch.drop()  # the subscriber leaves mid-outage and resumes from its cursor
        dropped = time.monotonic()
        # the outage lasts until the resumed subscriber got events and moves kept succeeding
        await until(
            lambda: (
                sum(e["receivedAt"] > dropped for e in watch.events) >= 20
                and sum(a.ok and a.sent >= dropped for a in stream.answers) >= 20
            ),
            within=30,
        )
        await asyncio.sleep(max(0.0, down + OUTAGE - time.monotonic()))
        during = [a for a in stream.answers if a.sent >= down]
        redis.start()  # a new redis-server on the same port, empty
        up = time.monotonic()
        await until(lambda: readiness.first(200, up) is not None, within=20)
        recovered_at = len(stream.answers)
        await until(lambda: sum(a.ok for a in stream.answers[recovered_at:]) >= 20, within=30)
        await stream.stop()
        final = await event_seq(postgres_url, board.pipeline_pk)
        await watch.wait_for_seq(final)
        await asyncio.sleep(1.5)  # any duplicate would arrive by now
    stop_polling.set()
    await poller
    noticed, recovered = readiness.first(503, down), readiness.first(200, up)
    down_bodies = {repr(body) for t, _, code, body in readiness.seen if code == 503}
    failed = [a for a in stream.answers if not a.ok]
    acked = stream.acknowledged()
    seen, duplicates, missing = exactly_once(watch.seqs, start + 1, final)
    answered = {
        (a.job, a.body["data"]["moveJob"]["job"]["version"]): a.sent + a.took for a in acked
    }
    delays = [
        e["receivedAt"] - answered[(e["job"]["id"], e["job"]["version"])]
        for e in watch.events
        if (e["job"]["id"], e["job"]["version"]) in answered
        and down <= answered[(e["job"]["id"], e["job"]["version"])] <= up
    ]
    print(
        f"\nredis: {len(acked)} moves acknowledged ({len([a for a in during if a.ok])} "
        f"while Redis was down {up - down:.1f} s), {len(failed)} failed; /readyz 503 after "
        f"{(noticed or 0) - down:.1f} s {sorted(down_bodies)}, 200 again "
        f"{(recovered or 0) - up:.1f} s after restart; subscriber: {seen} events of "
        f"{final - start}, {duplicates} duplicates, {missing} missing, "
        f"{watch.connections} connections; while down, events reached it "
        f"{max(delays, default=0):.1f} s after the move at most (polling)"
    )
    assert failed == []
    assert len(during) > 10
    assert noticed is not None and noticed - down < 5
    assert down_bodies == {repr({"database": "ok", "broker": "down"})}
    assert recovered is not None and recovered - up < 10
    assert watch.errors == []
    assert (seen, duplicates, missing) == (final - start, 0, 0)
    assert seen == len(acked)  # each acknowledged move is one event; nothing else happened
    assert await board_problems(postgres_url, [board.pipeline_pk]) == []
