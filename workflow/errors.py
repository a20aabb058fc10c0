"""Domain errors: expected failures with a machine-readable code, shown to clients as UserErrors."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    INVALID_ID = "INVALID_ID"
    INVALID_INPUT = "INVALID_INPUT"
    WRONG_PIPELINE = "WRONG_PIPELINE"
    JOB_ARCHIVED = "JOB_ARCHIVED"
    WIP_LIMIT_REACHED = "WIP_LIMIT_REACHED"
    STAGE_NOT_EMPTY = "STAGE_NOT_EMPTY"
    PIPELINE_NOT_EMPTY = "PIPELINE_NOT_EMPTY"
    LAST_STAGE = "LAST_STAGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    BULK_REFUSED = "BULK_REFUSED"  # an atomic bulk call with a failed item: nothing written


class DomainError(Exception):
    """An expected failure; nothing was written."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def not_found(what: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", field)


def invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def forbidden(message: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message, field)
