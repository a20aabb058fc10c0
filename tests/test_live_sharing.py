"""Many watchers of one board cost one execution per distinct subscription per event: the
event object, its loaders and the result of each distinct document are shared in a process,
while every subscriber still gets exactly the fields it asked for."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
import websockets

from schema import planned
from settings import load
from tests.conftest import StatementCounter
from tests.factories import board, client, gid, job, scope_of
from tests.live import TRANSPORT_WS
from tests.servers import free_port
from tests.test_live_hygiene import until
from web.app import create_app
from workflow import jobs
from workflow.firms import NewFirm

WITH_CLIENT = """subscription($p: ID!) { boardUpdated(pipelineId: $p) {
  type job { title client { name } } } }"""
WITH_STAGE = """subscription($p: ID!) { boardUpdated(pipelineId: $p) {
  type stageId job { version stage { name } client { name } } } }"""


@pytest.mark.parametrize("plan", [True, False], ids=["planned", "resolvers"])
async def test_watchers_of_one_board_share_each_distinct_execution(
    db: str, firm_a: NewFirm, sql_statements: StatementCounter, plan: bool
) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    port = free_port()
    app = create_app(load({"DATABASE_URL": db}), own_database=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    planning = planned.PLANNING.set(plan)  # the server's tasks inherit it
    serving = asyncio.create_task(server.serve())
    planned.PLANNING.reset(planning)
    await until(lambda: server.started)
    sockets = []
    try:
        for document in [WITH_CLIENT] * 3 + [WITH_STAGE] * 2:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/graphql",
                subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            )
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"Authorization": f"Bearer {firm_a.token}"},
                    }
                )
            )
            await ws.recv()
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": document,
                            "variables": {"p": gid("Pipeline", pipeline.id)},
                        },
                    }
                )
            )
            sockets.append(ws)
        # the server makes the feed when it starts the first subscription, maybe after the sends
        await until(lambda: len(app.state.hub.feeds) > 0)
        feed = next(iter(app.state.hub.feeds.values()))
        await until(lambda: len(feed.subscribers) == 5)
        sql_statements.statements.clear()
        await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        frames = [await asyncio.wait_for(ws.recv(), 10) for ws in sockets]
        assert all(isinstance(frame, str) for frame in frames)  # text frames, as clients expect
        received = [json.loads(frame)["payload"]["data"] for frame in frames]
    finally:
        for ws in sockets:
            await ws.close()
        server.should_exit = True
        await serving

    event = {
        "type": "JOB_MOVED",
        "job": {"title": "2025 return", "client": {"name": "Avery Johnson"}},
    }
    assert [r["boardUpdated"] for r in received[:3]] == [event] * 3
    assert [r["boardUpdated"] for r in received[3:]] == [
        {
            "type": "JOB_MOVED",
            "stageId": gid("Stage", stages[1].id),
            "job": {
                "version": 2,
                "stage": {"name": "Prepare Return"},
                "client": {"name": "Avery Johnson"},
            },
        }
    ] * 2
    # batched loads (WHERE id IN ...) are the subscriptions'; the move reads by single id
    loads = [s for s in sql_statements.statements if s.startswith("SELECT") and " IN (" in s]
    client_reads = [s for s in loads if 'FROM "client"' in s]
    stage_reads = [s for s in loads if 'FROM "stage"' in s]
    # the resolvers: one loader set for all five watchers, the client once, the stage once;
    # the plans: one statement per relation level per distinct document (the client twice)
    assert (len(client_reads), len(stage_reads)) == ((2, 1) if plan else (1, 1)), loads
