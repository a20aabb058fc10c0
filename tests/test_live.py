"""Live boards against real server processes (the `stack` fixture): SQLite with the in-process
broker (one process), and PostgreSQL with Redis (two processes sharing them)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from models.db import close_database, open_database
from resolvers.live import REPLAY_LIMIT
from tests.conftest import TEST_SECRET_KEY
from tests.factories import gid
from tests.live import (
    BOARD_SUBSCRIPTION,
    LEGACY_WS,
    MOVE,
    TRANSPORT_WS,
    Board,
    Progress,
    RawWebSocket,
    Subscription,
    close_code,
    feed_cursor,
    job_cursor,
    make_board,
    seq_of,
    watch_board,
)
from tests.servers import ServerProcess, Stack, graphql
from workflow import jobs
from workflow.firms import authenticate
from workflow.global_ids import parse_id

pytestmark = pytest.mark.slow  # every test here starts server processes


def _move(server: ServerProcess, token: str, job: str, stage: str) -> None:
    result = graphql(server, token, MOVE, j=job, s=stage)["moveJob"]
    assert result["errors"] == [], result


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_move_on_one_process_reaches_subscribers_on_another(
    stack: Stack, protocol: str
) -> None:
    board = make_board(stack.first)
    sub = await watch_board(stack.first, board.token, board, protocol)
    await asyncio.to_thread(_move, stack.last, board.token, board.jobs[0], board.stages[2])
    event = await sub.event()
    assert event["type"] == "JOB_MOVED"
    assert (event["stageId"], event["fromStageId"]) == (board.stages[2], board.stages[0])
    assert event["pipelineId"] == board.pipeline
    assert event["job"] == {"id": board.jobs[0], "title": "job 0", "version": 2}
    await sub.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "payload", [{}, {"Authorization": "Bearer wf_nope"}, {"authorization": "Basic abc"}]
)
async def test_connection_init_without_a_valid_token_is_closed_4401(
    stack: Stack, protocol: str, payload: dict[str, str]
) -> None:
    async with websockets.connect(stack.first.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert await close_code(ws) == 4401


async def test_the_token_key_is_matched_case_insensitively(stack: Stack) -> None:
    board = make_board(stack.first)
    async with websockets.connect(stack.first.ws_url, subprotocols=[TRANSPORT_WS]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"AUTHORIZATION": f"bearer {board.token}"}}
        await ws.send(json.dumps(init))
        assert '"connection_ack"' in await asyncio.wait_for(ws.recv(), 5)


async def test_another_firms_pipeline_is_answered_like_a_missing_one(stack: Stack) -> None:
    board_a = make_board(stack.first, firm="Firm A")
    board_b = make_board(stack.first, firm="Firm B")
    missing = gid("Pipeline", 999999)

    async def answer(pipeline: str) -> dict[str, object]:
        sub = await Subscription.open(stack.first, board_b.token, BOARD_SUBSCRIPTION, p=pipeline)
        message = await sub.message()
        await sub.close()
        return message

    foreign, absent = await answer(board_a.pipeline), await answer(missing)
    assert foreign == absent
    assert foreign["type"] == "next" and foreign["payload"]["errors"][0]["extensions"] == {  # type: ignore[index]
        "code": "NOT_FOUND",
        "field": "pipelineId",
    }


async def test_resume_from_a_cursor_has_no_gap_and_no_duplicate(stack: Stack) -> None:
    """A client drops while another process keeps committing, then resumes from its cursor."""
    board = make_board(stack.first)
    moves = 40
    committed = Progress()

    def commit_moves() -> None:  # job j's k-th move goes to stage k+1: always a new stage
        for n in range(moves):
            _move(stack.last, board.token, board.jobs[n % 3], board.stages[(n // 3 + 1) % 3])
            committed.step()

    sub = await watch_board(stack.first, board.token, board)
    committer = asyncio.create_task(asyncio.to_thread(commit_moves))
    seen = [await sub.event() for _ in range(8)]
    await sub.close()
    away = committed.count + 3  # the committer goes on while we are away
    await asyncio.to_thread(committed.wait_for, min(away, moves))
    sub = await Subscription.open(
        stack.first, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=seen[-1]["cursor"]
    )
    await committer
    while len(seen) < moves:
        seen.append(await sub.event())
    await sub.close()
    seqs = [seq_of(e["cursor"]) for e in seen]
    first = seqs[0]
    assert seqs == list(range(first, first + moves)), seqs
    assert all(e["type"] == "JOB_MOVED" for e in seen)


@pytest.mark.parametrize("position", ["-1", "+1", "99", "x"])
async def test_a_cursor_that_was_never_handed_out_is_refused(stack: Stack, position: str) -> None:
    board = make_board(stack.first)
    pk = parse_id(board.pipeline, "p")[1]
    for after in ("garbage", feed_cursor(f"pipeline:{pk}:{position}")):
        sub = await Subscription.open(
            stack.first, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=after
        )
        message = await sub.message()
        await sub.close()
        assert message["payload"]["errors"][0]["extensions"] == {
            "code": "INVALID_INPUT",
            "field": "after",
        }


async def test_a_cursor_ahead_of_this_process_but_in_the_log_is_resumed(
    stack: Stack, database_url: str
) -> None:
    """Another process may hand out a cursor before this one's feed has caught up."""
    board = make_board(stack.first)
    watcher = await watch_board(stack.first, board.token, board)
    await _write_without_a_server(database_url, board, 1)  # this process's feed is now behind
    pk = parse_id(board.pipeline, "p")[1]
    latest = feed_cursor(f"pipeline:{pk}:{3 + 1}")  # 3 jobs created, then that move
    sub = await Subscription.open(
        stack.first, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=latest
    )
    _move(stack.first, board.token, board.jobs[1], board.stages[2])
    event = await sub.event()
    assert (seq_of(event["cursor"]), event["job"]["id"]) == (5, board.jobs[1])
    await sub.close()
    await watcher.close()


