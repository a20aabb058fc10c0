"""`python server.py demo` seeds the demo firm once (issue 13): run again, it seeds nothing,
says on stderr which firm it found, and prints a new token of that firm's owner in the same
JSON. Real processes: the commands against the SQLite file a real server serves."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess, graphql

pytestmark = pytest.mark.slow  # every test here starts server processes


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # --no-runner: the demo's automations would have this server write the SQLite file while
    # the command seeds it, and a second writer process can fail with "database is locked".
    process = ServerProcess(
        tmp_path, "--no-runner", DATABASE_URL=f"sqlite://{tmp_path / 'db.sqlite3'}"
    ).start()
    yield process
    process.stop()


def demo(server: ServerProcess) -> tuple[dict[str, str], str]:
    """What `server.py demo` printed: its JSON (stdout) and its stderr."""
    done = server.command("demo")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"firm_id", "user_id", "token"}, answer
    return answer, done.stderr


BOARD = "{ pipelines { edges { node { name stages { jobs { totalCount } } } } } }"
SCHEDULES = """{ recurringSchedules { edges { node {
  frequency clientTag template { name } nextOccurrences(first: 2) { period createsAt }
} } } }"""


def jobs_by_pipeline(server: ServerProcess, token: str) -> dict[str, int]:
    edges = graphql(server, token, BOARD)["pipelines"]["edges"]
    return {
        e["node"]["name"]: sum(s["jobs"]["totalCount"] for s in e["node"]["stages"]) for e in edges
    }


def test_demo_run_twice_finds_the_first_demo_firm(server: ServerProcess, tmp_path: Path) -> None:
    first, first_err = demo(server)
    assert "already exists" not in first_err and "Tortoise" not in first_err, first_err
    seeded = jobs_by_pipeline(server, first["token"])
    # the schedules' jobs are not made: this server runs no scheduler
    assert seeded == {"1040 Return": 5, "W-2": 5, "Payroll": 5, "Bookkeeping Lead": 5}
    schedules = graphql(server, first["token"], SCHEDULES)["recurringSchedules"]["edges"]
    assert sorted(
        (s["node"]["template"]["name"], s["node"]["frequency"], s["node"]["clientTag"])
        for s in schedules
    ) == [
        ("Monthly payroll", "MONTHLY", "business"),
        ("Yearly 1040 Return", "YEARLY", "individual"),
    ]
    assert all(len(s["node"]["nextOccurrences"]) == 2 for s in schedules)

    second, second_err = demo(server)
    assert (second["firm_id"], second["user_id"]) == (first["firm_id"], first["user_id"])
    assert second["token"] != first["token"]
    assert second_err.splitlines() == [
        f"demo: the demo firm already exists: 'Demo CPA', firm_id {first['firm_id']}, owner "
        "owner@demo.test; seeded nothing, issued its owner a new token"
    ]
    assert second["token"] not in second_err
    # Both tokens work, on the same, unchanged data: nothing was seeded a second time.
    assert jobs_by_pipeline(server, second["token"]) == seeded
    assert jobs_by_pipeline(server, first["token"]) == seeded
    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        assert database.execute("SELECT count(*) FROM firm").fetchone() == (1,)
        assert database.execute("SELECT count(*) FROM client").fetchone() == (8,)
        assert database.execute("SELECT count(*) FROM job_template").fetchone() == (2,)
        assert database.execute("SELECT count(*) FROM recurring_schedule").fetchone() == (2,)
        # one contact each, with portal access, at the reserved example.com domain
        assert database.execute(
            "SELECT count(DISTINCT client_id), count(*) FROM contact"
            " WHERE portal_access AND email LIKE '%@example.com'"
        ).fetchone() == (8, 8)
