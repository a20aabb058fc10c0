"""The guard of the client portal's operations (schema.guard, with the portal's caller).

Before sign-in only PUBLIC_FIELDS may be asked (UNAUTHENTICATED otherwise, which web answers
401); the size, shape and cost limits are the staff endpoint's; the cost is charged to the
session and to the firm's portal traffic, or before sign-in to the client's IP address. A
signed-in contact's mutation fields are counted too, at most PORTAL_WRITES_PER_MINUTE: each is
a row, an event, board events and webhook deliveries for the firm, and the cost budget (an
integration's) would let one contact write thousands a minute. Every
portal caller may ask every field of the portal schema: what a contact sees is decided by the
resolvers, which read only their client's rows.
"""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types.graphql import OperationType

from models.firm import Permission
from schema.guard import Analysis, Guard
from schema.portal_context import UNAUTHENTICATED_MESSAGE, PortalContext
from workflow.errors import ErrorCode
from workflow.scope import EVERYTHING

PUBLIC_FIELDS = frozenset({"requestPortalLink", "signIn", "__typename"})
# Mutation fields a contact may run per minute, whatever its sessions (see spend).
PORTAL_WRITES_PER_MINUTE = 60


class PortalGuard(Guard):
    writes = 0  # the operation's mutation fields

    def permissions(self) -> frozenset[Permission]:
        return EVERYTHING

    def refused(self, analysis: Analysis) -> list[GraphQLError]:
        context: PortalContext = self.execution_context.context
        if self.execution_context.operation_type == OperationType.MUTATION:
            self.writes = analysis.data_root_fields
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
        wait = await context.charge(budgets, cost)
        if wait or context.caller is None or not self.writes:
            return wait
        writes = (f"portal-writes:{context.caller.contact_id}", PORTAL_WRITES_PER_MINUTE)
        return await context.charge([writes], self.writes)
