"""The Starlette application: GraphQL (HTTP and websockets) at /graphql, GraphiQL there for
browsers (its assets at /static/graphiql), the client portal at /portal/graphql (web.portal),
health at /healthz and /readyz, and the lifespan that owns the database, the broker and the
event feeds."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

import settings as settings_module
from api import schema
from models.db import close_database, open_database, ping
from realtime.broker import create_broker
from realtime.hub import Hub
from schema.context import Context
from web import graphiql, workers
from web.exports import ExportDownload
from web.graphql_http import JSONGraphQL
from web.idempotency import Idempotency
from web.live import LiveFeeds
from web.middleware import BearerAuth, BodyLimit, RequestLog, Timeout
from web.pages import page_routes
from web.portal import portal_route
from web.ratelimit import create_rate_limiter
from web.sockets import OpenSockets, StartLimits
from web.subscriptions import GraphQLWebSockets
from web.subscriptions import serve as serve_websocket
from workflow import firms, portal_auth, unit
from workflow.scope import NOBODY

log = logging.getLogger("workflow")
IDEMPOTENCY_LEASE = timedelta(seconds=5)  # beyond the request timeout


class GraphQLApp(JSONGraphQL[Context]):
    """GraphQL over HTTP; websockets are web.subscriptions'."""

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page()  # ours: a sign-in box for the token, assets served here

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        state = request.state
        return Context(
            request=request,
            scope=getattr(state, "scope", NOBODY),
            request_id=getattr(state, "request_id", None) or uuid.uuid4().hex[:16],
        )


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
        app.state.live = LiveFeeds(hub, config.subscription_queue_size)
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

    graphql = GraphQLApp(schema, subscription_protocols=())
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
            WebSocketRoute("/graphql", GraphQLWebSockets()),
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


class Served:
    """The served application: websockets at /graphql straight to their handler (Starlette's
    middleware and router would keep five coroutine frames, ~3 KB, per open socket), the rest
    through the request log to the app."""

    def __init__(self, app: Starlette) -> None:
        self.app, self.logged = app, RequestLog(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/graphql":
            scope["app"] = self.app
            await serve_websocket(scope, receive, send)
        else:
            await self.logged(scope, receive, send)


def asgi_app() -> Served:
    """The served application (uvicorn factory)."""
    return Served(create_app(runner=os.environ.get("WORKFLOW_NO_RUNNER") != "1"))
