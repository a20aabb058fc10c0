"""Webhook endpoints and their delivery log: queries and mutations (admins)."""

from __future__ import annotations

import strawberry

from models import WebhookEndpoint
from resolvers.common import Answer, delete, mutate, payload, provided
from schema.context import Info
from schema.errors import UserError
from schema.integrations import (
    CreateWebhookEndpointInput,
    DeleteWebhookEndpointInput,
    RedeliverWebhookInput,
    UpdateWebhookEndpointInput,
    WebhookDeliveryPayload,
    WebhookDeliveryType,
    WebhookEndpointPayload,
    WebhookEndpointType,
)
from schema.payloads import DeletePayload
from workflow import webhooks
from workflow.global_ids import decode_id, decode_optional
from workflow.scope import Scope
from workflow.webhooks import signing_secret


def _endpoint(new_secret: bool) -> Answer[WebhookEndpoint, WebhookEndpointPayload]:
    """`new_secret`: the endpoint was just made or its secret rotated: show the secret, once."""

    def answer(endpoint: WebhookEndpoint | None, errors: list[UserError]) -> WebhookEndpointPayload:
        return WebhookEndpointPayload(
            webhook_endpoint=WebhookEndpointType.from_model(endpoint) if endpoint else None,
            secret=signing_secret(endpoint) if endpoint and new_secret else None,
            errors=errors,
        )

    return answer


_delivery = payload(WebhookDeliveryPayload, "webhook_delivery", WebhookDeliveryType.from_model)


@strawberry.type
class WebhookQueries:
    @strawberry.field
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpointType]:
        endpoints = await info.context.scope.query(WebhookEndpoint).order_by("id")
        return [WebhookEndpointType.from_model(endpoint) for endpoint in endpoints]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        return await mutate(
            info,
            _endpoint(new_secret=True),
            lambda scope: webhooks.create_endpoint(
                scope,
                input.url,
                [str(t) for t in input.event_types],
                decode_optional(input.pipeline_id, "Pipeline", "pipelineId"),
                input.description,
            ),
        )

    @strawberry.mutation
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        async def update(scope: Scope) -> WebhookEndpoint:
            changes = provided(
                url=input.url,
                event_types=input.event_types,
                description=input.description,
                enabled=input.enabled,
                rotate_secret=input.rotate_secret,
            )
            if input.pipeline_id is not strawberry.UNSET:
                changes["pipeline_id"] = decode_optional(
                    input.pipeline_id, "Pipeline", "pipelineId"
                )
            if changes.get("event_types") is not None:
                changes["event_types"] = [str(t) for t in changes["event_types"]]
            endpoint_id = decode_id(input.id, "WebhookEndpoint", "id")
            return await webhooks.update_endpoint(scope, endpoint_id, **changes)

        return await mutate(info, _endpoint(new_secret=input.rotate_secret), update)

    @strawberry.mutation
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeletePayload:
        return await delete(info, input.id, "WebhookEndpoint", webhooks.delete_endpoint)

    @strawberry.mutation(description="Send a delivery again now, under the same message id.")
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> WebhookDeliveryPayload:
        return await mutate(
            info,
            _delivery,
            lambda scope: webhooks.redeliver(
                scope, decode_id(input.delivery_id, "WebhookDelivery", "deliveryId")
            ),
        )
