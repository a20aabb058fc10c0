"""UserError: an expected failure of a mutation, listed in its payload."""

from __future__ import annotations

import strawberry

from schema.enums import ErrorCodeEnum
from workflow.errors import DomainError


@strawberry.type
class UserError:
    code: ErrorCodeEnum
    message: str
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, as named in the input."
    )

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)
