"""Global ids as clients see them: opaque, made with the deployment's key (models.keys).

Here, below the schema, because webhook payloads written by the domain carry them too. Every
type that has global ids is named in TYPE_NAMES, so an id can say which type it belongs to.
"""

from __future__ import annotations

from typing import Any

from models import keys

TYPE_NAMES = (
    "Firm",
    "Pipeline",
    "Stage",
    "Job",
    "Task",
    "Client",
    "User",
    "JobEvent",
    "Automation",
    "AutomationRun",
    "Organizer",
    "Message",
    "Invoice",
    "ApiToken",
    "WebhookEndpoint",
    "WebhookDelivery",
)
_TAGS = {name: keys.type_tag(name) for name in TYPE_NAMES}
_NAMES = {tag: name for name, tag in _TAGS.items()}


def global_id(type_name: str, pk: int) -> str:
    tag = _TAGS.get(type_name) or keys.type_tag(type_name)
    return keys.encode_id(tag, pk)


def optional_global_id(type_name: str, pk: int | None) -> str | None:
    return None if pk is None else global_id(type_name, pk)


def parse_global_id(text: str) -> tuple[str, int] | None:
    """(type name, row id) of a global id, or None if it is not one."""
    decoded = keys.decode_id(text)
    if decoded is None or decoded[0] not in _NAMES:
        return None
    return _NAMES[decoded[0]], decoded[1]


# Row ids that events record in their changes, by key: what type of global id each is.
CHANGE_IDS = {
    "task": "Task",
    "run": "AutomationRun",
    "organizer": "Organizer",
    "invoice": "Invoice",
    "message": "Message",
    "stage": "Stage",
    "client_id": "Client",
    "assignee_ids": "User",
}


def public_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """An event's changes as clients see them: row ids (alone, in lists, or as from/to) as
    global ids, so history and webhooks never show a row number."""

    def public(type_name: str, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return global_id(type_name, value)
        if isinstance(value, list):
            return [public(type_name, item) for item in value]
        if isinstance(value, dict):
            return {key: public(type_name, item) for key, item in value.items()}
        return value

    return {
        key: public(CHANGE_IDS[key], value) if key in CHANGE_IDS else value
        for key, value in changes.items()
    }
