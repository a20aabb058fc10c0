"""What `python server.py` logs at start (issue 13): what it serves, where, on which database
and broker (passwords hidden), whether the automations run here, how many serving processes;
and none of Tortoise's "shutdown" lines from the short-lived openings (migrations). Real
server processes; their log is what an operator reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers import RedisProcess, ServerProcess

pytestmark = pytest.mark.slow  # every test here starts server processes


def started_log(server: ServerProcess) -> list[str]:
    """The log's messages (timestamps and levels cut) once the server is up."""
    server.start()
    try:
        text = server.log.read_text()
    finally:
        server.stop()
    return [line.split(" INFO workflow ", 1)[-1] for line in text.splitlines()]


def test_the_default_server_says_what_it_serves_and_where(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, DATABASE_URL=f"sqlite://{tmp_path / 'db.sqlite3'}")
    server.env.pop("REDIS_URL", None)
    lines = started_log(server)
    base = f"http://127.0.0.1:{server.port}"
    for expected in [
        f"serving GraphQL at {base}/graphql (HTTP and websockets); open that address in a "
        "browser for GraphiQL",
        f"board page: {base}/board",
        f"database: sqlite://{tmp_path / 'db.sqlite3'}",
        "broker: in-process (no REDIS_URL: live updates reach this process's subscribers only)",
        "automations runner and webhook sender: in this server",
        "serving processes: 1",
    ]:
        assert expected in lines, "\n".join(lines)
    assert not [line for line in lines if "Tortoise-ORM" in line], "\n".join(lines)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_passwords_never_reach_the_startup_log(database_url: str, tmp_path: Path) -> None:
    """PostgreSQL (trust auth ignores the password), a private Redis that requires one, and an
    SMTP server's (never connected to: no mailer runs here)."""
    redis = RedisProcess().start()
    try:
        subprocess.run(
            ["redis-cli", "-p", str(redis.port), "CONFIG", "SET", "requirepass", "redis-pw-7x"],
            check=True,
            capture_output=True,
            timeout=10,
        )
        database = database_url.replace("postgres@", "postgres:pg-pw-7x@", 1)
        assert "pg-pw-7x" in database
        server = ServerProcess(
            tmp_path,
            "--no-runner",
            "--workers",
            "2",
            DATABASE_URL=database,
            REDIS_URL=f"redis://:redis-pw-7x@127.0.0.1:{redis.port}/0",
            SMTP_URL="smtp://mailer:smtp-pw-7x@127.0.0.1:2525?starttls=true",
        )
        lines = started_log(server)
    finally:
        redis.stop()
    text = "\n".join(lines)
    for expected in [
        f"database: {database.replace('pg-pw-7x', '***')}",
        f"broker: Redis redis://:***@127.0.0.1:{redis.port}/0",
        "automations runner and webhook sender: not here (--no-runner): run `python server.py "
        "worker` processes",
        "serving processes: 2",
        "mail: smtp 127.0.0.1:2525 (STARTTLS), from Workflow <no-reply@localhost>, sent by the "
        "`python server.py worker` processes",
    ]:
        assert expected in lines, text
    assert "pw-7x" not in text
    assert "Tortoise-ORM" not in text


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # several workers
def test_every_serving_process_logs_its_requests(database_url: str, tmp_path: Path) -> None:
    """With --workers, uvicorn spawns the serving processes: their request lines are logged too
    (the command line's logging set-up does not reach them)."""
    server = ServerProcess(tmp_path, "--no-runner", "--workers", "2", DATABASE_URL=database_url)
    server.start()
    try:
        for _ in range(4):  # whichever process each request reaches
            answer = httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"})
            assert answer.status_code == 401  # no token: still a request, logged
        lines = server.log_lines("POST /graphql status=401", count=4)
    finally:
        server.stop()
    assert len(lines) == 4, lines
    assert "Tortoise-ORM" not in server.log.read_text()
