"""The guard of the client portal's operations (schema.guard, with the portal's caller).

Before sign-in only PUBLIC_FIELDS may be asked (UNAUTHENTICATED otherwise, which web answers
401); the size, shape and cost limits are the staff endpoint's; the cost is charged to the
session and to the firm's portal traffic, or before sign-in to the client's IP address. Every
portal caller may ask every field of the portal schema: what a contact sees is decided by the
resolvers, which read only their client's rows.
"""

from __future__ import annotations

from graphql import GraphQLError

from models.firm import Permission
from schema.guard import Analysis, Guard
from schema.portal_context import UNAUTHENTICATED_MESSAGE, PortalContext
from workflow.errors import ErrorCode
from workflow.scope import EVERYTHING

PUBLIC_FIELDS = frozenset({"requestPortalLink", "signIn", "__typename"})


class PortalGuard(Guard):
    def permissions(self) -> frozenset[Permission]:
        return EVERYTHING

    def refused(self, analysis: Analysis) -> list[GraphQLError]:
        context: PortalContext = self.execution_context.context
        if context.caller is None and analysis.root_names - PUBLIC_FIELDS:
            return [
                GraphQLError(
                    UNAUTHENTICATED_MESSAGE,
                    extensions={"code": str(ErrorCode.UNAUTHENTICATED)},
                )
            ]
        return []

    async def spend(self, cost: int) -> float:
        context: PortalContext = self.execution_context.context
        settings = context.request.app.state.settings
        if context.caller is None:
            budgets = [(f"portal-ip:{context.client_ip}", settings.token_cost_per_minute)]
        else:
            budgets = [
                (f"portal-session:{context.caller.session_id}", settings.token_cost_per_minute),
                (f"portal-firm:{context.caller.firm_id}", settings.firm_cost_per_minute),
            ]
        return await context.charge(budgets, cost)
