"""GraphQL enums, one per domain enum, under the names the contract fixes."""

from __future__ import annotations

import strawberry

from models import (
    ActionType,
    EventType,
    InvoiceStatus,
    JobStatus,
    OrganizerStatus,
    Priority,
    Role,
    RunStatus,
)
from workflow.errors import ErrorCode

JobStatusEnum = strawberry.enum(JobStatus, name="JobStatus")
PriorityEnum = strawberry.enum(Priority, name="Priority")
RoleEnum = strawberry.enum(Role, name="Role")
JobEventTypeEnum = strawberry.enum(EventType, name="JobEventType")
ErrorCodeEnum = strawberry.enum(ErrorCode, name="ErrorCode")
ActionTypeEnum = strawberry.enum(ActionType, name="AutomationAction")
RunStatusEnum = strawberry.enum(RunStatus, name="AutomationRunStatus")
OrganizerStatusEnum = strawberry.enum(OrganizerStatus, name="OrganizerStatus")
InvoiceStatusEnum = strawberry.enum(InvoiceStatus, name="InvoiceStatus")
