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
from typing import Any, TypeAlias

from graphql.execution import ExecutionResult, Executor, ExperimentalIncrementalExecutionResults
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.documents import document_key

Result: TypeAlias = AwaitableOrValue[ExecutionResult | ExperimentalIncrementalExecutionResults]


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if getattr(payload, "shared_results", None) is not None:
            self._shared_key()  # made once per subscription: each event's copy inherits it
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Result:
        # an event's executor runs on the event (schema.events.BoardEventType) as root value
        results: dict[Any, Result] | None = getattr(self.root_value, "shared_results", None)
        if results is None:
            return super().execute_operation(serially)
        key = self._shared_key()
        if key not in results:
            result = super().execute_operation(serially)
            # a task, so that every subscriber may await the one execution
            results[key] = asyncio.ensure_future(result) if inspect.isawaitable(result) else result
        return results[key]

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
