"""Scenario 6, outbound email: emails per second through the mailer of a `python server.py
worker` process to a local SMTP server (aiosmtpd in a process of its own: `python -m
tests.smtp`), for one firm (its FIRM_IN_FLIGHT attempts at once: the per-firm cap) and for ten
firms sharing the worker (MAX_IN_FLIGHT at once). The emails are queued by SQL, QUEUED and due;
the rate is over the span of their sent_at (the worker's first poll is not counted); the notes
give the whole drain, from queueing to the last SENT, which includes it.

Floor: the same messages (composed by mail.compose, the same bytes) sent with raw aiosmtplib to
the same server over as many connections as the mailer has attempts in flight, each connection
sending one message after the other: no database, no leases, no records.

    python -m bench.mail [--quick]       this scenario alone (python -m bench mail, too)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import aiosmtplib
import asyncpg

from bench.infra import server
from bench.report import Row, per_second
from bench.suite import Suite
from mail import compose, mailer
from models import Email, EmailKind
from tests.databases import asyncpg_url
from tests.servers import ROOT, ServerProcess, free_port

MAIL_FROM = "Bench CPA <no-reply@bench.test>"
EXTRA_FIRMS = 9  # beside the seeded one, for the ten-firm run

QUEUE = """
INSERT INTO email (firm_id, client_id, to_address, kind, subject, text_body, html_body,
  header_message_id, status, attempts, next_attempt_at, created_at)
SELECT f.firm_id, f.client_id, 'client-' || n || '@firm' || f.firm_id || '.example.test',
  'MESSAGE', 'Your documents, request ' || n, $3, $4, md5(random()::text || n || f.firm_id),
  'QUEUED', 0, now(), now()
FROM generate_series(1, $2) AS n
JOIN unnest($1::int[], $5::int[]) WITH ORDINALITY AS f(firm_id, client_id, k)
  ON f.k = (n - 1) % array_length($1::int[], 1) + 1
RETURNING id"""
TEXT = (
    "Hello,\n\nWe need a few more documents to finish your 2025 return: your W-2 forms, the "
    "1099-INT from your bank and last year's property tax statement.\n\nUpload them in the "
    "portal when you can.\n\nThank you,\nBench CPA\n"
)
HTML = (
    "<p>Hello,</p><p>We need a few more documents to finish your 2025 return: your W-2 forms, "
    "the 1099-INT from your bank and last year's property tax statement.</p><p>Upload them in "
    "the portal when you can.</p><p>Thank you,<br>Bench CPA</p>"
)


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[int]:
    """An accept-everything SMTP server in its own process; its port."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.smtp",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.returncode is not None:
                    raise RuntimeError("the SMTP server did not start") from None
                await asyncio.sleep(0.05)
        yield port
    finally:
        process.terminate()
        await process.wait()


async def firms_and_clients(connection: asyncpg.Connection, firm_id: int) -> list[tuple[int, int]]:
    """(firm, client) pairs: the seeded firm's first client, and EXTRA_FIRMS firms of their
    own, made once (rows only: the mailer needs no more of a firm)."""
    pairs = [
        (
            firm_id,
            await connection.fetchval("SELECT min(id) FROM client WHERE firm_id = $1", firm_id),
        )
    ]
    for n in range(EXTRA_FIRMS):
        other = await connection.fetchval(
            "INSERT INTO firm (name, catalog_version, created_at) VALUES ($1, 0, now()) "
            "RETURNING id",
            f"Mail bench firm {n}",
        )
        client = await connection.fetchval(
            "INSERT INTO client (firm_id, name, tags, created_at, updated_at) "
            "VALUES ($1, 'Avery', '[]', now(), now()) RETURNING id",
            other,
        )
        pairs.append((other, client))
    return pairs