async def test_job_updated_follows_a_job_across_pipelines(stack: Stack) -> None:
    board = make_board(stack.first, jobs=1)
    other = graphql(
        stack.first,
        board.token,
        """mutation { createPipeline(input: {
        name: "Bookkeeping", stageNames: ["Onboard"]}) { pipeline { id } } }""",
    )
    query = """subscription($j: ID!, $after: String) { jobUpdated(jobId: $j, after: $after) {
        type pipelineId job { title } } }"""
    sub, created = await Subscription.attached(
        stack.first, board.token, query, job_cursor(board.jobs[0], 0), j=board.jobs[0]
    )
    assert created["type"] == "JOB_CREATED"
    target = other["createPipeline"]["pipeline"]["id"]
    graphql(
        stack.last,
        board.token,
        """mutation($j: ID!, $p: ID!) {
        transferJob(input: {jobId: $j, pipelineId: $p}) { errors { code } } }""",
        j=board.jobs[0],
        p=target,
    )
    graphql(
        stack.last,
        board.token,
        """mutation($j: ID!) {
        updateJob(input: {id: $j, title: "renamed"}) { errors { code } } }""",
        j=board.jobs[0],
    )
    events = [await sub.event() for _ in range(3)]
    assert [(e["type"], e["pipelineId"]) for e in events] == [
        ("JOB_TRANSFERRED_OUT", board.pipeline),
        ("JOB_TRANSFERRED_IN", target),
        ("JOB_UPDATED", target),
    ]
    assert events[-1]["job"] == {"title": "renamed"}


