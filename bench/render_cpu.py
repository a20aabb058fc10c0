"""In-process CPU per live render: `web.live.render` of the fan-out bench's subscription document
(bench.fanout.SUBSCRIPTION) on a JOB_MOVED delivery, by the executor and by the read-path plan,
in alternating rounds, each render with fresh loaders as a delivery has; on a scratch PostgreSQL
database copied from the migrated test template, or a fresh migrated SQLite file with --sqlite.
    cd <code> && python -m bench.render_cpu [N] [--sqlite] [--document TEXT]"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, cast

from bench.fanout import SUBSCRIPTION
from bench.infra import in_process_database


async def measure(url: str, n: int, migrate: bool, document: str) -> None:
    from graphql import parse, validate

    from api import schema
    from models import Stage
    from models.db import close_database, open_database
    from realtime.hub import FeedKey, read_log
    from schema import planned
    from schema.context import Context
    from schema.events import BoardEventType
    from schema.loaders import Loaders
    from schema.shared_events import SharedEventExecutor
    from web.live import Share, render
    from workflow import clients, jobs, pipelines
    from workflow.firms import create_firm
    from workflow.global_ids import global_id
    from workflow.scope import Scope

    await open_database(url, migrate=migrate, secret_key="x" * 64)
    try:
        new = await create_firm("CPU", "o@cpu.test", "Owner")
        scope = Scope(new.firm.id, new.owner.id)
        p = await pipelines.create_pipeline(scope, "P", ["A", "B"])
        stages = list(await Stage.filter(pipeline_id=p.id).order_by("position"))
        c = await clients.create_client(scope, "C", "c@x.test", [])
        card = await jobs.create_job(scope, p.id, c.id, "j")
        await jobs.move_job(scope, card.id, stages[1].id)
        key = FeedKey("pipeline", p.id)
        [*_, delivery] = await read_log(key, 0)
        parsed = parse(document)
        assert validate(schema._schema, parsed) == []  # noqa: SLF001
        context = Context(cast(Any, None), scope, "bench")
        built = SharedEventExecutor.build(
            schema._schema,  # noqa: SLF001
            parsed,
            context_value=context,
            raw_variable_values={"p": str(global_id("Pipeline", p.id))},
        )
        assert not isinstance(built, list), built
        share = Share(("bench",), built, context)
        texts: dict[bool, str] = {}
        cpu: dict[bool, float] = {True: 0.0, False: 0.0}
        rounds, per_round = 10, max(1, n // 10)
        for warm in (True, False):
            for _ in range(1 if warm else rounds):
                for plan in (False, True):
                    answered: list[str] = []
                    planning = planned.PLANNING.set(plan)
                    record = planned.ANSWERED.set(answered)
                    # an event per render: the executor keeps its result on the event
                    events = [BoardEventType.from_delivery(delivery, key) for _ in range(per_round)]
                    c0 = time.process_time()
                    for event in events:
                        texts[plan] = await render(share, event, Loaders(scope))
                    if not warm:
                        cpu[plan] += time.process_time() - c0
                    planned.PLANNING.reset(planning)
                    planned.ANSWERED.reset(record)
                    if plan:
                        assert set(answered) == {"planned"}, "the document is not covered"
        # the same text both ways (the cursor is sealed afresh per event: one event for both)
        event = BoardEventType.from_delivery(delivery, key)
        for plan in (False, True):
            planning = planned.PLANNING.set(plan)
            texts[plan] = await render(share, event, Loaders(scope))
            planned.PLANNING.reset(planning)
        assert texts[True] == texts[False], texts
        done = rounds * per_round
        by = {plan: 1000 * cpu[plan] / done for plan in cpu}
        print(
            f"{done} renders each way: CPU resolvers {by[False]:.3f} ms/render,"
            f" planned {by[True]:.3f} ms/render ({by[False] / by[True]:.1f}x)"
        )
    finally:
        await close_database()


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    document = sys.argv[sys.argv.index("--document") + 1] if "--document" in sys.argv else None
    document = document or SUBSCRIPTION
    async with in_process_database("render", "--sqlite" in sys.argv) as (url, migrate):
        await measure(url, n, migrate, document)


if __name__ == "__main__":
    asyncio.run(main())
