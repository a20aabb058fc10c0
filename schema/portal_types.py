"""The client portal's own object types (its schema is apart from the staff one: api.portal).

They show what a client may see of a row, no more; ids are the staff API's global ids
(workflow.global_ids), so a portal front end and the firm's integrations name a row alike.
"""

from __future__ import annotations

import strawberry

from models import Client, Contact
from schema.errors import UserError
from workflow.global_ids import global_id


@strawberry.type(name="Client", description="The client (a household or a company) signed in.")
class PortalClient:
    id: strawberry.ID
    name: str

    @classmethod
    def from_model(cls, client: Client) -> PortalClient:
        return cls(id=strawberry.ID(global_id("Client", client.id)), name=client.name)


@strawberry.type(name="Contact", description="A person of the client, who signs in.")
class PortalContact:
    id: strawberry.ID
    name: str
    email: str
    client: PortalClient

    @classmethod
    def from_models(cls, contact: Contact, client: Client) -> PortalContact:
        return cls(
            id=strawberry.ID(global_id("Contact", contact.id)),
            name=contact.name,
            email=contact.email,
            client=PortalClient.from_model(client),
        )


LINK_SENT = (
    "If this address belongs to a contact with portal access, a sign-in link is on its way. "
    "It works once, within 15 minutes."
)


@strawberry.input
class RequestPortalLinkInput:
    email: str


@strawberry.type
class RequestPortalLinkPayload:
    message: str | None = strawberry.field(
        description="The same for every address, known or not; null if the input was refused."
    )
    errors: list[UserError]


@strawberry.input
class SignInInput:
    link_token: str = strawberry.field(description="The `token` of the link in the email.")


@strawberry.type
class SignInPayload:
    token: str | None = strawberry.field(
        description="The portal session token, shown this once; null if refused."
    )
    contact: PortalContact | None
    errors: list[UserError]
