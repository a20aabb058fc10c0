"""The HTTP status of a GraphQL answer over HTTP: the schema answers with error codes only,
and this layer says them plainly to HTTP clients, proxies and retrying libraries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.http import GraphQLHTTPResponse

from schema.extensions import UNAVAILABLE
from workflow.errors import ErrorCode

Answers = GraphQLHTTPResponse | list[GraphQLHTTPResponse]  # one, or a batch's


def _codes(answers: Answers) -> Iterator[tuple[str | None, Any]]:
    """(code, retryAfter) of every error of an answer, or of a batch of answers."""
    for answer in answers if isinstance(answers, list) else [answers]:
        error: Any  # formatted by graphql-core: a dict, typed `object` by strawberry
        for error in answer.get("errors") or ():
            extensions = error.get("extensions") or {}
            yield extensions.get("code"), extensions.get("retryAfter")


def http_status(answers: Answers) -> tuple[int, str | None] | None:
    """(status, Retry-After or None) that an answer calls for, or None for 200: 503 when the
    database was unavailable (retry in a second), else 401 when the operation needed a
    caller the request did not name (the portal before sign-in), else 429 when a rate limit
    refused an operation (retry when its cost is refilled)."""
    codes = list(_codes(answers))
    if any(code == UNAVAILABLE for code, _ in codes):
        return 503, "1"
    if any(code == ErrorCode.UNAUTHENTICATED for code, _ in codes):
        return 401, None
    for code, retry_after in codes:
        if code == ErrorCode.RATE_LIMITED:
            return 429, str(retry_after)
    return None
