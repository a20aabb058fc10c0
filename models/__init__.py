"""Tortoise models, one module per aggregate, and the ORM configuration."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from models.automation import (
    DUE_TRIGGERS,
    ActionType,
    Automation,
    AutomationRun,
    AutomationTrigger,
    RunStatus,
)
from models.client import Client
from models.contact import Contact
from models.custom_fields import CustomField, CustomFieldEntity, CustomFieldType
from models.documents import (
    Invoice,
    InvoiceStatus,
    Message,
    MessageDirection,
    Organizer,
    OrganizerStatus,
)
from models.email import Email, EmailKind, EmailStatus
from models.event import EventType, JobEvent
from models.export import Export, ExportInclude, ExportStatus
from models.firm import ROLE_PERMISSIONS, ApiToken, Firm, Permission, Role, User
from models.idempotency import IdempotentRequest
from models.job import Job, JobStatus, Priority
from models.keys import DeploymentSecret
from models.pipeline import Pipeline, Stage
from models.portal import PortalLink, PortalSession
from models.schedules import RecurringSchedule
from models.task import Task
from models.templates import JobTemplate
from models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint

MODEL_MODULES = [
    "models.firm",
    "models.client",
    "models.pipeline",
    "models.job",
    "models.task",
    "models.templates",
    "models.custom_fields",
    "models.schedules",
    "models.event",
    "models.export",
    "models.automation",
    "models.documents",
    "models.contact",
    "models.email",
    "models.portal",
    "models.webhook",
    "models.idempotency",
    "models.keys",
]


POOL_SIZE = 20  # connections per process
ENGINES = {
    "tortoise.backends.sqlite": "models.engines.sqlite",
    "tortoise.backends.asyncpg": "models.engines.postgres",
}


async def _no_reset(connection: object) -> None:
    return None


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The ORM configuration for one database; migrations live in models/migrations."""
    connection: dict[str, Any]
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        connection = expand_db_url("asyncpg://" + database_url.split("://", 1)[1])
        connection["credentials"].setdefault("maxsize", POOL_SIZE)
        # Our sessions keep no state (no LISTEN, advisory locks or SET), so a connection goes
        # back to the pool as it is: asyncpg's default reset is a round trip per statement.
        connection["credentials"]["reset"] = _no_reset
    else:
        connection = expand_db_url(database_url)
    # The drivers' clients with the check that cached tables are written in a change only
    # (models.writes).
    connection["engine"] = ENGINES.get(connection["engine"], connection["engine"])
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # TORTOISE_ORM serves tortoise's own CLI (tortoise makemigrations, named in pyproject);
    # computed on access so that importing the models reads no environment.
    if name == "TORTOISE_ORM":
        import settings

        return tortoise_config(settings.load().database_url)
    raise AttributeError(name)


__all__ = [
    "DeploymentSecret",
    "ActionType",
    "Automation",
    "AutomationRun",
    "AutomationTrigger",
    "DUE_TRIGGERS",
    "RunStatus",
    "Invoice",
    "InvoiceStatus",
    "Message",
    "MessageDirection",
    "Contact",
    "CustomField",
    "CustomFieldEntity",
    "CustomFieldType",
    "Email",
    "EmailKind",
    "EmailStatus",
    "PortalLink",
    "PortalSession",
    "Organizer",
    "OrganizerStatus",
    "ApiToken",
    "Client",
    "EventType",
    "Export",
    "ExportInclude",
    "ExportStatus",
    "Firm",
    "Job",
    "JobEvent",
    "JobStatus",
    "JobTemplate",
    "MODEL_MODULES",
    "Pipeline",
    "Priority",
    "RecurringSchedule",
    "Role",
    "Stage",
    "Task",
    "User",
    "tortoise_config",
    "Permission",
    "ROLE_PERMISSIONS",
    "IdempotentRequest",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
]
