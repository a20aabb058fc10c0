"""The client portal's sign-in and its caller: `me`; requestPortalLink and signIn (the two
fields that need no session token, see schema.portal_guard)."""

from __future__ import annotations

import hashlib
import math

import strawberry
from graphql import GraphQLError

from models import Client, Contact
from schema.errors import UserError
from schema.portal_context import PortalInfo
from schema.portal_types import (
    LINK_SENT,
    PortalContact,
    RequestPortalLinkInput,
    RequestPortalLinkPayload,
    SignInInput,
    SignInPayload,
)
from workflow import portal_auth
from workflow.errors import DomainError, ErrorCode

# Link requests allowed per LINK_WINDOW: per address (whoever asks) and per client IP address
# (whatever it asks for). Over either: RATE_LIMITED, for any address, known or not.
LINKS_PER_ADDRESS = 5
LINKS_PER_IP = 30
LINK_WINDOW = 15 * 60.0


def _rate_limited(wait: float) -> GraphQLError:
    return GraphQLError(
        f"too many sign-in link requests: retry in {math.ceil(wait)} s",
        extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": math.ceil(wait)},
    )


@strawberry.type
class PortalAuthQueries:
    @strawberry.field(description="The signed-in contact, with their client.")
    async def me(self, info: PortalInfo) -> PortalContact:
        caller = info.context.caller_required()
        contact = await Contact.get(id=caller.contact_id, firm_id=caller.firm_id)
        client = await Client.get(id=caller.client_id, firm_id=caller.firm_id)
        return PortalContact.from_models(contact, client)


@strawberry.type
class PortalAuthMutations:
    @strawberry.mutation(
        description=(
            "Email a sign-in link (single use, valid 15 minutes) to every contact with this "
            "address and portal access. No token needed. The answer is the same whether or not "
            "the address is known; at most 5 requests per address and 30 per client IP address "
            "per 15 minutes (then RATE_LIMITED, HTTP 429)."
        )
    )
    async def request_portal_link(
        self, info: PortalInfo, input: RequestPortalLinkInput
    ) -> RequestPortalLinkPayload:
        context = info.context
        address = input.email.strip().lower()
        # The key of an address is its digest: no address is kept in the rate limiter.
        digest = hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        wait = await context.charge(
            [
                (f"portal-link-ip:{context.client_ip}", LINKS_PER_IP),
                (f"portal-link-address:{digest}", LINKS_PER_ADDRESS),
            ],
            1,
            LINK_WINDOW,
        )
        if wait:
            raise _rate_limited(wait)
        try:
            portal_auth.request_portal_link(
                input.email, context.request.app.state.settings.public_url
            )
        except DomainError as error:
            return RequestPortalLinkPayload(message=None, errors=[UserError.from_domain(error)])
        return RequestPortalLinkPayload(message=LINK_SENT, errors=[])

    @strawberry.mutation(
        description=(
            "Exchange a sign-in link's token for a portal session token (valid 30 days), "
            "answered once: send it as `Authorization: Bearer <token>`. No token needed."
        )
    )
    async def sign_in(self, info: PortalInfo, input: SignInInput) -> SignInPayload:
        try:
            signed_in = await portal_auth.sign_in(input.link_token)
        except DomainError as error:
            return SignInPayload(token=None, contact=None, errors=[UserError.from_domain(error)])
        return SignInPayload(
            token=signed_in.token,
            contact=PortalContact.from_models(signed_in.contact, signed_in.client),
            errors=[],
        )
