"""Who may do what: the one table of authorization, consulted for every operation.

A caller's permissions are its token's scopes capped by its user's role (see models.firm).
Every root field needs one permission: queries and subscriptions READ, mutations WRITE, and
the mutations that shape the firm's workflow or manage its people, tokens and webhooks ADMIN.
Some types hold secrets of the firm's administration and need ADMIN wherever they are reached.
Some fields need more than that: those that carry board data out through the administration
(a delivery's payload is a job snapshot; creating or re-pointing an endpoint chooses where the
board's events go) need READ too, so ADMIN alone never reads the boards. A caller without READ
(a write-only integration) gets back only the changed object's own fields from a mutation:
nothing it links to.

Client portal sessions are the clients' access, not the firm's administration: ending them
(revokePortalSessions) is WRITE, like turning a contact's portal access off with
updateContact, which ends them too. The portal's own schema (api.portal) is not in this
table: its callers are contacts, who see only their client's data (schema.portal_guard).
"""

from __future__ import annotations

from models.firm import Permission

ADMIN_MUTATIONS = frozenset(
    {
        "createPipeline",
        "importPipelineTemplate",
        "updatePipeline",
        "deletePipeline",
        "createStage",
        "updateStage",
        "deleteStage",
        "reorderStages",
        "createAutomation",
        "updateAutomation",
        "deleteAutomation",
        "createJobTemplate",
        "updateJobTemplate",
        "deleteJobTemplate",
        "createRecurringSchedule",
        "updateRecurringSchedule",
        "deleteRecurringSchedule",
        "createCustomField",
        "updateCustomField",
        "deleteCustomField",
        "inviteUser",
        "updateUser",
        "deactivateUser",
        "createApiToken",
        "revokeApiToken",
        "createWebhookEndpoint",
        "updateWebhookEndpoint",
        "deleteWebhookEndpoint",
        "redeliverWebhook",
    }
)
ADMIN_QUERIES = frozenset({"apiTokens", "webhookEndpoints"})
ADMIN_TYPES = frozenset({"ApiToken", "WebhookEndpoint", "WebhookDelivery"})
# (GraphQL type, field): what the field needs beyond its root field's and its type's needs.
FIELD_NEEDS: dict[tuple[str, str], frozenset[Permission]] = {
    ("WebhookDelivery", "payload"): frozenset({Permission.READ}),
    # a pipeline's automations with their settings, as Stage.automations reads them
    ("Pipeline", "template"): frozenset({Permission.READ}),
    ("Mutation", "createWebhookEndpoint"): frozenset({Permission.READ}),
    ("Mutation", "updateWebhookEndpoint"): frozenset({Permission.READ}),
    # an export writes the board to a file: reading it
    ("Mutation", "startExport"): frozenset({Permission.READ}),
}


def root_field_needs(operation: str, field: str) -> Permission:
    """The permission a root field of an operation ("query", "mutation", "subscription") needs."""
    if operation == "mutation":
        return Permission.ADMIN if field in ADMIN_MUTATIONS else Permission.WRITE
    return Permission.ADMIN if field in ADMIN_QUERIES else Permission.READ


def type_needs(type_name: str) -> Permission | None:
    """The permission needed to see any object of this type, beyond its root field's."""
    return Permission.ADMIN if type_name in ADMIN_TYPES else None


def field_needs(type_name: str, field: str) -> frozenset[Permission]:
    """The permissions a field needs beyond its root field's and its type's."""
    return FIELD_NEEDS.get((type_name, field), frozenset())
