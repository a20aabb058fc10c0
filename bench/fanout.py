"""Fan-out: commit-to-delivery latency of moveJob events to 1, 100 and 1,000 websocket
subscribers spread over 2 server processes sharing PostgreSQL and Redis, beside a raw Redis
pub/sub round trip measured in the same run; and the servers' memory per idle subscription.

    python -m bench.fanout --database postgres://postgres@127.0.0.1:5432/test
    python -m bench.fanout --subscribers 1 100 1000 --moves 20

Latency is the time a subscriber receives an event minus the event's occurredAt (taken in the
change's transaction, so this slightly overstates commit-to-delivery). The subscribers live in
this one client process, which adds its own receiving time at high counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import redis.asyncio as redis
import websockets

from tests.live import TRANSPORT_WS, make_board
from tests.servers import RedisProcess, ServerProcess, graphql

SUBSCRIPTION = """subscription($p: ID!) { boardUpdated(pipelineId: $p) { cursor occurredAt } }"""
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  errors { code } } }"""


def rss_kb(server: ServerProcess) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def redis_round_trips(url: str, count: int = 200) -> list[float]:
    """Milliseconds from PUBLISH to the subscriber's receipt, raw redis-py."""
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("bench")
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        await client.publish("bench", "x")
        while await pubsub.get_message(timeout=1) is None:
            pass
        timings.append((time.perf_counter() - started) * 1000)
    await pubsub.aclose()
    await client.aclose()
    return timings


async def subscribe(server: ServerProcess, token: str, pipeline: str,
                    arrivals: asyncio.Queue[float]) -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url, subprotocols=[TRANSPORT_WS])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {token}"}}))
    await ws.recv()
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": SUBSCRIPTION, "variables": {"p": pipeline}}}))

    async def read() -> None:
        async for raw in ws:
            received = time.time()
            occurred = json.loads(raw)["payload"]["data"]["boardUpdated"]["occurredAt"]
            arrivals.put_nowait((received - datetime.fromisoformat(occurred).timestamp()) * 1000)

    ws.reader = asyncio.create_task(read())  # type: ignore[attr-defined]
    return ws


async def run(database_url: str, counts: list[int], moves: int, log_dir: Path) -> None:
    private_redis = RedisProcess().start()
    servers = [ServerProcess(log_dir, DATABASE_URL=database_url, REDIS_URL=private_redis.url,
                             SUBSCRIPTION_QUEUE_SIZE="1000").start() for _ in range(2)]
    try:
        board = make_board(servers[0], jobs=2)
        floor = percentiles(await redis_round_trips(private_redis.url))
        print(f"{'floor: raw Redis pub/sub round trip':<44} p50 {floor[0]:7.2f} ms"
              f"   p99 {floor[1]:7.2f} ms")
        for count in counts:
            arrivals: asyncio.Queue[float] = asyncio.Queue()
            idle = [rss_kb(s) for s in servers]
            sockets = [await subscribe(servers[n % 2], board.token, board.pipeline, arrivals)
                       for n in range(count)]
            await asyncio.sleep(1.0)
            per_subscription = (sum(rss_kb(s) for s in servers) - sum(idle)) / count
            latencies: list[float] = []
            for n in range(moves):
                await asyncio.to_thread(graphql, servers[0], board.token, MOVE,
                                        j=board.jobs[n % 2], s=board.stages[1 + (n // 2) % 2])
                for _ in range(count):
                    latencies.append(await asyncio.wait_for(arrivals.get(), 30))
            p50, p99 = percentiles(latencies)
            print(f"{count:>5} subscribers over 2 processes{'':<11} p50 {p50:7.2f} ms"
                  f"   p99 {p99:7.2f} ms   ratio p50 {p50 / floor[0]:6.1f}x"
                  f"   memory {per_subscription:5.1f} KB/subscription")
            for ws in sockets:
                ws.reader.cancel()  # type: ignore[attr-defined]
                await ws.close()
            await asyncio.sleep(0.5)
    finally:
        for server in servers:
            server.stop()
        private_redis.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    admin_url = args.database.replace("postgres://", "postgresql://", 1)
    scratch = f"wf_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{scratch}"')
    await admin.close()
    try:
        with tempfile.TemporaryDirectory() as log_dir:
            await run(args.database.rsplit("/", 1)[0] + f"/{scratch}", args.subscribers,
                      args.moves, Path(log_dir))
    finally:
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