async def test_redis_outage_loses_nothing(stack: Stack) -> None:
    if stack.redis is None:
        pytest.skip("the embedded server has no Redis")
    board = make_board(stack.first)
    sub = await watch_board(stack.first, board.token, board)
    _move(stack.last, board.token, board.jobs[0], board.stages[1])
    received = [await sub.event()]

    stack.redis.stop()  # killed and waited for: its port refuses from here on
    async with httpx.AsyncClient() as http:
        ready = [await http.get(f"{s.url}/readyz") for s in stack.servers]
    assert [(r.status_code, r.json()) for r in ready] == [
        (503, {"database": "ok", "broker": "down"})
    ] * 2
    for n in range(5):  # mutations keep working while Redis is down
        _move(stack.last, board.token, board.jobs[n % 3], board.stages[2 - n % 2])
    received += [await sub.event() for _ in range(5)]  # from the log, by polling

    stack.redis.start()  # same port: the servers reconnect by themselves
    for _ in range(100):
        async with httpx.AsyncClient() as http:
            statuses = [(await http.get(f"{s.url}/readyz")).status_code for s in stack.servers]
        if statuses == [200, 200]:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the servers did not reconnect to Redis")
    _move(stack.last, board.token, board.jobs[1], board.stages[0])
    received.append(await sub.event())
    seqs = [seq_of(e["cursor"]) for e in received]
    assert seqs == list(range(seqs[0], seqs[0] + 7))


def test_a_subscriber_that_stops_reading_is_closed_4413(database_url: str, tmp_path: Path) -> None:
    """Its queue is bounded: on overflow the server closes it with 4413 (resume from the
    cursor) instead of holding ever more events in memory."""
    server = ServerProcess(tmp_path, DATABASE_URL=database_url, SUBSCRIPTION_QUEUE_SIZE="5")
    server.start()
    try:
        board = make_board(server, jobs=1)
        ws = RawWebSocket(server.port)
        ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {board.token}"}})
        assert b"connection_ack" in ws.frame()[1]
        tags = [f"{n:02d}" + "x" * 48 for n in range(50)]  # the most a job may carry: 2.6 KB
        graphql(
            server,
            board.token,
            """mutation($j: ID!, $t: [String!]!) {
            updateJob(input: {id: $j, tags: $t}) { errors { code } } }""",
            j=board.jobs[0],
            t=tags,
        )
        copies = " ".join(f"t{n}: tags" for n in range(25))  # about 65 KB a message
        query = f"subscription($p: ID!) {{ boardUpdated(pipelineId: $p) {{ job {{ {copies} }} }} }}"
        ws.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": query, "variables": {"p": board.pipeline}},
            }
        )
        for n in range(80):  # the board keeps changing; the client reads nothing
            _move(server, board.token, board.jobs[0], board.stages[1 + n % 2])
        assert ws.close_code() == 4413
        ws.sock.close()
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()


async def _write_without_a_server(database_url: str, board: Board, moves: int) -> None:
    """Commit moves from this process, which has no broker: nobody is notified of them."""
    await open_database(database_url, migrate=False, secret_key=TEST_SECRET_KEY)
    try:
        scope = await authenticate(board.token)
        assert scope is not None
        job = parse_id(board.jobs[0], "job")[1]
        stages = [parse_id(stage, "stage")[1] for stage in board.stages]
        for n in range(moves):
            await jobs.move_job(scope, job, stages[1 + n % 2])
    finally:
        await close_database()


async def test_an_event_committed_but_never_published_still_arrives(
    stack: Stack, database_url: str
) -> None:
    """As if the writing process died between commit and publish: the feeds poll the log."""
    board = make_board(stack.first)
    sub = await watch_board(stack.first, board.token, board)
    await _write_without_a_server(database_url, board, 1)
    event = await sub.event(wait=5)
    assert (event["type"], event["stageId"]) == ("JOB_MOVED", board.stages[1])


async def test_a_cursor_too_old_to_replay_asks_for_a_refetch(
    stack: Stack, database_url: str
) -> None:
    board = make_board(stack.first, jobs=1)
    sub = await watch_board(stack.first, board.token, board)
    _move(stack.first, board.token, board.jobs[0], board.stages[1])
    cursor = (await sub.event())["cursor"]
    await sub.close()
    # the first of these finds the job already in stage 1 and changes nothing
    await _write_without_a_server(database_url, board, REPLAY_LIMIT + 2)
    sub = await Subscription.open(
        stack.first, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=cursor
    )
    error = (await sub.message())["payload"]["errors"][0]
    assert error["extensions"] == {"code": "CURSOR_EXPIRED", "field": "after"}
    assert "refetch the board" in error["message"]
