"""The client portal's endpoint, POST /portal/graphql: its schema (api.portal), its context,
and the authentication of portal session tokens.

A request without an Authorization header goes on with no caller: the schema lets it ask
requestPortalLink and signIn, nothing else (401). A request with a header must carry a live
portal session token (401 otherwise, before anything runs); a staff API token is refused here
with a message that says where it works, as a portal token is at /graphql (web.middleware).
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as StarletteScope
from starlette.websockets import WebSocket

import settings as settings_module
from api.portal import portal_schema
from schema.portal_context import PortalContext
from web.graphql_http import JSONGraphQL
from web.middleware import BodyLimit, Timeout, bearer_token, caller_of, unauthenticated
from workflow import portal_auth
from workflow.firms import TOKEN_PREFIX

PATH = "/portal/graphql"
REALM = "workflow-portal"
STAFF_TOKEN_HERE = (
    "a staff API token does not work at /portal/graphql: use it at /graphql (the portal "
    "needs a portal session token, from signIn)"
)
BAD_SESSION = (
    "the portal session token is invalid, expired or revoked: sign in again "
    "(requestPortalLink, then signIn)"
)


class PortalAuth:
    """A portal session token's caller on the request state (`portal_caller`, and its firm
    scope as `scope` for the request log); none without an Authorization header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: StarletteScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        state = scope.setdefault("state", {})
        if token is None:
            state["portal_caller"] = None
            await self.app(scope, receive, send)
            return
        if token.startswith(TOKEN_PREFIX):
            await unauthenticated(send, STAFF_TOKEN_HERE, REALM)
            return
        caller = await caller_of(send, portal_auth.authenticate(token), BAD_SESSION, REALM)
        if caller is None:
            return
        state["portal_caller"] = caller
        state["scope"] = caller.scope
        await self.app(scope, receive, send)


class PortalGraphQLApp(JSONGraphQL[PortalContext]):
    async def get_context(self, request: Request | WebSocket, response: object) -> PortalContext:
        assert isinstance(request, Request)  # HTTP only: the route has no websocket
        state = request.state
        return PortalContext(
            request=request,
            request_id=getattr(state, "request_id", None) or uuid.uuid4().hex[:16],
            caller=getattr(state, "portal_caller", None),
        )


def portal_route(config: settings_module.Settings) -> Route:
    """POST /portal/graphql, behind the staff endpoint's body limit and request timeout (no
    GraphiQL, no GET, no websocket: the portal's front end posts its documents)."""
    app = PortalGraphQLApp(portal_schema, graphql_ide=None, allow_queries_via_get=False)
    return Route(
        PATH,
        BodyLimit(
            Timeout(PortalAuth(app), config.request_timeout),
            config.max_body_bytes,
            config.body_timeout,
        ),
        methods=["POST"],
    )


__all__ = ["PATH", "PortalAuth", "portal_route"]
