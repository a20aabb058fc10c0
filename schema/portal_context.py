"""The per-request context of the client portal (POST /portal/graphql): the request, its id,
and the signed-in contact (a PortalCaller), or None before sign-in.

Only requestPortalLink and signIn may run without a caller (schema.portal_guard refuses
anything else before it runs, 401); a resolver reaches the caller through `caller_required`,
which is never None past the guard but says UNAUTHENTICATED rather than fail if it were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from schema.loaders import Loaders
from schema.portal_loaders import PortalLoaders
from workflow.errors import DomainError, ErrorCode
from workflow.portal_scope import PortalCaller
from workflow.scope import NOBODY, Scope

UNAUTHENTICATED_MESSAGE = (
    "a portal session token is required (Authorization: Bearer <token>): sign in with "
    "requestPortalLink and signIn"
)


def unauthenticated() -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


@dataclass
class PortalContext:
    request: Request
    request_id: str
    caller: PortalCaller | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.scope)

    @property
    def scope(self) -> Scope:
        """The firm scope of the caller (no permissions, no user), NOBODY before sign-in."""
        return self.caller.scope if self.caller else NOBODY

    @cached_property
    def client_loaders(self) -> PortalLoaders:
        """The request's loaders of the caller's client's rows (schema.portal_loaders)."""
        return PortalLoaders(self.caller_required())

    def caller_required(self) -> PortalCaller:
        """The signed-in contact; UNAUTHENTICATED if there is none."""
        if self.caller is None:
            raise unauthenticated()
        return self.caller

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else "-"

    async def charge(
        self, budgets: list[tuple[str, int]], cost: int, window: float = 60.0
    ) -> float:
        """Spend `cost` on each (key, limit) budget of a `window`-second window of the
        app's rate limiter (web.ratelimit); the seconds to wait if one is exhausted, else 0."""
        wait: float = await self.request.app.state.rate_limiter.charge(budgets, cost, window)
        return wait


PortalInfo: TypeAlias = StrawberryInfo[PortalContext, None]
