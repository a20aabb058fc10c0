"""One module per action: `Settings` (a TypedDict) names the settings it keeps, `check`
validates an automation's settings when it is saved and returns them as `Settings`, `run`
performs it for one job inside the run's transaction and says what it did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from automations.actions import (
    archive_job,
    call_webhook,
    create_invoice,
    create_task,
    move_job,
    send_message,
    send_organizer,
    transfer_job,
    update_tags,
)
from models import ActionType, Job, Stage
from workflow.scope import Scope

S = TypeVar("S")


@dataclass(frozen=True)
class Action(Generic[S]):
    settings: type[S]  # the module's Settings: what `check` returns and `run` takes
    check: Callable[[Scope, Stage, dict[str, Any]], Awaitable[S]]
    run: Callable[[Scope, Job, S], Awaitable[dict[str, Any]]]


# Every ActionType has one (tests/test_automation_actions.py): one module per action, named
# after it.
ACTIONS: dict[ActionType, Action[Any]] = {
    ActionType.CREATE_TASK: Action(create_task.Settings, create_task.check, create_task.run),
    ActionType.MOVE_JOB: Action(move_job.Settings, move_job.check, move_job.run),
    ActionType.ARCHIVE_JOB: Action(archive_job.Settings, archive_job.check, archive_job.run),
    ActionType.TRANSFER_JOB: Action(transfer_job.Settings, transfer_job.check, transfer_job.run),
    ActionType.UPDATE_TAGS: Action(update_tags.Settings, update_tags.check, update_tags.run),
    ActionType.SEND_ORGANIZER: Action(
        send_organizer.Settings, send_organizer.check, send_organizer.run
    ),
    ActionType.SEND_MESSAGE: Action(send_message.Settings, send_message.check, send_message.run),
    ActionType.CREATE_INVOICE: Action(
        create_invoice.Settings, create_invoice.check, create_invoice.run
    ),
    ActionType.CALL_WEBHOOK: Action(call_webhook.Settings, call_webhook.check, call_webhook.run),
}
