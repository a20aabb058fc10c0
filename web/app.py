"""The Starlette application: GraphQL (HTTP and websockets) at /graphql, GraphiQL there for
browsers (its assets at /static/graphiql), the client portal at /portal/graphql (web.portal),
health at /healthz and /readyz, and the lifespan that owns the database, the broker and the
event feeds."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from datetime import timedelta
from typing import Any, overload

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage
from strawberry.types.unset import UNSET

import settings as settings_module
from api import schema
from models.db import close_database, open_database, ping
from models.firm import Permission
from realtime.broker import create_broker
from realtime.hub import Hub
from schema.context import Context
from web import graphiql, workers
from web.exports import ExportDownload
from web.graphql_http import JSONGraphQL, encode_json
from web.idempotency import Idempotency
from web.middleware import BearerAuth, BodyLimit, RequestLog, Timeout
from web.pages import page_routes
from web.portal import portal_route
from web.ratelimit import create_rate_limiter
from web.sockets import OpenSockets, StartLimits
from workflow import firms, portal_auth, unit
from workflow.errors import ErrorCode
from workflow.firms import authenticate
from workflow.scope import NOBODY

log = logging.getLogger("workflow")
UNAUTHORIZED = 4401
FORBIDDEN = 4403
BAD_MESSAGE = 4400
TOO_MANY = 4429  # graphql-transport-ws's "too many requests"
MESSAGES_PER_SOCKET, MESSAGE_WINDOW = 200, 10.0  # what one socket may send (then 4429)
MESSAGE_REFILL = MESSAGES_PER_SOCKET / MESSAGE_WINDOW
# Seconds before a socket over a limit is closed: a client that reconnects at once, in a loop,
# then costs a handshake a second instead of taking the event loop from everyone else.
REFUSAL_DELAY = 1.0
CONNECTION_INIT_TIMEOUT = timedelta(seconds=5)
MAX_SUBSCRIPTIONS_PER_SOCKET = 100
IDEMPOTENCY_LEASE = timedelta(seconds=5)  # beyond the request timeout


def bearer(params: Mapping[str, Any] | None) -> str:
    """The token of a connection_init payload; the key is matched case-insensitively."""
    for key, value in (params or {}).items():
        if key.lower() == "authorization" and isinstance(value, str):
            kind, _, token = value.partition(" ")
            return token.strip() if kind.lower() == "bearer" else ""
    return ""


class WebSocketAdapter(ASGIWebSocketAdapter):
    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        """Messages, each checked for the shape the protocols need: anything else closes the
        socket with 4400 instead of failing inside the protocol handler. A socket sending more
        than MESSAGES_PER_SOCKET in MESSAGE_WINDOW seconds (a burst of that many, then
        refilled evenly) is closed with 4429: each message costs the event loop, answered or not.
        """
        budget, at = float(MESSAGES_PER_SOCKET), time.monotonic()
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                now = time.monotonic()
                budget = min(MESSAGES_PER_SOCKET, budget + (now - at) * MESSAGE_REFILL)
                at = now
                if budget < 1:
                    await asyncio.sleep(REFUSAL_DELAY)
                    await self.close(
                        TOO_MANY, f"over {MESSAGES_PER_SOCKET} messages in {MESSAGE_WINDOW:.0f} s"
                    )
                    return
                budget -= 1
                if problem := _malformed(message):
                    await self.close(BAD_MESSAGE, problem)
                    return
                yield message
                # Messages already received come without a pause: without this, a socket's
                # backlog would be handled in one go while every other socket waits.
                await asyncio.sleep(0)
        finally:
            # Closed: it no longer counts for its caller, even while its operations wind down.
            self.ws.app.state.sockets.remove(self.ws)

    async def send_json(self, message: Mapping[str, object]) -> None:
        """As text frames, which graphql-ws clients expect (encode_json gives bytes)."""
        try:
            await self.ws.send_text(encode_json(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        # A refused connection_init closes with the code (and reason) on_ws_connect chose.
        state = self.ws.state
        code = getattr(state, "refusal_code", code)
        reasons = {UNAUTHORIZED: "Unauthorized", FORBIDDEN: "Forbidden"}
        await super().close(code, getattr(state, "refusal_reason", reasons.get(code, reason)))


def _malformed(message: object) -> str | None:
    """Why a websocket message cannot be handled, or None."""
    if not isinstance(message, dict):
        return "each message must be a JSON object"
    if message.get("type") in ("subscribe", "start"):
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "subscribe needs a payload object with a query string"
        if not isinstance(payload.get("variables"), dict | None):
            return "variables must be an object"
    return None


def _rate_limited(wait: float) -> GraphQLError:
    return GraphQLError(
        f"too many subscription starts: retry in {math.ceil(wait)} s",
        extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": math.ceil(wait)},
    )


def _start_refused(context: Context) -> float:
    """0 if the caller may start one more operation (and it is counted), else the seconds
    to wait."""
    sockets: OpenSockets = context.request.app.state.sockets
    return sockets.starts.take(context.scope)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Cancelled by now: dropped, rather than kept with its CancelledError for the socket's
        # whole life (~2 KB a socket).
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Counted only when it would start (acknowledged, a new id, room on this socket).
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) < MAX_SUBSCRIPTIONS_PER_SOCKET
            and (wait := _start_refused(self.context))
        ):
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [_rate_limited(wait).formatted]}
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_start(self, message: StartMessage) -> None:
        if (
            self.connection_acknowledged
            and len(self.tasks) < MAX_SUBSCRIPTIONS_PER_SOCKET
            and (wait := _start_refused(self.context))
        ):
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": _rate_limited(wait).formatted}
            )
            return
        await super().handle_start(message)


class GraphQLApp(JSONGraphQL[Context]):
    websocket_adapter_class = WebSocketAdapter  # type: ignore[assignment]  # (mypy: generic base)
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page()  # ours: a sign-in box for the token, assets served here

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        state = request.state
        return Context(
            request=request,
            scope=getattr(state, "scope", NOBODY),
            request_id=getattr(state, "request_id", None) or uuid.uuid4().hex[:16],
        )

    async def on_ws_connect(self, context: Context) -> None:
        caller = await authenticate(bearer(context.connection_params))
        if caller is None or not caller.can(Permission.READ):  # every subscription reads
            context.request.state.refusal_code = UNAUTHORIZED if caller is None else FORBIDDEN
            raise ConnectionRejectionError(
                {
                    "message": "a valid bearer token is required"
                    if caller is None
                    else "the READ scope is required"
                }
            )
        if refusal := context.request.app.state.sockets.admit(context.request, caller):
            await asyncio.sleep(REFUSAL_DELAY)
            context.request.state.refusal_code = TOO_MANY
            context.request.state.refusal_reason = refusal
            raise ConnectionRejectionError(
                {"message": refusal, "extensions": {"code": ErrorCode.RATE_LIMITED.value}}
            )
        context.scope = caller
        context.request.state.scope = caller

    @overload
    async def run(
        self, request: Request, context: Context = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self, request: Request | WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> Response | WebSocket:
        try:
            return await super().run(request, context, root_value)
        finally:
            if isinstance(request, WebSocket):  # over: it no longer counts for its caller
                request.app.state.sockets.remove(request)


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await ping()
        database = "ok"
    except Exception as error:  # any failure means "not ready"; say which part
        log.warning("readyz: database unreachable: %s", error)
        database = "down"
    broker = "ok" if await request.app.state.hub.broker.ping() else "down"
    status = 200 if database == broker == "ok" else 503
    return JSONResponse({"database": database, "broker": broker}, status_code=status)


def create_app(
    settings: settings_module.Settings | None = None,
    *,
    own_database: bool = True,
    runner: bool = True,
) -> Starlette:
    """The app; `own_database=False` when the caller (a test) has opened the database, and
    `runner=False` when separate `python server.py worker` processes run the automations."""
    config = settings or settings_module.load()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if own_database:
            await open_database(config.database_url, secret_key=config.secret_key)
        broker = create_broker(config.redis_url, on_reconnect=lambda: hub.wake_all())
        hub = Hub(broker, config.subscription_queue_size)
        app.state.hub = hub
        await hub.start()
        sockets = app.state.sockets = OpenSockets(
            broker,
            config.max_sockets_per_token,
            config.max_sockets_per_firm,
            StartLimits(config.token_starts_per_10s, config.firm_starts_per_10s),
        )
        await sockets.start()
        firms.on_revoked(sockets.announce)
        unit.on_commit(hub.publish)
        workers.configure(config)
        try:
            async with workers.running(config) if runner else nullcontext():
                yield
        finally:
            unit.remove_commit_callback(hub.publish)
            firms.remove_revoked_listener(sockets.announce)
            await sockets.close()
            await portal_auth.settle()  # link requests answered, their emails not yet written
            await app.state.rate_limiter.close()
            await hub.close()
            if own_database:
                await close_database()

    graphql = GraphQLApp(
        schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,  # then 4408
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_SOCKET,  # more: an error each
    )
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(
                "/graphql",
                BodyLimit(
                    Timeout(
                        BearerAuth(
                            Idempotency(
                                graphql,
                                lease=IDEMPOTENCY_LEASE + timedelta(seconds=config.request_timeout),
                            )
                        ),
                        config.request_timeout,
                    ),
                    config.max_body_bytes,
                    config.body_timeout,
                ),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql),
            # Not under Timeout: a large file takes as long as the client reads it.
            Route("/exports/{export_id}", ExportDownload(), methods=["GET"]),
            Mount(graphiql.ASSETS_PATH, app=graphiql.assets()),
            portal_route(config),
            *page_routes("board"),
            *page_routes("portal"),  # after portal_route: /portal/graphql is not a file
        ],
        lifespan=lifespan,
    )
    app.state.settings = config
    app.state.rate_limiter = create_rate_limiter(config.redis_url)
    return app


def asgi_app() -> RequestLog:
    """The served application: the app wrapped in the request log (uvicorn factory)."""
    return RequestLog(create_app(runner=os.environ.get("WORKFLOW_NO_RUNNER") != "1"))
