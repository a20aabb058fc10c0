"""Types, inputs and payloads of the firm's administration: people, API tokens, webhooks."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from models import ApiToken, DeliveryStatus, Permission, Role, WebhookDelivery, WebhookEndpoint
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.enums import (
    BoardEventKind,
    BoardEventTypeEnum,
    DeliveryStatusEnum,
    PermissionEnum,
    RoleEnum,
)
from schema.errors import UserError
from schema.node import Node, encode_id
from schema.types import UserType
from webhooks.sender import message_id
from workflow.webhooks import signing_secret

ID = strawberry.ID


@strawberry.type(name="ApiToken")
class ApiTokenType(Node):
    name: str
    scopes: list[PermissionEnum]
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    user_id: ID

    @classmethod
    def from_model(cls, token: ApiToken) -> ApiTokenType:
        return cls(
            id=encode_id("ApiToken", token.id),
            name=token.name,
            scopes=[Permission(s) for s in token.scopes],
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
            user_id=encode_id("User", token.user_id),
        )


@strawberry.type(name="WebhookDelivery")
class WebhookDeliveryType(Node):
    message_id: str = strawberry.field(description="The webhook-id header: same on every retry.")
    event_type: str
    payload: JSON
    status: DeliveryStatusEnum
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, delivery: WebhookDelivery) -> WebhookDeliveryType:
        pending = delivery.status == DeliveryStatus.PENDING
        return cls(
            id=encode_id("WebhookDelivery", delivery.id),
            message_id=message_id(delivery),
            event_type=delivery.event_type,
            payload=JSON(delivery.payload),
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


@strawberry.type(name="WebhookEndpoint")
class WebhookEndpointType(Node):
    url: str
    description: str
    event_types: list[BoardEventTypeEnum] = strawberry.field(
        description="The event types delivered; empty: all of them."
    )
    pipeline_id: ID | None = strawberry.field(description="Only this pipeline's events, if set.")
    secret: str | None = strawberry.field(
        description="Always null: the signing secret is shown once.",
        deprecation_reason="The signing secret is shown once, as `secret` in the payload of "
        "createWebhookEndpoint and of updateWebhookEndpoint with rotateSecret: true; keep it "
        "from there.",
    )
    secret_hint: str = strawberry.field(
        description="The signing secret's last 4 characters, to tell which one a receiver has."
    )
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> WebhookEndpointType:
        return cls(
            id=encode_id("WebhookEndpoint", endpoint.id),
            url=endpoint.url,
            description=endpoint.description,
            event_types=[BoardEventKind(t) for t in endpoint.event_types],
            pipeline_id=encode_id("Pipeline", endpoint.pipeline_id)
            if endpoint.pipeline_id
            else None,
            secret=None,
            secret_hint=signing_secret(endpoint)[-4:],
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            consecutive_failures=endpoint.consecutive_failures,
            created_at=endpoint.created_at,
            pk=endpoint.id,
        )

    @strawberry.field(description="The delivery log, oldest first.")
    async def deliveries(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: DeliveryStatusEnum | None = None,
    ) -> Connection[WebhookDeliveryType]:
        queryset = info.context.scope.query(WebhookDelivery).filter(endpoint_id=self.pk)
        if status is not None:
            queryset = queryset.filter(status=status)
        return await root_connection(queryset, first, after, WebhookDeliveryType.from_model)


@strawberry.input
class InviteUserInput:
    email: str
    name: str | None = None
    role: RoleEnum = strawberry.field(default=Role.STAFF)


@strawberry.input
class UpdateUserInput:
    id: ID
    name: str | None = strawberry.UNSET
    role: RoleEnum | None = strawberry.UNSET


@strawberry.input
class DeactivateUserInput:
    id: ID


@strawberry.input
class CreateApiTokenInput:
    name: str
    scopes: list[PermissionEnum]


@strawberry.input
class RevokeApiTokenInput:
    id: ID


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[BoardEventTypeEnum] = strawberry.field(
        default_factory=list, description="Empty: every event type."
    )
    pipeline_id: ID | None = None
    description: str = ""


@strawberry.input
class UpdateWebhookEndpointInput:
    id: ID
    url: str | None = strawberry.UNSET
    event_types: list[BoardEventTypeEnum] | None = strawberry.UNSET
    pipeline_id: ID | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    rotate_secret: bool = False


@strawberry.input
class DeleteWebhookEndpointInput:
    id: ID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: ID


@strawberry.type
class UserPayload:
    user: UserType | None
    errors: list[UserError]


@strawberry.type
class InviteUserPayload:
    user: UserType | None
    token: str | None = strawberry.field(
        description="A first API token for the new user: shown once, hand it over safely."
    )
    errors: list[UserError]


@strawberry.type
class ApiTokenPayload:
    api_token: ApiTokenType | None
    errors: list[UserError]


@strawberry.type
class CreateApiTokenPayload:
    api_token: ApiTokenType | None
    secret: str | None = strawberry.field(description="The token itself: shown only here.")
    errors: list[UserError]


@strawberry.type
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpointType | None
    secret: str | None = strawberry.field(
        description=(
            "The signing secret (Standard Webhooks), shown only here: in the answer of "
            "createWebhookEndpoint and of updateWebhookEndpoint with rotateSecret: true (null "
            "otherwise)."
        )
    )
    errors: list[UserError]


@strawberry.type
class WebhookDeliveryPayload:
    webhook_delivery: WebhookDeliveryType | None
    errors: list[UserError]
