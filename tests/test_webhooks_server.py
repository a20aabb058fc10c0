"""Outbound webhooks from one running server process per backend (each test has a firm and a
receiver of its own): signed (verified with the documented example), retried after failures,
and redeliverable. Apart from tests/test_webhooks.py, whose tests empty the database and send
from the test process: this server's sender would take their deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from docs.examples.verify_webhook import verify
from tests.live import MOVE, make_board
from tests.receiver import Receiver
from tests.servers import ServerProcess, graphql
from tests.test_webhooks import ENDPOINT, REDELIVER, RENAME, _wait_delivered


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Quick retries, for the test whose receiver refuses twice."""
    process = ServerProcess(
        tmp_path_factory.mktemp("webhooks"),
        DATABASE_URL=database_url,
        WEBHOOK_RETRY_SCHEDULE="0.2,0.2,0.2",
    ).start()
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.mark.slow
def test_deliveries_are_signed_and_retried_after_500(
    server: ServerProcess, receiver: Receiver
) -> None:
    board_ = make_board(server, jobs=1)
    created = graphql(server, board_.token, ENDPOINT, url=receiver.url)
    secret = created["createWebhookEndpoint"]["secret"]  # shown only there
    receiver.answer = lambda number, _: (500, 0.0) if number <= 2 else (204, 0.0)
    graphql(server, board_.token, MOVE, j=board_.jobs[0], s=board_.stages[1])
    graphql(server, board_.token, RENAME, j=board_.jobs[0])
    log = _wait_delivered(server, board_.token, 2)

    messages = receiver.messages()
    assert len(messages) == 4  # two refused with 500, then every message accepted
    assert sum(d["attempts"] for d in log) == 4
    assert {d["lastStatusCode"] for d in log} == {204}
    now = time.time()
    assert all(verify(secret, m.headers, m.body, now) for m in messages)
    assert not verify(secret, messages[0].headers, messages[0].body + b" ", now)
    assert {m.message_id for m in messages} == {d["messageId"] for d in log}
    retried = [m.message_id for m in messages[:2]]
    assert all(m in [later.message_id for later in messages[2:]] for m in retried)
    by_type = {m.event["type"]: m.event for m in messages}
    assert set(by_type) == {"JOB_MOVED", "JOB_UPDATED"}
    assert by_type["JOB_UPDATED"]["data"]["changes"]["title"] == {"from": "job 0", "to": "renamed"}
    assert by_type["JOB_MOVED"]["data"]["job"]["stageId"] == board_.stages[1]


@pytest.mark.slow
def test_redeliver_sends_the_same_message_again(server: ServerProcess, receiver: Receiver) -> None:
    board_ = make_board(server, jobs=1)
    graphql(server, board_.token, ENDPOINT, url=receiver.url)
    graphql(server, board_.token, MOVE, j=board_.jobs[0], s=board_.stages[1])
    [delivery] = _wait_delivered(server, board_.token, 1)
    redelivered = graphql(server, board_.token, REDELIVER, d=delivery["id"])
    assert redelivered["redeliverWebhook"]["errors"] == []
    receiver.wait_for(lambda received: len(received) == 2)
    [again] = _wait_delivered(server, board_.token, 1)
    first, second = receiver.messages()
    assert first.message_id == second.message_id == delivery["messageId"]
    assert first.body == second.body
    assert again["attempts"] == 2
