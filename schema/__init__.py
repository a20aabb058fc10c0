"""The composed schema: root types merged from the per-domain resolvers."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.automations import AutomationMutations
from resolvers.clients import ClientMutations, ClientQueries
from resolvers.documents import DocumentMutations
from resolvers.jobs import JobMutations, JobQueries
from resolvers.live import LiveSubscriptions
from resolvers.nodes import NodeQueries
from resolvers.pipelines import PipelineMutations, PipelineQueries
from resolvers.tasks import TaskMutations
from schema.extensions import OperationSetup, present_error
from schema.types import (
    AutomationRunType,
    AutomationType,
    ClientType,
    InvoiceType,
    JobEventType,
    JobType,
    MessageType,
    OrganizerType,
    PipelineType,
    StageType,
    TaskType,
    UserType,
)

Query = merge_types("Query", (NodeQueries, PipelineQueries, JobQueries, ClientQueries))
Mutation = merge_types(
    "Mutation",
    (PipelineMutations, ClientMutations, JobMutations, TaskMutations, AutomationMutations,
     DocumentMutations),
)
Subscription = merge_types("Subscription", (LiveSubscriptions,))


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors and mask them, in place: the result holds this very list."""
        request_id = getattr(getattr(execution_context, "context", None), "request_id", "-")
        errors[:] = [present_error(error, request_id) for error in errors]


schema = Schema(
    query=Query,
    mutation=Mutation,
    types=[PipelineType, StageType, JobType, TaskType, ClientType, UserType, JobEventType,
           AutomationType, AutomationRunType, OrganizerType, MessageType, InvoiceType],
    subscription=Subscription,
    extensions=[OperationSetup],
)

__all__ = ["schema"]
