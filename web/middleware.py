"""ASGI middleware: a request id and one log line per request; bearer-token authentication
(the client portal's tokens are authenticated by web.portal, and refused here)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable
from typing import TypeVar

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.outage import database_unavailable
from workflow.firms import authenticate
from workflow.portal_auth import SESSION_PREFIX
from workflow.scope import Scope as WorkflowScope

log = logging.getLogger("workflow.requests")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class RequestLog:
    """Gives each request an id (X-Request-ID if the client sent a sane one) and logs it once:
    id, method, path, status, GraphQL operation, firm and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, b"x-request-id")
        request_id = sent if sent and REQUEST_ID_RE.match(sent) else uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            caller = state.get("scope")
            log.info(
                "request id=%s %s %s status=%s op=%s firm=%s ms=%.1f",
                request_id,
                scope["method"],
                scope["path"],
                status,
                state.get("operation", "-"),
                caller.firm_id if caller else "-",
                (time.perf_counter() - started) * 1000,
            )


class BearerAuth:
    """Every GraphQL request needs `Authorization: Bearer <token>`; the GraphiQL page itself
    (a GET without a query) is served to anyone. The caller's Scope goes on the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "GET" and "query" not in QueryParams(scope["query_string"])
        ):
            await self.app(scope, receive, send)
            return
        if (caller := await staff_caller(scope, send)) is None:
            return
        scope.setdefault("state", {})["scope"] = caller
        await self.app(scope, receive, send)


NO_TOKEN = "a valid bearer token is required (Authorization: Bearer <token>)"
PORTAL_TOKEN_HERE = (
    "a client portal session token does not work at /graphql: it works only at /portal/graphql "
    "(staff and integrations use an API token here)"
)


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; "" for another kind of
    header, None without one."""
    header = _header(scope, b"authorization")
    if header is None:
        return None
    kind, _, token = header.partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


Caller = TypeVar("Caller")


async def caller_of(
    send: Send, lookup: Awaitable[Caller | None], refusal: str, realm: str = "workflow"
) -> Caller | None:
    """The caller a token names; None once the request is answered: 401 with `refusal` if
    the token names nobody, 503 if the database cannot say."""
    try:
        caller = await lookup
    except Exception as error:
        if not database_unavailable(error):
            raise
        log.warning("database unavailable: %s", error)
        await _send_error(
            send,
            503,
            "SERVICE_UNAVAILABLE",
            "the database is unavailable: retry shortly",
            RETRY_SOON,
        )
        return None
    if caller is None:
        await unauthenticated(send, refusal, realm)
    return caller


async def staff_caller(scope: Scope, send: Send) -> WorkflowScope | None:
    """The caller an API token names (staff, integrations); None once the request is
    answered: 401 without a valid token or with a client portal session's, 503 if the database
    cannot say."""
    token = bearer_token(scope) or ""
    if token.startswith(SESSION_PREFIX):
        await unauthenticated(send, PORTAL_TOKEN_HERE)
        return None
    return await caller_of(send, authenticate(token), NO_TOKEN)


async def unauthenticated(send: Send, message: str, realm: str = "workflow") -> None:
    challenge = f'Bearer realm="{realm}"'.encode()
    await _send_error(send, 401, "UNAUTHENTICATED", message, (b"www-authenticate", challenge))


def _json_error(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json")],
    }
    return start, {"type": "http.response.body", "body": body}


RETRY_SOON = (b"retry-after", b"1")


async def _send_error(
    send: Send, status: int, code: str, message: str, *headers: tuple[bytes, bytes]
) -> None:
    start, body = _json_error(status, code, message)
    start["headers"].extend(headers)
    await send(start)
    await send(body)


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):  # not a TimeoutError: Timeout would answer it as its own
    pass


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, by header or while reading, and
    bodies not complete `timeout` seconds after the request began with 408 (the connection
    is then closed: see web/protocol.py for bodies nobody reads)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        started = False
        deadline = asyncio.get_running_loop().time() + self.timeout if self.timeout else None

        async def counted() -> Message:
            nonlocal seen, deadline
            if deadline is None:  # no limit, or the body is complete (then it waits for
                return await receive()  # the client to leave, which may take any time)
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            if not message.get("more_body"):
                deadline = None
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(send)
        except _TooSlow:
            log.warning("request body not complete after %g s", self.timeout)
            if not started:
                await _send_error(
                    send,
                    408,
                    "REQUEST_TIMEOUT",
                    f"the request body took over {self.timeout:g} s",
                    (b"connection", b"close"),
                )

    async def _refuse(self, send: Send) -> None:
        for message in _json_error(
            413, "REQUEST_TOO_LARGE", f"the request body is over {self.max_bytes} bytes"
        ):
            await send(message)


class Timeout:
    """Cancels a request still running after `seconds`: 503 with Retry-After if nothing was
    sent yet. A cancelled change rolls back, so a timed-out mutation changed nothing."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracked)
        except TimeoutError:
            log.warning("request timed out after %.0f s", self.seconds)
            if not started:
                await _send_error(
                    send,
                    503,
                    "TIMEOUT",
                    f"the request took over {self.seconds:.0f} s; retry later",
                    RETRY_SOON,
                )
