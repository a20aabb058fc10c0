"""In-process CPU per moveJob: the app's ASGI callable driven directly (no HTTP client, no
socket), on a scratch PostgreSQL database copied from the migrated test template, or a fresh
migrated SQLite file with --sqlite.
    cd <code> && python -m bench.move_cpu [N] [--sqlite] [--profile out.prof]"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import random
import sys
import time
from typing import Any

from bench.infra import in_process_database

QUERY = (
    "mutation Move($j: ID!, $s: ID!, $a: ID) { moveJob(input: {jobId: $j, stageId: $s,"
    " afterJobId: $a}) { job { id version stage { id } } errors { code message } } }"
)


async def measure(url: str, n: int, migrate: bool, prof_out: str | None) -> None:
    os.environ.setdefault("RATE_LIMIT_COST_PER_MINUTE", "0")
    os.environ.setdefault("FIRM_RATE_LIMIT_COST_PER_MINUTE", "0")
    from models import Stage
    from models.db import close_database, open_database
    from web.app import create_app
    from workflow import clients, jobs, pipelines
    from workflow.firms import create_firm
    from workflow.global_ids import global_id
    from workflow.scope import Scope

    await open_database(url, migrate=migrate, secret_key="x" * 64)
    new = await create_firm("CPU", "o@cpu.test", "Owner")
    scope = Scope(new.firm.id, new.owner.id)
    p = await pipelines.create_pipeline(scope, "P", ["A", "B"])
    stages = list(await Stage.filter(pipeline_id=p.id).order_by("position"))
    c = await clients.create_client(scope, "C", "c@x.test", [])
    cards = [await jobs.create_job(scope, p.id, c.id, f"j{i}") for i in range(40)]
    anchors: dict[int, list[int]] = {s.id: [] for s in stages}
    for card in cards[:20]:
        await jobs.move_job(scope, card.id, stages[1].id)
        anchors[stages[1].id].append(card.id)
    anchors[stages[0].id] = [card.id for card in cards[20:30]]
    movers = {card.id: stages[0].id for card in cards[30:]}
    app = create_app(own_database=False, runner=False)
    auth = f"Bearer {new.token}".encode()
    rng = random.Random(1)

    async def request(body: bytes) -> bytes:
        scope_: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"x"), (b"content-type", b"application/json"),
                        (b"authorization", auth), (b"content-length", str(len(body)).encode())],
        }  # fmt: skip
        sent = False
        out: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await app(scope_, receive, send)
        return b"".join(out)

    def body() -> bytes:
        job = rng.choice(list(movers))
        target = stages[1].id if movers[job] == stages[0].id else stages[0].id
        movers[job] = target
        variables = {
            "j": str(global_id("Job", job)),
            "s": str(global_id("Stage", target)),
            "a": str(global_id("Job", rng.choice(anchors[target]))),
        }
        return json.dumps({"query": QUERY, "variables": variables}).encode()

    try:
        async with app.router.lifespan_context(app):
            for _ in range(30):  # warm the caches
                r = await request(body())
            assert b'"errors":[]' in r, r
            prof = cProfile.Profile(time.process_time) if prof_out else None
            t0, c0, u0 = time.perf_counter(), time.process_time(), os.times()
            if prof:
                prof.enable()
            for _ in range(n):
                r = await request(body())
            if prof:
                prof.disable()
            c1, t1, u1 = time.process_time(), time.perf_counter(), os.times()
            assert b'"errors":[]' in r, r
            print(
                f"{n} moves: CPU {1000 * (c1 - c0) / n:.2f} ms/move,"
                f" (user {1000 * (u1.user - u0.user) / n:.2f}, system"
                f" {1000 * (u1.system - u0.system) / n:.2f}),"
                f" wall {1000 * (t1 - t0) / n:.2f} ms/move"
            )
            if prof and prof_out:
                prof.dump_stats(prof_out)
    finally:
        await close_database()


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    prof_out = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    async with in_process_database("cpu", "--sqlite" in sys.argv) as (url, migrate):
        await measure(url, n, migrate, prof_out)


if __name__ == "__main__":
    asyncio.run(main())
