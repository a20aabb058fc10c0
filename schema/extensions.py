"""Error handling for every operation.

Expected failures (DomainError) reach the client with their code; anything else is logged with
the request id and replaced by a masked error that carries only that id. Applied by
Schema.process_errors, which every result passes through, queries and subscription events alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError

from models.outage import database_unavailable
from schema.documents import DocumentCache, document_key
from schema.loaders import Loaders
from workflow.errors import DomainError

log = logging.getLogger("workflow.errors")
UNAVAILABLE = "SERVICE_UNAVAILABLE"


def present_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """The error as the client may see it (see the module's docstring)."""
    original = error.original_error
    if isinstance(original, DomainError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": str(original.code), "field": original.field},
        )
    if original is None or isinstance(original, GraphQLError):
        return error  # a validation or syntax error: safe and useful as it is
    if isinstance(original, InvalidOperationTypeError):  # e.g. a mutation over graphql-ws
        return GraphQLError(
            f"{original.operation_type.value} operations are not allowed here",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "BAD_REQUEST"},
        )
    if database_unavailable(original):
        log.warning("database unavailable request_id=%s: %s", request_id, original)
        return GraphQLError(
            "the database is unavailable: retry shortly (with the same Idempotency-Key)",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": UNAVAILABLE, "requestId": request_id, "retryable": True},
        )
    log.error(
        "unexpected error request_id=%s path=%s",
        request_id,
        error.path,
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        f"Internal server error (request id {request_id})",
        nodes=error.nodes,
        path=error.path,
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


# A parse keeps its source and every token: ~120 bytes per character of a dense document.
PARSED_MAX_CHARS = 500_000
PARSED: DocumentCache[DocumentNode] = DocumentCache(1000, PARSED_MAX_CHARS)


class ParsedOnce(SchemaExtension):
    """Parse each document text once (clients send the same few documents again and again),
    keyed by its digest (schema.documents; a long document is parsed each time). A document
    that does not parse is left to strawberry, which reports the syntax error on every
    transport (a cache raising here would escape the websocket handlers)."""

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        digest = document_key(execution.query)
        if (
            execution.query is not None
            and digest is not None
            and (execution.graphql_document is None)
        ):
            key = (digest, tuple(sorted(execution.parse_options.items())))
            document = PARSED.get(key)
            if document is None:
                with contextlib.suppress(GraphQLError):
                    document = parse(execution.query, **execution.parse_options)
                    PARSED.put(key, document, len(execution.query))
            execution.graphql_document = document
        yield
