"""Subscription events executed once per distinct question, not once per subscriber.

A board event is one object shared by every local subscriber of its feed (resolvers.live).
Subscribers asking the same thing (same document, variables, firm and permissions) get the
same ExecutionResult: the selection is resolved once per event per process, however many
watch the board. Only the sending stays per subscriber.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.documents import document_key


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        results: dict[Any, Any] | None = getattr(payload, "shared_results", None)
        if results is None:
            return executor
        key = self._shared_key()
        execute = executor.execute_operation

        def execute_once(serially: bool | None = None) -> Any:
            if key not in results:
                result = execute(serially)
                # a task, so that every subscriber may await the one execution
                results[key] = (
                    asyncio.ensure_future(result) if inspect.isawaitable(result) else result
                )
            return results[key]

        executor.execute_operation = execute_once  # type: ignore[method-assign]
        return executor

    def _shared_key(self) -> tuple[Any, ...]:
        """What makes two subscriptions' results equal; made once per subscription."""
        if (key := getattr(self, "_key", None)) is None:
            scope = self.context_value.scope
            digest = document_key(self.operation.loc.source.body) if self.operation.loc else None
            key = self._key = (
                digest or id(self.operation),  # a digest, not the text (schema.documents)
                self.operation.name.value if self.operation.name else None,
                json.dumps(self.variable_values, sort_keys=True, default=str),
                scope.firm_id,
                scope.permissions,
            )
        return key
