"""A minimal keep-alive HTTP/1.1 GraphQL client.

httpx spends ~0.5 ms of CPU per request; on a 2-core machine shared with the servers and
PostgreSQL that is measurable, so the load generator speaks the protocol directly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import orjson


class GraphQLError(Exception):
    """A response with a non-200 status, GraphQL errors, or payload errors."""


class GraphQL:
    """One connection to a server; requests on it are sequential. `path`: the endpoint
    (/portal/graphql for the client portal); no `token`, no Authorization header."""

    def __init__(self, url: str, token: str | None, path: str = "/graphql") -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"{authorization}Content-Type: application/json\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> GraphQL:
        await self.connect()
        return self

    async def connect(self) -> None:
        if self.writer:
            self.writer.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def __aexit__(self, *_: object) -> None:
        if self.writer:
            self.writer.close()

    async def timed(self, query: str, **variables: Any) -> tuple[float, dict[str, Any]]:
        """(milliseconds, data) of one request; raises GraphQLError on any error."""
        started = time.perf_counter()
        status, body = await self.post(orjson.dumps({"query": query, "variables": variables}))
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise GraphQLError(f"HTTP {status}: {body[:300]!r}")
        answer = orjson.loads(body)
        if answer.get("errors"):
            raise GraphQLError(str(answer["errors"])[:300])
        return elapsed, answer["data"]

    async def post(self, body: bytes) -> tuple[int, bytes]:
        async with asyncio.timeout(300):  # a hung server fails the run instead of stalling it
            try:
                return await self._exchange(body)
            except (asyncio.IncompleteReadError, ConnectionResetError) as error:
                # The server closes keep-alive connections idle for 5 s: only a request that
                # got no answer at all is sent again, on a new connection.
                if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                    raise
                await self.connect()
                return await self._exchange(body)

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None, "not connected"
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            content = await self._chunks()
        else:
            content = await self.reader.readexactly(int(headers.get("content-length", 0)))
        return int(status_line.split()[1]), content

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readuntil(b"\r\n")
        return b"".join(parts)


def payload_errors(data: dict[str, Any]) -> list[Any]:
    """The `errors` of a mutation's payload (the first field of `data`)."""
    return list(next(iter(data.values())).get("errors") or [])
