"""The processes a run needs, as the bench sets them up (the launchers themselves are the test
suite's: tests.servers, tests.databases), py-spy beside them, and their memory as the kernel
sees it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from tests.servers import RedisProcess, ServerProcess, rss_kb

# Rate limits would throttle a benchmark's clients; 0 turns them off.
# The bench's own deployment key, so that it can spell the ids its servers answer (models.keys).
BENCH_SECRET_KEY = "bench-secret-key-" + "0" * 32
SERVER_ENV = {
    "RATE_LIMIT_COST_PER_MINUTE": "0",
    "FIRM_RATE_LIMIT_COST_PER_MINUTE": "0",
    "SECRET_KEY": BENCH_SECRET_KEY,
    # 10,000 subscribers of one token: no cap on connections, sockets, starts.
    "MAX_CONNECTIONS": "0",
    "MAX_SOCKETS_PER_TOKEN": "0",
    "MAX_SOCKETS_PER_FIRM": "0",
    "SUBSCRIPTION_STARTS_PER_10S": "0",
    "FIRM_SUBSCRIPTION_STARTS_PER_10S": "0",
}


def server(log_dir: Path, database_url: str, redis_url: str, *args: str) -> ServerProcess:
    """A bench server (not started): rate limits and caps off, a deep subscription queue."""
    return ServerProcess(
        log_dir,
        *args,
        **SERVER_ENV,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # 10,000 subscribers of one board must not be cut off while the server is still
        # sending them the previous events.
        SUBSCRIPTION_QUEUE_SIZE="1000",
    )


def private_redis() -> RedisProcess:
    """A private Redis (not started). maxclients: the fan-out floor opens one raw subscriber
    per websocket subscriber."""
    return RedisProcess("--maxclients", "20000")


@asynccontextmanager
async def servers(
    log_dir: Path,
    database_url: str,
    redis_url: str,
    count: int,
    *args: str,
    profile: Path | None = None,
) -> AsyncIterator[list[ServerProcess]]:
    """`count` server processes, started side by side and stopped at the end. With `profile`
    (a file name stem), each is sampled by py-spy into `<profile>-<n>.txt` (raw format: see
    bench.profile)."""
    started = [server(log_dir, database_url, redis_url, *args) for _ in range(count)]
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for process in started:
            process.launch()
        await asyncio.gather(*(process.ready() for process in started))
        if profile is not None:
            spies = [
                spy(process.pid, profile.with_name(f"{profile.name}-{n}.txt"))
                for n, process in enumerate(started)
            ]
        yield started
    finally:
        for process in started:
            process.stop()
        for process in spies:  # py-spy writes its file once the server has exited
            process.wait(timeout=60)


def spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("py-spy")
    if binary is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class PeakMemory:
    """Samples the summed RSS of some processes in the background; `peak_mb` is the largest."""

    def __init__(self, pids: Iterable[int], interval: float = 0.05) -> None:
        self.pids, self.interval = list(pids), interval
        self.peak_kb = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakMemory:
        self.sample()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.sample()

    def sample(self) -> None:
        self.peak_kb = max(self.peak_kb, sum(rss_kb(pid) for pid in self.pids))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


@asynccontextmanager
async def in_process_database(kind: str, sqlite: bool) -> AsyncIterator[tuple[str, bool]]:
    """A database for a bench that drives the app in process, and whether it needs migrating:
    a fresh SQLite file, or a copy of the PostgreSQL schema the tests make for this code's
    migrations (tests.databases)."""
    if sqlite:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite://{folder}/{kind}.sqlite3", True
        return
    from tests.databases import create_migrated_database, drop_database
    from tests.servers import migrate_in_a_process

    url = await create_migrated_database(kind, migrate_in_a_process)
    try:
        yield url, False
    finally:
        await drop_database(url)
