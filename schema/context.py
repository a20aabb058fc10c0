"""The per-request context: caller's scope, request id and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from resolvers.loaders import Loaders
from workflow.scope import Scope


@dataclass
class Context:
    request: Request
    scope: Scope
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.scope)


Info: TypeAlias = StrawberryInfo[Context, None]
