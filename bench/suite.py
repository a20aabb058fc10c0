"""What every scenario shares: the seeded firm, the private Redis, the run's sizes, and the
servers that count SQL statements (behind the proxy of bench.sqlcount)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.infra import BENCH_SECRET_KEY, servers
from bench.seed import Firm, Sizes
from bench.sqlcount import PerRequest, StatementCounter, Tally
from models import keys
from tests.databases import asyncpg_url
from tests.servers import RedisProcess, ServerProcess
from workflow.global_ids import global_id


@dataclass(frozen=True)
class Plan:
    """How much each scenario does; `--quick` shrinks all of it."""

    sizes: Sizes
    board_requests: int
    export_runs: int
    move_seconds: float
    concurrency: tuple[int, ...]
    fanout: tuple[tuple[int, int], ...]  # (subscribers, events sent to them)
    count_requests: int  # requests whose statements are counted, on the counting server
    idle_seconds: float  # how long the counting servers' background polling is measured
    emails: int  # queued for the mailer, per run of bench.mail
    portal_requests: int  # page loads per row of bench.portal
    portal_neighbours: int  # other clients of the portal firm, each with as many jobs
    bulk_rounds: int  # rounds of bench.bulk: one bulk call and 100 single moves each
    big_export_jobs: int  # the pipeline bench.start_export seeds and exports


FULL = Plan(
    Sizes(),
    board_requests=40,
    export_runs=3,
    move_seconds=6.0,
    concurrency=(1, 10, 50),
    fanout=((1000, 20), (10000, 5)),
    count_requests=10,
    idle_seconds=3.0,
    emails=2000,
    portal_requests=300,
    portal_neighbours=4,
    bulk_rounds=10,
    big_export_jobs=100_000,
)
QUICK = Plan(
    Sizes(jobs=300, other_jobs=20, clients=100, staff=10),
    board_requests=10,
    export_runs=2,
    move_seconds=0.4,
    concurrency=(1, 10, 50),
    fanout=((50, 3),),
    count_requests=2,
    idle_seconds=1.0,
    emails=200,
    portal_requests=40,
    portal_neighbours=1,
    bulk_rounds=3,
    big_export_jobs=5_000,
)


def gid(type_name: str, pk: int) -> str:
    """A global id as the bench's servers spell it (they share its key)."""
    keys.use_master_key(BENCH_SECRET_KEY.encode())
    return global_id(type_name, pk)


@dataclass
class Counting:
    """Servers whose SQL goes through the counting proxy."""

    servers: list[ServerProcess]
    tally: Tally

    async def per_request(self, requests: int, work: Callable[[], Awaitable[object]]) -> PerRequest:
        """SQL statements per request while `work` makes `requests` requests, less the
        servers' background polling (measured while they were idle)."""
        self.tally.start()
        await work()
        return self.tally.per(requests)


@dataclass
class Suite:
    plan: Plan
    database_url: str
    redis: RedisProcess
    firm: Firm
    log_dir: Path
    counter: StatementCounter
    profile_dir: Path | None = None  # where py-spy profiles of the timed servers go
    exits: AsyncExitStack = field(default_factory=AsyncExitStack)  # closed by the caller
    _quiet: list[ServerProcess] = field(default_factory=list)

    @property
    def pipeline(self) -> str:
        return gid("Pipeline", self.firm.pipeline_id)

    def servers(
        self,
        count: int,
        label: str,
        *args: str,
        database_url: str | None = None,
        redis_url: str | None = None,
    ) -> AbstractAsyncContextManager[list[ServerProcess]]:
        """`count` new servers: each scenario measures its own processes' memory from their
        start. `label` names their profiles; `args`: more of their command line; by default
        on the suite's database and Redis (an empty `redis_url`: none, the in-process broker)."""
        profile = self.profile_dir / label if self.profile_dir else None
        return servers(
            self.log_dir,
            database_url or self.database_url,
            self.redis.url if redis_url is None else redis_url,
            count,
            *args,
            profile=profile,
        )

    async def change_catalog(self) -> None:
        """Bump the firm's catalog version, as any change to its clients or people does: the
        servers' cached query results are stale from then on, at the cost of no request."""
        connection = await asyncpg.connect(asyncpg_url(self.database_url))
        try:
            await connection.execute(
                "UPDATE firm SET catalog_version = catalog_version + 1 WHERE id = $1",
                self.firm.firm_id,
            )
        finally:
            await connection.close()

    async def counting(self, count: int = 1) -> Counting:
        """Counting servers without runner (nor webhook sender): silent when idle, so their
        counts are exact, and no part of the timed runs. Started once, kept to the end."""
        if len(self._quiet) < count:
            self._quiet += await self.exits.enter_async_context(
                servers(
                    self.log_dir,
                    self.counter.url,
                    self.redis.url,
                    count - len(self._quiet),
                    "--no-runner",
                )
            )
        return Counting(self._quiet[:count], Tally(self.counter))

    @asynccontextmanager
    async def counting_with_runner(self) -> AsyncIterator[Counting]:
        """A counting server that runs automations, for as long as the block lasts (its
        runner must take no part in the timed runs); its idle polling is measured first."""
        async with servers(self.log_dir, self.counter.url, self.redis.url, 1) as started:
            tally = Tally(self.counter)
            await tally.measure_idle(self.plan.idle_seconds)
            yield Counting(started, tally)
