"""The Starlette application: GraphQL at /graphql, health at /healthz and /readyz."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

import settings as settings_module
from models.db import close_database, open_database, ping
from schema import schema
from schema.context import Context
from web.middleware import BearerAuth, RequestLog
from workflow.scope import Scope

NOBODY = Scope(firm_id=-1, user_id=None)

log = logging.getLogger("workflow")


class GraphQLApp(GraphQL[Context, None]):
    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        return Context(
            request=request,  # type: ignore[arg-type]
            # Only the GraphiQL page comes without a caller (see BearerAuth): it sees nothing.
            scope=getattr(request.state, "scope", NOBODY),
            request_id=request.state.request_id,
        )


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(_: Request) -> JSONResponse:
    try:
        await ping()
    except Exception as error:  # any failure means "not ready"; say which part
        log.warning("readyz: database unreachable: %s", error)
        return JSONResponse({"database": "down", "broker": "ok"}, status_code=503)
    return JSONResponse({"database": "ok", "broker": "ok"})


def create_app(settings: settings_module.Settings | None = None) -> Starlette:
    config = settings or settings_module.load()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await open_database(config.database_url)
        try:
            yield
        finally:
            await close_database()

    # Subscriptions arrive with the live-boards work; until then no websocket is accepted.
    graphql = BearerAuth(GraphQLApp(schema, subscription_protocols=()))
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )


def asgi_app() -> RequestLog:
    """The served application: the app wrapped in the request log (uvicorn factory)."""
    return RequestLog(create_app())
