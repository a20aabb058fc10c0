"""Counting the SQL statements a server runs: a PostgreSQL wire-protocol proxy.

pg_stat_statements needs shared_preload_libraries (a restart of a shared PostgreSQL), so a
counting server is pointed at this proxy instead, which reads what its clients send: every
Execute of the extended protocol and every simple Query is one statement. Counted apart:
transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) and the reset asyncpg's
pool sends each time a connection goes back to it. The proxy adds a hop, so no timed request
goes through it: the scenarios count on separate servers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
TRANSACTION = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")
POOL_RESET = "SELECT pg_advisory_unlock_all()"  # asyncpg's Connection.reset, on each release


def kind(sql: str) -> str:
    text = sql.lstrip()
    if text.startswith(POOL_RESET):
        return "reset"
    words = text.split(None, 1)
    return "tx" if words and words[0].upper().rstrip(";") in TRANSACTION else "sql"


def cstring(data: bytes, start: int) -> tuple[str, int]:
    end = data.index(b"\0", start)
    return data[start:end].decode(errors="replace"), end + 1


class StatementCounter:
    """Listens on a free port and forwards to the PostgreSQL of `database_url`."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.database_url = database_url
        self.counts: Counter[str] = Counter()
        self.statements: list[str] | None = None  # texts, while recording
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The database URL to give a server so that its statements are counted."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self.database_url)
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return parts._replace(netloc=f"{netloc}127.0.0.1:{port}").geturl()

    async def start(self) -> StatementCounter:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    def snapshot(self) -> Counter[str]:
        return self.counts.copy()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if await self._startup(client_r, client_w, server_w):
                await asyncio.gather(
                    self._frontend(client_r, server_w), self._pipe(server_r, client_w)
                )
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a side hung up, or the proxy stops
        finally:
            self._tasks.discard(task)
            for writer in (client_w, server_w):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _startup(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
    ) -> bool:
        """Refuse SSL/GSS encryption (the proxy must read the stream), pass the startup on."""
        while True:
            length = int.from_bytes(await client_r.readexactly(4))
            body = await client_r.readexactly(length - 4)
            if int.from_bytes(body[:4]) in (SSL_REQUEST, GSS_REQUEST):
                client_w.write(b"N")
                continue
            server_w.write(length.to_bytes(4) + body)
            return True

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        prepared: dict[str, str] = {}  # statement name -> SQL
        portals: dict[str, str] = {}  # portal name -> SQL
        while True:
            head = await reader.readexactly(5)
            body = await reader.readexactly(int.from_bytes(head[1:5]) - 4)
            writer.write(head + body)
            tag = head[:1]
            if tag == b"Q":
                self._count(cstring(body, 0)[0])
            elif tag == b"P":
                name, at = cstring(body, 0)
                prepared[name] = cstring(body, at)[0]
            elif tag == b"B":
                portal, at = cstring(body, 0)
                portals[portal] = prepared.get(cstring(body, at)[0], "")
            elif tag == b"E":
                self._count(portals.get(cstring(body, 0)[0], ""))
            elif tag == b"X":
                await writer.drain()
                return

    def _count(self, sql: str) -> None:
        self.counts[kind(sql)] += 1
        if self.statements is not None:
            self.statements.append(sql)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


@dataclass(frozen=True)
class PerRequest:
    sql: float  # statements that read or write data
    overhead: float  # transaction control and pool resets: round trips all the same

    def __str__(self) -> str:
        """'8 (+10)': 8 statements, and 10 more round trips of overhead."""
        text = self.number(self.sql)
        return f"{text} (+{self.number(self.overhead)})" if self.overhead >= 0.05 else text

    @staticmethod
    def number(value: float) -> str:
        return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


class Tally:
    """Statements counted between `start` and `per`, less the background rate measured while
    idle (the automation runner and webhook sender poll once a second; servers started with
    --no-runner do not, so their counts are exact)."""

    def __init__(self, counter: StatementCounter) -> None:
        self.counter = counter
        self.idle: Counter[str] = Counter()  # per second
        self._before: Counter[str] = Counter()
        self._started = 0.0

    async def measure_idle(self, seconds: float) -> None:
        before = self.counter.snapshot()
        await asyncio.sleep(seconds)
        self.idle = Counter(
            {kind: round(n / seconds, 3) for kind, n in (self.counter.snapshot() - before).items()}
        )

    def start(self) -> None:
        self._before = self.counter.snapshot()
        self._started = asyncio.get_running_loop().time()

    def per(self, requests: int) -> PerRequest:
        elapsed = asyncio.get_running_loop().time() - self._started
        made = self.counter.snapshot()
        made.subtract(self._before)

        def net(kind: str) -> float:
            return max(0.0, (made[kind] - self.idle[kind] * elapsed) / requests)

        return PerRequest(net("sql"), net("tx") + net("reset"))
