"""Error handling for every operation.

Expected failures (DomainError) reach the client with their code; anything else is logged with
the request id and replaced by a masked error that carries only that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.loaders import Loaders
from workflow.errors import DomainError

log = logging.getLogger("workflow.errors")


class ErrorPolicy(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not getattr(result, "errors", None):
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "-")
        result.errors = [self._shown(error, request_id) for error in result.errors]

    def _shown(self, error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            return GraphQLError(
                original.message, nodes=error.nodes, path=error.path,
                extensions={"code": str(original.code), "field": original.field},
            )
        if original is None or isinstance(original, GraphQLError):
            return error  # a validation or syntax error: safe and useful as it is
        log.error(
            "unexpected error request_id=%s path=%s", request_id, error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        return GraphQLError(
            f"Internal server error (request id {request_id})",
            nodes=error.nodes, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


class OperationSetup(SchemaExtension):
    """Per operation: fresh DataLoaders (a websocket's context outlives its operations), and
    the operation's name on the request, for the request log line."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        context.loaders = Loaders(context.scope)
        context.request.state.operation = self.execution_context.operation_name or "-"
        yield
