"""The clock of real server processes, set by the test (TEST_CLOCK_FILE, tests.servers
ServerClock): an organizer sent with a reminder schedule gets its REMINDER email only when the
test moves the servers' clock past the reminder's due time, with no waiting for a date. The
embedded server (SQLite and PostgreSQL, two servers on PostgreSQL), and a `server.py worker`
beside --no-runner servers (PostgreSQL), which alone sends them. Emails go to .eml files (no
SMTP_URL), in the outbox of the process that sent them."""

from __future__ import annotations

import email
import email.policy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, Stack, graphql

pytestmark = pytest.mark.slow  # server processes

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # months from the wall clock either way
SETUP = """mutation {
  pipeline: createPipeline(input: {name: "1040 Return",
    stageNames: ["Intake", "Collect documents", "Prepare"]}) { pipeline { id stages { id } } }
  client: createClient(input: {name: "Avery Household"}) { client { id } }
}"""
SHAPE = """mutation($collect: ID!, $client: ID!, $questions: JSON!, $p: ID!) {
  createAutomation(input: {stageId: $collect, action: SEND_ORGANIZER,
    settings: {title: "2026 tax organizer", questions: $questions, remindEveryDays: 3,
    maxReminders: 1}}) { errors { code message } }
  createContact(input: {clientId: $client, name: "Avery Client", email: "avery@client.example",
    portalAccess: true}) { errors { code message } }
  createJob(input: {pipelineId: $p, clientId: $client, title: "Avery 1040"}) { job { id } }
}"""
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  errors { code } } }"""
EMAILS = """query($j: ID!) { job(id: $j) { automationRuns { edges { node { status } } }
  emails { edges { node { kind status sentAt } } } } }"""


@pytest.fixture(params=["embedded", "worker"])
def stack(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """On the emptied database (db); every process follows one clock, set at T0."""
    workers = 1 if request.param == "worker" else 0
    if workers and db.startswith("sqlite"):
        pytest.skip("a worker beside the server: PostgreSQL (SQLite has a single writer)")
    started = Stack.start(db, tmp_path, workers=workers, clock_at=T0)
    yield started
    started.stop()


def emails_once(
    server: ServerProcess, token: str, job: str, kinds: list[str], within: float = 30
) -> list[dict[str, Any]]:
    """The job's emails, polled until they are these kinds, all SENT (by the deadline)."""
    deadline = time.monotonic() + within
    while True:
        found = [
            edge["node"] for edge in graphql(server, token, EMAILS, j=job)["job"]["emails"]["edges"]
        ]
        if sorted(e["kind"] for e in found) == sorted(kinds) and all(
            e["status"] == "SENT" for e in found
        ):
            return found
        assert time.monotonic() < deadline, f"expected {kinds} sent, found {found}"
        time.sleep(0.1)


def subjects(stack: Stack) -> list[str]:
    """The subjects of the emails every process of the stack wrote (each to its own outbox)."""
    return sorted(
        str(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"])
        for process in stack.servers + stack.workers
        for path in process.outbox.glob("*.eml")
    )


def test_a_reminder_is_sent_when_the_servers_clock_passes_its_due_time(stack: Stack) -> None:
    server = stack.first
    assert stack.clock is not None
    for process in stack.servers + stack.workers:  # each says so at start
        assert (
            f"WARNING workflow clock: TEST_CLOCK_FILE {stack.clock.path} holds the time ("
            in (process.log_lines("TEST_CLOCK_FILE")[0])
        )
    token = json.loads(server.cli("create-firm", "Acme CPA", "--owner-email", "o@acme.test"))[
        "token"
    ]
    questions = ["Did you move in 2026?"]
    made = graphql(server, token, SETUP)
    pipeline = made["pipeline"]["pipeline"]
    collect = pipeline["stages"][1]["id"]
    shaped = graphql(
        server,
        token,
        SHAPE,
        collect=collect,
        client=made["client"]["client"]["id"],
        questions=questions,
        p=pipeline["id"],
    )
    assert shaped["createAutomation"] == shaped["createContact"] == {"errors": []}
    job = shaped["createJob"]["job"]["id"]
    assert graphql(stack.last, token, MOVE, j=job, s=collect)["moveJob"] == {"errors": []}

    # The automation runs and the organizer goes out at the servers' time, which stands still.
    [organizer] = emails_once(server, token, job, ["ORGANIZER"])
    assert datetime.fromisoformat(organizer["sentAt"]) == T0

    # Due 3 days after it was sent: the clock moves there, and the reminder goes out.
    stack.clock.advance(timedelta(days=3))
    sent = emails_once(server, token, job, ["ORGANIZER", "REMINDER"])
    [reminder] = [e for e in sent if e["kind"] == "REMINDER"]
    assert datetime.fromisoformat(reminder["sentAt"]) == T0 + timedelta(days=3)
    outbox = subjects(stack)
    assert len(outbox) == 2 and sum("Reminder" in subject for subject in outbox) == 1, outbox
    if stack.workers:  # the servers send nothing: --no-runner
        assert not [path for s in stack.servers for path in s.outbox.glob("*.eml")]

    # maxReminders 1: a year later, still the one reminder.
    stack.clock.advance(timedelta(days=365))
    assert len(emails_once(server, token, job, ["ORGANIZER", "REMINDER"])) == 2
