"""Clients and their contacts: queries and mutations."""

from __future__ import annotations

import strawberry

from models import Client
from resolvers.common import delete, mutate, payload, provided
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.inputs import (
    CreateClientInput,
    CreateContactInput,
    DeleteContactInput,
    RevokePortalSessionsInput,
    UpdateClientInput,
    UpdateContactInput,
)
from schema.payloads import ClientPayload, ContactPayload, DeletePayload
from schema.types import ClientType, ContactType
from workflow import clients, contacts, portal_auth, validation
from workflow.global_ids import decode_id

_client = payload(ClientPayload, "client", ClientType.from_model)
_contact = payload(ContactPayload, "contact", ContactType.from_model)


@strawberry.type
class ClientQueries:
    @strawberry.field
    async def clients(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> Connection[ClientType]:
        queryset = info.context.scope.query(Client)
        for word in validation.search(search or "", "search"):
            queryset = queryset.filter(name__icontains=word)
        return await root_connection(queryset, first, after, ClientType.from_model)

    @strawberry.field
    async def client(self, info: Info, id: strawberry.ID) -> ClientType | None:
        client = await info.context.loaders.client.load(decode_id(id, "Client", "id"))
        return ClientType.from_model(client) if client else None


@strawberry.type
class ClientMutations:
    @strawberry.mutation
    async def create_client(self, info: Info, input: CreateClientInput) -> ClientPayload:
        return await mutate(
            info,
            _client,
            lambda scope: clients.create_client(
                scope, input.name, input.email, input.tags, input.custom_fields
            ),
        )

    @strawberry.mutation
    async def update_client(self, info: Info, input: UpdateClientInput) -> ClientPayload:
        changes = provided(name=input.name, email=input.email, tags=input.tags)
        if changes.get("name", "") is None:
            changes["name"] = ""  # a name cannot be cleared: validation says so
        if input.custom_fields is not strawberry.UNSET and input.custom_fields is not None:
            changes["custom_fields"] = input.custom_fields  # null: no change (as if left out)
        return await mutate(
            info,
            _client,
            lambda scope: clients.update_client(
                scope, decode_id(input.id, "Client", "id"), **changes
            ),
        )

    @strawberry.mutation
    async def create_contact(self, info: Info, input: CreateContactInput) -> ContactPayload:
        return await mutate(
            info,
            _contact,
            lambda scope: contacts.create_contact(
                scope,
                decode_id(input.client_id, "Client", "clientId"),
                input.name,
                input.email,
                input.portal_access,
            ),
        )

    @strawberry.mutation
    async def update_contact(self, info: Info, input: UpdateContactInput) -> ContactPayload:
        changes = provided(name=input.name, email=input.email, portal_access=input.portal_access)
        if changes.get("name", "") is None:
            changes["name"] = ""  # a name cannot be cleared: validation says so
        if changes.get("portal_access", False) is None:
            changes["portal_access"] = False
        return await mutate(
            info,
            _contact,
            lambda scope: contacts.update_contact(
                scope, decode_id(input.id, "Contact", "id"), **changes
            ),
        )

    @strawberry.mutation
    async def delete_contact(self, info: Info, input: DeleteContactInput) -> DeletePayload:
        return await delete(info, input.id, "Contact", contacts.delete_contact)

    @strawberry.mutation(
        description=(
            "End every open client portal session of the contact: their next portal request "
            "answers 401. They may sign in again with a new link while they keep portal "
            "access (to shut them out, turn portalAccess off)."
        )
    )
    async def revoke_portal_sessions(
        self, info: Info, input: RevokePortalSessionsInput
    ) -> ContactPayload:
        return await mutate(
            info,
            _contact,
            lambda scope: portal_auth.revoke_portal_sessions(
                scope, decode_id(input.contact_id, "Contact", "contactId")
            ),
        )
