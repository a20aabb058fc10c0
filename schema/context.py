"""The per-request context: caller's scope, request id and the request's DataLoaders.

A websocket connection has one context for its whole life: its scope comes from the token in
`connection_init`, and its loaders are renewed per operation and per subscription event, so
nothing is served from a stale cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from schema.loaders import Loaders
from workflow.scope import Scope

if TYPE_CHECKING:
    from realtime.hub import Hub

SLOW_CONSUMER_CLOSE_CODE = 4413


@dataclass
class Context:
    request: Request | WebSocket
    scope: Scope
    request_id: str
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.scope)

    @property
    def hub(self) -> Hub:
        hub: Hub = self.request.app.state.hub
        return hub

    async def charge(self, cost: int) -> float:
        """Spend an operation's cost on the token's and the firm's rate limits; the seconds
        to wait if one is exhausted (a RATE_LIMITED error: web answers it 429), else 0."""
        state = self.request.app.state
        budgets = [
            (f"token:{self.scope.token_id}", state.settings.token_cost_per_minute),
            (f"firm:{self.scope.firm_id}", state.settings.firm_cost_per_minute),
        ]
        wait: float = await state.rate_limiter.charge(budgets, cost)
        return wait

    def close_slow_consumer(self) -> None:
        """A subscriber's queue overflowed: close its websocket; it resumes from its cursor."""
        if isinstance(self.request, WebSocket):
            task = asyncio.create_task(
                self.request.close(
                    code=SLOW_CONSUMER_CLOSE_CODE, reason="too slow: resume from your last cursor"
                )
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


Info: TypeAlias = StrawberryInfo[Context, None]
