"""Crash: server processes and workers killed with SIGKILL in the middle of their work lose
nothing that was acknowledged, run every automation entry once, deliver every webhook event
(exactly once by webhook-id), and a subscriber that resumes from its cursor sees every event
once."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from tests.receiver import Receiver
from tests.reliability.board import (
    MOVE,
    Board,
    add_create_task,
    add_endpoint,
    event_seq,
    new_board,
    pk,
    run_account,
    wait_until_settled,
)
from tests.reliability.infra import (
    LONG,
    FailoverClient,
    bearer,
    board_problems,
    exactly_once,
    fetch,
    start_all,
    until,
    watching,
)
from tests.reliability.workers import (
    ENTRIES,
    entries_waiting_for_a_worker,
    hold_pipeline_lock,
    interrupt_a_worker,
    release,
    runs_done,
    wait_for_lock_waiters,
)
from tests.servers import RedisProcess, ServerProcess

CLIENTS = 20
MOVES_PER_CLIENT = 100 if LONG else 20  # 20 x 20 = 400 moves, the kill after 160


async def _client(
    number: int,
    servers: list[ServerProcess],
    board: Board,
    acked: list[tuple[int, int, int]],
) -> int:
    """Client `number` moves job `number` on to the next stage, again and again; a move whose
    answer was lost is sent again (a repeat of an applied move changes nothing)."""
    job = board.jobs[number]
    async with FailoverClient(servers, board.token, start=number) as api:
        for k in range(MOVES_PER_CLIENT):
            target = board.stages[(k + 1) % 3]
            body = await api.post(MOVE, j=job, s=target)
            payload = body["data"]["moveJob"]
            assert payload["errors"] == [], payload
            acked.append((pk(job), payload["job"]["version"], pk(target)))
        return api.lost


async def _kill_and_restart(victim: ServerProcess, acked: Sequence[object], at: int) -> float:
    """SIGKILL `victim` once `at` moves are acknowledged, and start it again; seconds down."""
    await until(lambda: len(acked) >= at, within=600, step=0.01)
    victim.kill()
    down = time.monotonic()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(victim.start)
    return time.monotonic() - down


async def test_a_server_killed_mid_traffic_loses_nothing(
    postgres_url: str,
    redis: RedisProcess,
    receiver: Receiver,
    logs: Path,
    processes: list[ServerProcess],
) -> None:
    servers = [
        ServerProcess(logs, DATABASE_URL=postgres_url, REDIS_URL=redis.url) for _ in range(2)
    ]
    processes += servers
    await start_all(servers)
    board = await new_board(servers[0], jobs=CLIENTS)
    automation = await add_create_task(servers[0], board, board.stages[1])
    await add_endpoint(servers[0], board, receiver.url)
    start = await event_seq(postgres_url, board.pipeline_pk)
    total = CLIENTS * MOVES_PER_CLIENT
    acked: list[tuple[int, int, int]] = []

    async with watching(servers, board.token, board.pipeline, board.pipeline_pk, start) as watch:
        killer = asyncio.create_task(_kill_and_restart(servers[0], acked, total * 2 // 5))
        started = time.monotonic()
        lost = await asyncio.gather(*(_client(n, servers, board, acked) for n in range(CLIENTS)))
        moving = time.monotonic() - started
        downtime = await killer
        await wait_until_settled(postgres_url)
        final = await event_seq(postgres_url, board.pipeline_pk)
        await watch.wait_for_seq(final)
        await asyncio.sleep(1.5)  # any duplicate would arrive by now
    # 1. every acknowledged move is in the log, each move exactly once, in the client's order
    moved = await fetch(
        postgres_url,
        """SELECT job_id, job_version, to_stage_id FROM job_event
        WHERE type = 'JOB_MOVED' AND pipeline_id = $1 ORDER BY id""",
        board.pipeline_pk,
    )
    versions = await fetch(
        postgres_url, "SELECT job_id, job_version FROM job_event WHERE job_id IS NOT NULL"
    )
    known = {(r["job_id"], r["job_version"]) for r in versions}
    found = sum(1 for job, version, _ in acked if (job, version) in known)
    by_job: dict[int, list[int]] = defaultdict(list)
    for row in moved:
        by_job[row["job_id"]].append(row["to_stage_id"])
    planned = [board.stage_pks[(k + 1) % 3] for k in range(MOVES_PER_CLIENT)]
    # 2. the automation of the middle stage: one run per entry, each run reported once
    account = await run_account(postgres_url, automation, board.stage_pks[1])
    # 3. webhooks: every delivery delivered, each event's message received (by id) once or more
    deliveries = await fetch(
        postgres_url, "SELECT message_id, status, attempts, payload FROM webhook_delivery"
    )
    messages = receiver.messages()
    received = Counter(m.message_id for m in messages)
    event_seqs = Counter(json.loads(d["payload"])["data"]["seq"] for d in deliveries)
    # 4. the subscriber
    seen, duplicates, missing = exactly_once(watch.seqs, start + 1, final)
    print(
        f"\ncrash: {len(acked)} moves acknowledged in {moving:.1f} s, {found} found by "
        f"version, {len(moved)} JOB_MOVED events; server down {downtime:.1f} s, "
        f"{sum(lost)} requests resent; automation: {account.entries} entries, "
        f"{account.runs} runs {dict(account.statuses)}, {account.tasks} tasks; webhooks: "
        f"{len(deliveries)} events, {len(messages)} messages received, {len(received)} "
        f"distinct ids; subscriber: {seen} events of {final - start}, {duplicates} "
        f"duplicates, {missing} missing, {watch.connections} connections "
        f"(closes {watch.closes})"
    )
    assert len(acked) == total
    assert found == total
    assert len(moved) == total
    assert all(by_job[job] == planned for job in board.job_pks), "a job's moves differ"
    assert await board_problems(postgres_url, [board.pipeline_pk]) == []
    assert account.problems() == []
    assert account.entries == CLIENTS * len(range(0, MOVES_PER_CLIENT, 3))
    assert {d["status"] for d in deliveries} == {"DELIVERED"}
    assert set(received) == {d["message_id"] for d in deliveries}
    assert sorted(event_seqs) == list(range(start + 1, final + 1))
    assert set(event_seqs.values()) == {1}  # one message per event
    assert watch.errors == []
    assert (seen, duplicates, missing) == (final - start, 0, 0)
    assert watch.connections >= 2  # it lost its socket with the killed server and resumed


# ------------------------------------------------------------------------------ a worker


async def test_a_worker_killed_mid_automation_leaves_each_run_to_another_exactly_once(
    postgres_url: str, logs: Path, processes: list[ServerProcess]
) -> None:
    board, automation = await entries_waiting_for_a_worker(postgres_url, logs, processes)
    before, _, code = await interrupt_a_worker(postgres_url, logs, processes, board, signal.SIGKILL)
    [pending] = await fetch(
        postgres_url, "SELECT count(*) AS n FROM automation_run WHERE status = 'PENDING'"
    )
    successor = ServerProcess(logs, "worker", DATABASE_URL=postgres_url)
    processes.append(successor)
    successor.start()
    await runs_done(postgres_url, ENTRIES)
    await asyncio.sleep(1.5)  # both runners poll again: nothing runs twice
    account = await run_account(postgres_url, automation, board.stage_pks[1])
    print(
        f"\nworker crash: {ENTRIES} entries; the worker was killed (exit {code}) after "
        f"{before} runs, mid-run, {pending['n']} left; afterwards {account.runs} runs "
        f"{dict(account.statuses)}, {account.tasks} tasks, "
        f"{sum(account.ran_events_per_run.values())} AUTOMATION_RAN events, "
        f"attempts at most {account.max_attempts}"
    )
    assert 0 < before < ENTRIES and pending["n"] > 0
    assert account.problems() == []
    assert account.entries == account.runs == ENTRIES
    assert account.statuses == {"SUCCEEDED": ENTRIES}
    assert account.tasks == ENTRIES
    assert account.max_attempts == 1  # the killed attempt rolled back with its claim
    assert await board_problems(postgres_url, [board.pipeline_pk]) == []


# ------------------------------------------------------------------------------ idempotency


async def test_a_request_cut_by_a_crash_can_be_retried_with_its_idempotency_key(
    postgres_url: str, logs: Path, processes: list[ServerProcess]
) -> None:
    """The server dies while the move waits inside its transaction (nothing committed). The
    client retries with the same Idempotency-Key, as told (409 + Retry-After while the key's
    lease runs): once the lease of the dead request is over, the move is carried out, once."""
    server = ServerProcess(logs, DATABASE_URL=postgres_url, REQUEST_TIMEOUT_SECONDS="5")
    processes.append(server)
    await start_all([server])
    board = await new_board(server, jobs=1)
    request = {"query": MOVE, "variables": {"j": board.jobs[0], "s": board.stages[1]}}
    headers = {**bearer(board.token), "Idempotency-Key": "move-job-0-to-stage-1"}
    async with httpx.AsyncClient(timeout=30) as http:
        lock = await hold_pipeline_lock(postgres_url, board.pipeline_pk)
        in_flight = asyncio.create_task(
            http.post(f"{server.url}/graphql", json=request, headers=headers)
        )
        await wait_for_lock_waiters(postgres_url)
        server.kill()  # mid-request: the move's transaction never commits
        with pytest.raises(httpx.TransportError):
            await in_flight
        await release(lock)
        await asyncio.to_thread(server.start)
        restarted = time.monotonic()
        answers: list[tuple[int, str]] = []
        while time.monotonic() - restarted < 40:
            retried = await http.post(f"{server.url}/graphql", json=request, headers=headers)
            answers.append((retried.status_code, retried.text[:200]))
            if retried.status_code != 409 or "IDEMPOTENCY_KEY_IN_USE" not in retried.text:
                break
            await asyncio.sleep(float(retried.headers.get("retry-after", "1")))
        waited = time.monotonic() - restarted
    moves = await fetch(
        postgres_url, "SELECT count(*) AS n FROM job_event WHERE type = 'JOB_MOVED'"
    )
    print(
        f"\nidempotency after a crash: {len(answers)} retries over {waited:.1f} s, "
        f"{len([a for a in answers if a[0] == 409])} answered 409 (key in use); the last: "
        f"{answers[-1]}; JOB_MOVED events: {moves[0]['n']}"
    )
    assert answers[-1][0] == 200, answers[-1]
    assert '"errors":[]' in answers[-1][1].replace(" ", "")
    assert moves[0]["n"] == 1
