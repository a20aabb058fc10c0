"""Global ids as clients see them: opaque, made with the deployment's key (models.keys).

Here, below the schema, because webhook payloads written by the domain carry them too, and the
command line prints and reads them without loading the schema. MODELS is the one list of the
types that have global ids, so an id can say which type it belongs to; the schema's Node types
are checked against it (schema.nodes).
"""

from __future__ import annotations

from typing import Any

from tortoise.models import Model

from models import (
    ApiToken,
    Automation,
    AutomationRun,
    Client,
    Contact,
    CustomField,
    Email,
    Export,
    Firm,
    Invoice,
    Job,
    JobEvent,
    JobTemplate,
    Message,
    Organizer,
    Pipeline,
    RecurringSchedule,
    Stage,
    Task,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    keys,
)
from workflow.errors import DomainError, ErrorCode
from workflow.scope import MAX_ROW_ID

# Each type with global ids and the model whose row one names. Every one but Firm (whose ids
# only the command line prints) is a Node type of the schema, found by `node(id:)`.
MODELS: dict[str, type[Model]] = {
    "Firm": Firm,
    "Pipeline": Pipeline,
    "Stage": Stage,
    "Job": Job,
    "Task": Task,
    "Client": Client,
    "Contact": Contact,
    "User": User,
    "JobEvent": JobEvent,
    "Automation": Automation,
    "AutomationRun": AutomationRun,
    "Organizer": Organizer,
    "Message": Message,
    "Invoice": Invoice,
    "ApiToken": ApiToken,
    "WebhookEndpoint": WebhookEndpoint,
    "WebhookDelivery": WebhookDelivery,
    "Email": Email,
    "JobTemplate": JobTemplate,
    "RecurringSchedule": RecurringSchedule,
    "CustomField": CustomField,
    "Export": Export,
}
NOT_NODES = frozenset({"Firm"})
TYPE_NAMES = tuple(MODELS)
_TAGS = {name: keys.type_tag(name) for name in TYPE_NAMES}
_NAMES = {tag: name for name, tag in _TAGS.items()}


def global_id(type_name: str, pk: int) -> str:
    tag = _TAGS.get(type_name) or keys.type_tag(type_name)
    return keys.encode_id(tag, pk)


def global_ids(type_name: str, pks: list[int]) -> list[str]:
    """global_id of many rows of one type, made at once."""
    return keys.encode_ids(_TAGS.get(type_name) or keys.type_tag(type_name), pks)


def optional_global_id(type_name: str, pk: int | None) -> str | None:
    return None if pk is None else global_id(type_name, pk)


def parse_global_id(text: str) -> tuple[str, int] | None:
    """(type name, row id) of a global id, or None if it is not one."""
    decoded = keys.decode_id(text)
    if decoded is None or decoded[0] not in _NAMES:
        return None
    return _NAMES[decoded[0]], decoded[1]


def parse_id(global_id: str, field: str) -> tuple[str, int]:
    """(type name, row id) of a global id, or an INVALID_ID error naming the field."""
    parsed = parse_global_id(global_id)
    if parsed is None or not 0 < parsed[1] <= MAX_ROW_ID:
        raise DomainError(ErrorCode.INVALID_ID, f"{field} is not a valid id", field)
    return parsed


def decode_id(global_id: str, type_name: str, field: str) -> int:
    """The row id of a global id of `type_name`; another type's id is INVALID_ID too."""
    kind, pk = parse_id(global_id, field)
    if kind != type_name:
        raise DomainError(ErrorCode.INVALID_ID, f"{field} is not a {type_name} id", field)
    return pk


def decode_optional(global_id: str | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, type_name, field)


# Row ids that events record in their changes, by key: what type of global id each is.
CHANGE_IDS = {
    "task": "Task",
    "run": "AutomationRun",
    "organizer": "Organizer",
    "invoice": "Invoice",
    "message": "Message",
    "in_reply_to": "Message",
    "contact": "Contact",
    "stage": "Stage",
    "client_id": "Client",
    "assignee_ids": "User",
    "template": "JobTemplate",  # where a job came from (JOB_CREATED)
    "recurring_schedule": "RecurringSchedule",
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
