"""In-process: the board document (bench.board.BOARD, 500 jobs with their client, assignees and
tasks) answered by the resolvers and by its plan (schema.planned), every load executing (the
result cache emptied before each), through the app's ASGI stack in this process (no socket, no
server process), interleaved with the floor (bench.board's one statement + orjson). What the
GraphQL layer itself costs on each path: wall time, and this process's CPU time (the
database's work excluded: the measure that a loaded machine disturbs least).

    python -m bench.planned [--requests 30] [--database postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import orjson

from bench.board import BOARD, FLOOR_SQL, PER_STAGE, shape
from bench.infra import SERVER_ENV
from bench.seed import Sizes, seed
from bench.suite import gid
from models.db import close_database, open_database
from schema import planned
from schema.result_cache import STORE
from tests.databases import ADMIN_URL, asyncpg_url, scratch_database


async def _timed(work: Callable[[], Awaitable[object]], requests: int) -> list[tuple[float, float]]:
    """(wall, CPU of this process) milliseconds of each run of `work`."""
    await work()  # warm: plans, caches
    times = []
    for _ in range(requests):
        started, cpu = time.perf_counter(), time.process_time()
        await work()
        times.append(((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000))
    return times


async def run(database: str, requests: int) -> None:
    os.environ.update(SERVER_ENV)
    from web.app import create_app  # reads the settings just set

    async with scratch_database("bench", database) as url:
        firm = await seed(url, Sizes())
        await open_database(url, migrate=False, secret_key=SERVER_ENV["SECRET_KEY"])
        pg = await asyncpg.connect(asyncpg_url(url))
        pipeline = gid("Pipeline", firm.pipeline_id)  # once: gid loads the key again
        transport = httpx.ASGITransport(app=create_app(own_database=False, runner=False))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

                async def board(plan: bool) -> None:
                    STORE.clear()
                    token = planned.PLANNING.set(plan)
                    try:
                        response = await http.post(
                            "/graphql",
                            content=orjson.dumps(
                                {
                                    "query": BOARD,
                                    "variables": {"p": pipeline},
                                }
                            ),
                            headers={
                                "Authorization": f"Bearer {firm.token}",
                                "Content-Type": "application/json",
                            },
                        )
                    finally:
                        planned.PLANNING.reset(token)
                    stages = orjson.loads(response.content)["data"]["pipeline"]["stages"]
                    assert sum(len(s["jobs"]["edges"]) for s in stages) == PER_STAGE * len(stages)

                async def floor() -> None:
                    rows = await pg.fetch(FLOOR_SQL, firm.pipeline_id, PER_STAGE)
                    orjson.dumps(shape(rows))

                results: dict[str, list[tuple[float, float]]] = {
                    "floor": [],
                    "resolvers": [],
                    "planned": [],
                }
                for _ in range(3):  # interleaved rounds: the machine's load hits all three
                    results["floor"] += await _timed(floor, requests // 3)
                    results["resolvers"] += await _timed(lambda: board(False), requests // 3)
                    results["planned"] += await _timed(lambda: board(True), requests // 3)
        finally:
            await pg.close()
            await close_database()
    base = statistics.median(wall for wall, _ in results["floor"])
    base_cpu = statistics.median(cpu for _, cpu in results["floor"])
    for name, times in results.items():
        p50 = statistics.median(wall for wall, _ in times)
        cpu = statistics.median(cpu for _, cpu in times)
        print(
            f"{name:>10}: p50 {p50:7.1f} ms (x{p50 / base:.2f} floor), min "
            f"{min(wall for wall, _ in times):7.1f} ms; CPU here p50 {cpu:6.1f} ms "
            f"(x{cpu / base_cpu:.2f} floor's)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--database", default=ADMIN_URL)
    args = parser.parse_args()
    asyncio.run(run(args.database, args.requests))


if __name__ == "__main__":
    main()
