"""The processes a run needs: a scratch database, a private Redis, `python server.py` servers,
and their memory as the kernel sees it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@asynccontextmanager
async def scratch_database(admin_url: str) -> AsyncIterator[str]:
    """A new database beside the one named (same server and user), dropped at the end."""
    name = f"wf_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class Redis:
    """A private redis-server, so the run neither sees nor disturbs anyone else's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        # maxclients: the fan-out floor opens one raw subscriber per websocket subscriber.
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "20000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Server:
    """`python server.py` on a free port; its output goes to a log file."""

    def __init__(self, log_dir: Path, database_url: str, redis_url: str, *args: str) -> None:
        self.port = free_port()
        self.args = args
        self.env = {
            **os.environ,
            **SERVER_ENV,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            # 10,000 subscribers of one board must not be cut off while the server is
            # still sending them the previous events.
            "SUBSCRIPTION_QUEUE_SIZE": "1000",
        }
        self.log = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def launch(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "server.py", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{self.log.read_text()[-3000:]}")
                try:
                    if (await http.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@asynccontextmanager
async def servers(
    log_dir: Path,
    database_url: str,
    redis_url: str,
    count: int,
    *args: str,
    profile: Path | None = None,
) -> AsyncIterator[list[Server]]:
    """`count` server processes, started side by side and stopped at the end. With `profile`
    (a file name stem), each is sampled by py-spy into `<profile>-<n>.txt` (raw format: see
    bench.profile)."""
    started = [Server(log_dir, database_url, redis_url, *args) for _ in range(count)]
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for server in started:
            server.launch()
        await asyncio.gather(*(server.ready() for server in started))
        if profile is not None:
            spies = [
                spy(server.pid, profile.with_name(f"{profile.name}-{n}.txt"))
                for n, server in enumerate(started)
            ]
        yield started
    finally:
        for server in started:
            server.stop()
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


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


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
