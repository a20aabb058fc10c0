"""The firm's people and API tokens: queries and mutations (admins; see workflow.access)."""

from __future__ import annotations

import strawberry

from models import ApiToken, Permission, User
from resolvers.common import mutate, payload, provided
from schema.context import Info
from schema.errors import UserError
from schema.integrations import (
    ApiTokenPayload,
    ApiTokenType,
    CreateApiTokenInput,
    CreateApiTokenPayload,
    DeactivateUserInput,
    InviteUserInput,
    InviteUserPayload,
    RevokeApiTokenInput,
    UpdateUserInput,
    UserPayload,
)
from schema.types import UserType
from workflow import firms, people
from workflow.global_ids import decode_id

_user = payload(UserPayload, "user", UserType.from_model)
_token = payload(ApiTokenPayload, "api_token", ApiTokenType.from_model)


@strawberry.type
class PeopleQueries:
    @strawberry.field(description="The firm's API tokens, revoked ones included, newest first.")
    async def api_tokens(self, info: Info) -> list[ApiTokenType]:
        tokens = await info.context.scope.query(ApiToken).order_by("-id")
        return [ApiTokenType.from_model(token) for token in tokens]


def _invited(created: tuple[User, str] | None, errors: list[UserError]) -> InviteUserPayload:
    user, secret = created if created else (None, None)
    return InviteUserPayload(
        user=UserType.from_model(user) if user else None, token=secret, errors=errors
    )


def _token_created(
    created: tuple[ApiToken, str] | None, errors: list[UserError]
) -> CreateApiTokenPayload:
    token, secret = created if created else (None, None)
    return CreateApiTokenPayload(
        api_token=ApiTokenType.from_model(token) if token else None,
        secret=secret,
        errors=errors,
    )


@strawberry.type
class PeopleMutations:
    @strawberry.mutation(
        description=(
            "Add a team member; returns a first token for them. Its scopes are the permissions of"
            " their role that the calling token also has (never more than the caller's own: an"
            " ADMIN-only token inviting an ADMIN gives a token scoped to ADMIN alone); an"
            " invitation that would leave it no scope is refused with FORBIDDEN."
        )
    )
    async def invite_user(self, info: Info, input: InviteUserInput) -> InviteUserPayload:
        return await mutate(
            info,
            _invited,
            lambda scope: people.invite_user(scope, input.email, input.name, input.role),
        )

    @strawberry.mutation
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        changes = {k: v for k, v in provided(name=input.name, role=input.role).items() if v}
        return await mutate(
            info,
            _user,
            lambda scope: people.update_user(scope, decode_id(input.id, "User", "id"), **changes),
        )

    @strawberry.mutation(description="Stop a user and all their tokens at once.")
    async def deactivate_user(self, info: Info, input: DeactivateUserInput) -> UserPayload:
        return await mutate(
            info,
            _user,
            lambda scope: people.deactivate_user(scope, decode_id(input.id, "User", "id")),
        )

    @strawberry.mutation(description="A token for the caller; its secret is shown only here.")
    async def create_api_token(
        self, info: Info, input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        return await mutate(
            info,
            _token_created,
            lambda scope: firms.create_api_token(
                scope, input.name, [Permission(s) for s in input.scopes]
            ),
        )

    @strawberry.mutation(description="The token stops working at once, on open websockets too.")
    async def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> ApiTokenPayload:
        return await mutate(
            info,
            _token,
            lambda scope: firms.revoke_api_token(scope, decode_id(input.id, "ApiToken", "id")),
        )
