"""The client portal's schema, served at POST /portal/graphql: its own root types, merged
from the portal resolvers, apart from the staff schema (api) so that it holds exactly what a
client may see. `python -m api.portal > portal.graphql` prints it.

The portal's resolvers add their classes to PORTAL_QUERIES and PORTAL_MUTATIONS.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import MaxTokensLimiter
from strawberry.tools import merge_types

from api import MAX_TOKENS, Schema, ShapeLimits
from resolvers.portal import PortalDocumentMutations, PortalDocumentQueries
from resolvers.portal_auth import PortalAuthMutations, PortalAuthQueries
from schema.extensions import OperationSetup, ParsedOnce
from schema.introspection import IntrospectionAnswers
from schema.portal_guard import PortalGuard

# Tokens a document may hold before sign-in: requestPortalLink and signIn need a few dozen.
ANONYMOUS_MAX_TOKENS = 300


class PortalTokensLimiter(MaxTokensLimiter):
    """The staff endpoint's token limit for a signed-in contact; ANONYMOUS_MAX_TOKENS before
    sign-in. Anyone may post here, and a document is parsed and validated before any budget
    is charged: the parse of a large one is paid for by the event loop, by everyone."""

    def on_operation(self) -> Iterator[None]:
        signed_in = self.execution_context.context.caller is not None
        limit = self.max_token_count if signed_in else ANONYMOUS_MAX_TOKENS
        self.execution_context.parse_options["max_tokens"] = limit
        yield


PORTAL_QUERIES: tuple[type, ...] = (PortalAuthQueries, PortalDocumentQueries)
PORTAL_MUTATIONS: tuple[type, ...] = (PortalAuthMutations, PortalDocumentMutations)

PortalQuery = merge_types("Query", PORTAL_QUERIES)
PortalMutation = merge_types("Mutation", PORTAL_MUTATIONS)


# Schema: the staff schema's class, which logs and masks unexpected errors alike.
portal_schema = Schema(
    query=PortalQuery,
    mutation=PortalMutation,
    extensions=[
        ParsedOnce,
        lambda: PortalTokensLimiter(max_token_count=MAX_TOKENS),
        ShapeLimits,
        PortalGuard,
        IntrospectionAnswers,
        OperationSetup,
    ],
)

__all__ = ["portal_schema"]

if __name__ == "__main__":
    print(portal_schema.as_str())
