"""Who may do what: the one table of authorization, consulted for every operation.

A caller's permissions are its token's scopes capped by its user's role (see models.firm).
Every root field needs one permission: queries and subscriptions READ, mutations WRITE, and
the mutations that shape the firm's workflow or manage its people, tokens and webhooks ADMIN.
Some types hold secrets of the firm's administration and need ADMIN wherever they are reached.
A caller without READ (a write-only integration) gets back only the changed object's own
fields from a mutation: nothing it links to.
"""

from __future__ import annotations

from models.firm import Permission

ADMIN_MUTATIONS = frozenset({
    "createPipeline", "updatePipeline", "deletePipeline",
    "createStage", "updateStage", "deleteStage", "reorderStages",
    "createAutomation", "updateAutomation", "deleteAutomation",
    "inviteUser", "updateUser", "deactivateUser",
    "createApiToken", "revokeApiToken",
    "createWebhookEndpoint", "updateWebhookEndpoint", "deleteWebhookEndpoint", "redeliverWebhook",
})
ADMIN_QUERIES = frozenset({"apiTokens", "webhookEndpoints"})
ADMIN_TYPES = frozenset({"ApiToken", "WebhookEndpoint", "WebhookDelivery"})


def root_field_needs(operation: str, field: str) -> Permission:
    """The permission a root field of an operation ("query", "mutation", "subscription") needs."""
    if operation == "mutation":
        return Permission.ADMIN if field in ADMIN_MUTATIONS else Permission.WRITE
    return Permission.ADMIN if field in ADMIN_QUERIES else Permission.READ


def type_needs(type_name: str) -> Permission | None:
    """The permission needed to see any object of this type, beyond its root field's."""
    return Permission.ADMIN if type_name in ADMIN_TYPES else None
