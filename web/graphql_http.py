"""What the two GraphQL endpoints (staff /graphql, the portal's /portal/graphql) do alike over
HTTP: JSON encoding, malformed bodies answered as GraphQL errors, the HTTP status of an answer
(web.status), and the write guard around every request (models.writes)."""

from __future__ import annotations

import json
from typing import TypeVar

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Send
from starlette.types import Scope as StarletteScope
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse

from models import writes
from web.status import http_status

ContextT = TypeVar("ContextT")


def encode_json(data: object) -> bytes:
    """orjson, which is several times faster; the standard library for what orjson refuses
    (a lone surrogate a client sent, echoed in an error message, is not UTF-8)."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":")).encode()


class JSONGraphQL(GraphQL[ContextT, None]):
    async def __call__(self, scope: StarletteScope, receive: Receive, send: Send) -> None:
        with writes.checked():  # even in the test suite, whose own set-up is not checked
            await self._serve(scope, receive, send)

    async def _serve(self, scope: StarletteScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:  # malformed requests: a GraphQL error like any other
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)

    def encode_json(self, data: object) -> bytes:
        return encode_json(data)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if status := http_status(response_data):
            response.status_code, retry_after = status
            if retry_after is not None:
                response.headers["Retry-After"] = retry_after
            if response.status_code == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="workflow"'
        return response

    def parse_json(self, data: str | bytes) -> object:
        try:
            parsed = super().parse_json(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "the body is not UTF-8 JSON") from None
        if not isinstance(parsed, dict | list):  # null, a string, a number: not a request
            raise HTTPException(400, 'the body must be a JSON object: {"query": ...}')
        return parsed
