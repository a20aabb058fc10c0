"""The composed schema: root types merged from the per-domain resolvers, the object types
they return, and the extensions every operation passes through. The top of the GraphQL
layers: nothing below imports it (`python -m api > schema.graphql` prints it)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.automations import AutomationMutations
from resolvers.bulk import BulkMutations
from resolvers.clients import ClientMutations, ClientQueries
from resolvers.custom_fields import CustomFieldMutations, CustomFieldQueries
from resolvers.documents import DocumentMutations
from resolvers.emails import EmailMutations
from resolvers.exports import ExportMutations, ExportQueries
from resolvers.jobs import JobMutations, JobQueries
from resolvers.live import LiveSubscriptions
from resolvers.nodes import NodeQueries
from resolvers.people import PeopleMutations, PeopleQueries
from resolvers.pipelines import PipelineMutations, PipelineQueries
from resolvers.schedules import ScheduleMutations, ScheduleQueries
from resolvers.tasks import TaskMutations
from resolvers.templates import TemplateMutations, TemplateQueries
from resolvers.webhooks import WebhookMutations, WebhookQueries
from schema.extensions import OperationSetup, ParsedOnce, present_error
from schema.guard import Guard
from schema.introspection import IntrospectionAnswers
from schema.nodes import NODE_TYPES
from schema.planned import PlannedReads
from schema.result_cache import ResultCache
from schema.shape import shape_rule
from schema.shared_events import SharedEventExecutor

Query = merge_types(
    "Query",
    (
        NodeQueries,
        PipelineQueries,
        JobQueries,
        ClientQueries,
        PeopleQueries,
        WebhookQueries,
        TemplateQueries,
        ScheduleQueries,
        CustomFieldQueries,
        ExportQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        PipelineMutations,
        ClientMutations,
        JobMutations,
        BulkMutations,
        TaskMutations,
        TemplateMutations,
        AutomationMutations,
        DocumentMutations,
        EmailMutations,
        PeopleMutations,
        WebhookMutations,
        ScheduleMutations,
        CustomFieldMutations,
        ExportMutations,
    ),
)
Subscription = merge_types("Subscription", (LiveSubscriptions,))

MAX_TOKENS = 3_000
MAX_DEPTH = 15
MAX_ALIASES = 30


class ShapeLimits(AddValidationRules):
    """Depth (introspection fields included) and aliases, one rule built once (see
    schema.shape): strawberry's limiters skip introspection, walk a fragment at every spread,
    and build new validator classes for every operation."""

    RULES: list[type[ASTValidationRule]] = [shape_rule(MAX_DEPTH, MAX_ALIASES)]

    def __init__(self) -> None:
        super().__init__(self.RULES)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors and mask them, in place: the result holds this very list
        (web.status answers an unavailable database 503)."""
        context = getattr(execution_context, "context", None)
        errors[:] = [present_error(error, getattr(context, "request_id", "-")) for error in errors]


schema = Schema(
    query=Query,
    mutation=Mutation,
    types=[graphql_type for _, graphql_type in NODE_TYPES.values()],
    subscription=Subscription,
    # Limits checked before anything runs: the document's size and shape, then (Guard) the
    # caller's permissions, root fields, cost and rate limits.
    extensions=[
        ParsedOnce,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ShapeLimits,
        Guard,
        IntrospectionAnswers,
        OperationSetup,
        ResultCache,  # after the guard: a cached answer is still refused and charged
        PlannedReads,  # a cache miss over the board graph: answered by its plan
    ],
    execution_context_class=SharedEventExecutor,
)

__all__ = ["schema"]
