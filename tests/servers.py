"""Real processes for full-stack tests and the benchmark: `python server.py`, a private Redis
and a private PostgreSQL cluster, each on a free loopback port and stopped by whoever started
it. (Scratch databases on the shared PostgreSQL: tests.databases.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from workflow import clock as workflow_clock

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerClock:
    """The clock of server processes a test started (workflow.clock, TEST_CLOCK_FILE): they
    take its instant for now, standing still until the test sets or advances it, so dated
    work falls due when the test says, with no waiting. Only forward: leases and backoffs
    taken at a later time would otherwise hold their rows for the difference."""

    def __init__(self, path: Path, at: datetime) -> None:
        self.path = path
        self._at = at
        workflow_clock.set_file(path, at)

    @property
    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> datetime:
        """Every process following this clock takes `at` for now from its next reading."""
        assert at >= self._at, f"the clock only goes forward ({self._at} -> {at})"
        workflow_clock.set_file(self.path, at)
        self._at = at
        return at

    def advance(self, by: timedelta) -> datetime:
        return self.set(self._at + by)


class ServerProcess:
    """`python server.py` on a free port; `log` holds what it printed. `with_clock` before
    it starts: its dated work follows a ServerClock that the test moves."""

    def __init__(self, log_dir: Path, *args: str, **env: str) -> None:
        self.args = args  # e.g. "--no-runner", or "worker" (which serves nothing)
        self.port = free_port()
        self.log_dir = log_dir
        self.clock: ServerClock | None = None
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            # emails (no SMTP_URL: .eml files) beside the log, not in the working tree
            "MAIL_DIR": str(log_dir / f"outbox-{self.port}"),
            "EXPORT_DIR": str(log_dir / f"exports-{self.port}"),  # likewise its exports
            "PUBLIC_URL": f"http://127.0.0.1:{self.port}",  # the links its emails hold
            **env,
        }
        self.log = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox(self) -> Path:
        """Where it writes its emails (.eml files) when it has no SMTP_URL."""
        return Path(self.env["MAIL_DIR"])

    def with_clock(self, clock: ServerClock | datetime) -> ServerProcess:
        """Follow `clock` (shared with other processes), or a clock of its own set at this
        datetime, from its start."""
        if isinstance(clock, datetime):
            clock = ServerClock(self.log_dir / f"clock-{self.port}", clock)
        self.clock = clock
        self.env["TEST_CLOCK_FILE"] = str(clock.path)
        return self

    def set_clock(self, at: datetime) -> datetime:
        """Set its clock (and that of every process sharing it)."""
        assert self.clock is not None, "started without a clock (with_clock)"
        return self.clock.set(at)

    def advance_clock(self, by: timedelta) -> datetime:
        assert self.clock is not None, "started without a clock (with_clock)"
        return self.clock.advance(by)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to serve."""
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "server.py", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        return self

    def _serving(self, deadline: float) -> bool:
        """Whether it answers /healthz yet; fails if it exited or the deadline passed."""
        assert self.process is not None
        assert self.process.poll() is None, "the server exited:\n" + self.log.read_text()[-3000:]
        assert time.monotonic() < deadline, "server did not start:\n" + self.log.read_text()[-3000:]
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def start(self) -> ServerProcess:
        """Start it and wait until it serves (a worker serves nothing: not waited for)."""
        self.launch()
        if "worker" not in self.args:
            self.wait_serving()
        return self

    def wait_serving(self, within: float = 60) -> None:
        """Wait until a launched server serves."""
        deadline = time.monotonic() + within
        while not self._serving(deadline):
            time.sleep(0.05)

    def log_lines(self, needle: str, count: int = 1, within: float = 10) -> list[str]:
        """The log's lines holding `needle`, once there are `count`: a request's line is written
        after its response was sent, so the client may see the answer first."""
        deadline = time.monotonic() + within
        while (
            len(lines := [line for line in self.log.read_text().splitlines() if needle in line])
            < count
        ):
            assert time.monotonic() < deadline, (
                f"fewer than {count} {needle!r} in the log:\n" + self.log.read_text()[-3000:]
            )
            time.sleep(0.02)
        return lines

    async def ready(self, within: float = 60) -> None:
        """Wait, without blocking the loop, until a launched server serves."""
        deadline = time.monotonic() + within
        while True:
            if await asyncio.to_thread(self._serving, deadline):
                return
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait for the drain (~1 s; the margin is for a loaded machine, the
        shutdown itself is asserted in tests/reliability/test_shutdown.py); SIGKILL past it."""
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, like a machine losing power."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def send_signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kb(self) -> int:
        """Resident memory in KB (0 once it is gone)."""
        return rss_kb(self.pid)

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python server.py ARGS` with this server's environment, run to its end."""
        return subprocess.run(
            [sys.executable, "server.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def cli(self, *args: str) -> str:
        """What `python server.py ARGS` printed; it must succeed."""
        done = self.command(*args)
        done.check_returncode()
        return done.stdout


async def migrate_in_a_process(url: str) -> None:
    """`python server.py migrate` on `url`, as a server would at start, leaving this process's
    own database connection alone (for the templates of tests.databases)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "server.py", "migrate"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


class RedisProcess:
    """A private redis-server on a free port, so stopping it disturbs nothing else."""

    def __init__(self, *options: str) -> None:
        self.options = options  # more redis-server options, e.g. "--maxclients", "20000"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        """Start it (again, on the same port, after a stop) and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", *self.options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class PostgresProcess:
    """A private PostgreSQL cluster (initdb into a temporary folder, a free port, trust auth),
    so a test may stop and start it without disturbing anyone else. As root, its programs run
    as the `postgres` OS user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wf-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running PostgreSQL as root needs runuser")
            self.as_postgres = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.as_postgres, *args],
            check=True,
            timeout=timeout,
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> PostgresProcess:
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"),
            "--locale=C",
            "--no-sync",
        )
        return self

    def start(self) -> PostgresProcess:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.dir} -c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.logfile), "-o", options),
            *("-w", "-t", "30", "start"),
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"
        )

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")


@dataclass
class Stack:
    """The serving processes of full-stack tests: on SQLite one server with its in-process
    broker; on PostgreSQL two sharing a private Redis. With `workers`, the servers run
    --no-runner and that many `server.py worker` processes do the background work; with
    `clock_at`, every process follows one ServerClock (`clock`) that the test moves."""

    servers: list[ServerProcess]
    redis: RedisProcess | None
    workers: list[ServerProcess] = field(default_factory=list)
    clock: ServerClock | None = None

    @property
    def first(self) -> ServerProcess:
        return self.servers[0]

    @property
    def last(self) -> ServerProcess:
        return self.servers[-1]

    @classmethod
    def start(
        cls,
        database_url: str,
        log_dir: Path,
        *,
        workers: int = 0,
        clock_at: datetime | None = None,
        **env: str,
    ) -> Stack:
        """`env`: more of the processes' environment (SMTP_URL, PUBLIC_URL, ...)."""
        shared = ServerClock(log_dir / "clock", clock_at) if clock_at is not None else None
        args = ("--no-runner",) if workers else ()
        redis = None if database_url.startswith("sqlite") else RedisProcess().start()
        env = {"DATABASE_URL": database_url, **env}
        if redis is not None:
            env["REDIS_URL"] = redis.url
        count = 1 if redis is None else 2
        stack = cls(
            [ServerProcess(log_dir, *args, **env) for _ in range(count)],
            redis,
            [ServerProcess(log_dir, "worker", **env) for _ in range(workers)],
            shared,
        )
        if shared is not None:
            for process in stack.servers + stack.workers:
                process.with_clock(shared)
        try:  # side by side: the database is migrated already, so neither has work to race for
            for server in stack.servers:
                server.launch()
            for server in stack.servers:
                server.wait_serving()
            for worker in stack.workers:  # after the servers' migrations
                worker.launch()
        except BaseException:
            stack.stop()
            raise
        return stack

    def stop(self) -> None:
        for server in self.workers + self.servers:
            server.stop()
        if self.redis:
            self.redis.stop()


def post_graphql(url: str, token: str, query: str, /, **variables: Any) -> dict[str, Any]:
    """The whole answer (data and errors) of a GraphQL request to the server at `url`."""
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def graphql(server: ServerProcess, token: str, query: str, /, **variables: Any) -> dict[str, Any]:
    """The data of a GraphQL request that must raise no error."""
    body = post_graphql(server.url, token, query, **variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data
