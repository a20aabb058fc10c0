"""GraphQL enums under the names the contract fixes: one Python enum per GraphQL enum.

Each alias is `Annotated[DomainEnum, strawberry.enum(name=...)]`: mypy sees the domain enum, and
strawberry gives that enum its one GraphQL name. strawberry keeps the name on the Python class,
so a second GraphQL name for the same class would replace the first, depending on import order:
BoardEventType therefore has a Python enum of its own (BoardEventKind) beside EventType.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import strawberry

from models import (
    ActionType,
    AutomationTrigger,
    CustomFieldEntity,
    CustomFieldType,
    DeliveryStatus,
    EmailKind,
    EmailStatus,
    EventType,
    InvoiceStatus,
    JobStatus,
    MessageDirection,
    OrganizerStatus,
    Permission,
    Priority,
    Role,
    RunStatus,
)
from workflow.errors import ErrorCode
from workflow.periods import Frequency


class BoardEventKind(StrEnum):
    """EventType's members again, for BoardEvent.type and webhooks' eventTypes
    (tests/test_enums.py keeps the two in step), and the webhook-only EXPORT_FINISHED."""

    JOB_CREATED = EventType.JOB_CREATED.value
    JOB_MOVED = EventType.JOB_MOVED.value
    JOB_TRANSFERRED_IN = EventType.JOB_TRANSFERRED_IN.value
    JOB_TRANSFERRED_OUT = EventType.JOB_TRANSFERRED_OUT.value
    JOB_UPDATED = EventType.JOB_UPDATED.value
    JOB_ARCHIVED = EventType.JOB_ARCHIVED.value
    TASK_CHANGED = EventType.TASK_CHANGED.value
    STAGE_CHANGED = EventType.STAGE_CHANGED.value
    ORGANIZER_CHANGED = EventType.ORGANIZER_CHANGED.value
    MESSAGE_SENT = EventType.MESSAGE_SENT.value
    INVOICE_CHANGED = EventType.INVOICE_CHANGED.value
    AUTOMATION_RAN = EventType.AUTOMATION_RAN.value
    JOB_OVERDUE = EventType.JOB_OVERDUE.value
    CLIENT_SUBMITTED_ORGANIZER = EventType.CLIENT_SUBMITTED_ORGANIZER.value
    CLIENT_REPLIED = EventType.CLIENT_REPLIED.value
    INVOICE_PAID = EventType.INVOICE_PAID.value
    # Webhooks only, never in a feed or a history: an export finished (exporter.runner).
    EXPORT_FINISHED = "EXPORT_FINISHED"


JobStatusEnum = Annotated[JobStatus, strawberry.enum(name="JobStatus")]
PriorityEnum = Annotated[Priority, strawberry.enum(name="Priority")]
RoleEnum = Annotated[Role, strawberry.enum(name="Role")]
JobEventTypeEnum = Annotated[EventType, strawberry.enum(name="JobEventType")]
BoardEventTypeEnum = Annotated[BoardEventKind, strawberry.enum(name="BoardEventType")]
ErrorCodeEnum = Annotated[ErrorCode, strawberry.enum(name="ErrorCode")]
ActionTypeEnum = Annotated[ActionType, strawberry.enum(name="AutomationAction")]
RunStatusEnum = Annotated[RunStatus, strawberry.enum(name="AutomationRunStatus")]
TriggerEnum = Annotated[AutomationTrigger, strawberry.enum(name="AutomationTrigger")]
OrganizerStatusEnum = Annotated[OrganizerStatus, strawberry.enum(name="OrganizerStatus")]
InvoiceStatusEnum = Annotated[InvoiceStatus, strawberry.enum(name="InvoiceStatus")]
MessageDirectionEnum = Annotated[MessageDirection, strawberry.enum(name="MessageDirection")]
PermissionEnum = Annotated[Permission, strawberry.enum(name="TokenScope")]
DeliveryStatusEnum = Annotated[DeliveryStatus, strawberry.enum(name="WebhookDeliveryStatus")]
EmailKindEnum = Annotated[EmailKind, strawberry.enum(name="EmailKind")]
EmailStatusEnum = Annotated[EmailStatus, strawberry.enum(name="EmailStatus")]
FrequencyEnum = Annotated[Frequency, strawberry.enum(name="Frequency")]
CustomFieldEntityEnum = Annotated[CustomFieldEntity, strawberry.enum(name="CustomFieldEntity")]
CustomFieldTypeEnum = Annotated[CustomFieldType, strawberry.enum(name="CustomFieldType")]