async def queue(
    connection: asyncpg.Connection, pairs: list[tuple[int, int]], count: int
) -> tuple[list[int], float]:
    """Queue `count` emails spread over the firms; their ids and when they were committed."""
    rows = await connection.fetch(
        QUEUE, [f for f, _ in pairs], count, TEXT, HTML, [c for _, c in pairs]
    )
    return [row["id"] for row in rows], time.time()


async def drained(
    connection: asyncpg.Connection, ids: list[int], within: float = 600
) -> tuple[datetime, datetime]:
    """Until every one of these emails is SENT: the first and last sent_at."""
    deadline = time.monotonic() + within
    while True:
        row = await connection.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'SENT') AS sent, "
            "count(*) FILTER (WHERE status = 'FAILED') AS failed, min(sent_at) AS first, "
            "max(sent_at) AS last FROM email WHERE id = ANY($1)",
            ids,
        )
        if row["failed"]:
            raise RuntimeError(f"{row['failed']} emails FAILED")
        if row["sent"] == len(ids):
            return row["first"], row["last"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {row['sent']} of {len(ids)} emails sent in {within:g} s")
        await asyncio.sleep(0.1)


async def messages(connection: asyncpg.Connection, ids: list[int]) -> list[tuple[str, bytes]]:
    """The queued emails as the mailer composes them: (recipient, bytes)."""
    rows = await connection.fetch("SELECT * FROM email WHERE id = ANY($1) ORDER BY id", ids)
    composed = []
    for row in rows:
        email = Email(**{**dict(row), "kind": EmailKind(row["kind"])})
        composed.append(
            (compose.recipient(email), compose.as_bytes(compose.compose(email, MAIL_FROM)))
        )
    return composed


async def floor(port: int, composed: list[tuple[str, bytes]], connections: int) -> float:
    """Seconds to send every message with raw aiosmtplib over `connections` connections."""
    sender = compose.sender_address(MAIL_FROM)
    todo = iter(composed)

    async def connection() -> None:
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.test"
        )
        await smtp.connect()
        for recipient, data in todo:
            await smtp.sendmail(sender, [recipient], data)
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - started


def mailer_worker(suite: Suite, port: int) -> ServerProcess:
    process = server(suite.log_dir, suite.database_url, suite.redis.url, "worker")
    process.env.update(SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM=MAIL_FROM)
    return process


async def run(suite: Suite) -> list[Row]:
    count = suite.plan.emails
    rows: list[Row] = []
    connection = await asyncpg.connect(asyncpg_url(suite.database_url))
    try:
        pairs = await firms_and_clients(connection, suite.firm.firm_id)
        async with smtp_sink() as port:
            worker = mailer_worker(suite, port)
            worker.launch()
            try:
                for firms, in_flight in ((1, mailer.FIRM_IN_FLIGHT), (10, mailer.MAX_IN_FLIGHT)):
                    ids, queued_at = await queue(connection, pairs[:firms], count)
                    first, last = await drained(connection, ids)
                    span = (last - first).total_seconds()
                    seconds = await floor(port, await messages(connection, ids), in_flight)
                    floor_rate = count / seconds
                    rate = (count - 1) / span if span > 0 else float("inf")
                    rows.append(
                        Row(
                            f"floor: raw aiosmtplib, {in_flight} connections",
                            throughput=per_second(count, seconds, "emails"),
                        )
                    )
                    rows.append(
                        Row(
                            f"mailer, {firms} firm{'s' * (firms > 1)} ({in_flight} in flight), "
                            "1 worker",
                            throughput=per_second(count - 1, span, "emails"),
                            notes=f"{count:,} emails; {rate / floor_rate:.2f}x the floor's "
                            f"rate; drained {last.timestamp() - queued_at:.1f} s after "
                            "queueing",
                        )
                    )
                    assert worker.alive(), "the worker exited:\n" + worker.log.read_text()[-2000:]
            finally:
                worker.stop()
    finally:
        await connection.close()
    return rows


def main() -> None:
    from bench.__main__ import main as bench

    bench(["mail", *sys.argv[1:]])


if __name__ == "__main__":
    main()
