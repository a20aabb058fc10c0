"""One module per action: `check` validates an automation's settings when it is saved, `run`
performs it for one job inside the run's transaction and says what it did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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

Settings = dict[str, Any]


@dataclass(frozen=True)
class Action:
    check: Callable[[Scope, Stage, Settings], Awaitable[Settings]]
    run: Callable[[Scope, Job, Settings], Awaitable[dict[str, Any]]]


ACTIONS: dict[ActionType, Action] = {
    ActionType.CREATE_TASK: Action(create_task.check, create_task.run),
    ActionType.MOVE_JOB: Action(move_job.check, move_job.run),
    ActionType.ARCHIVE_JOB: Action(archive_job.check, archive_job.run),
    ActionType.TRANSFER_JOB: Action(transfer_job.check, transfer_job.run),
    ActionType.UPDATE_TAGS: Action(update_tags.check, update_tags.run),
    ActionType.SEND_ORGANIZER: Action(send_organizer.check, send_organizer.run),
    ActionType.SEND_MESSAGE: Action(send_message.check, send_message.run),
    ActionType.CREATE_INVOICE: Action(create_invoice.check, create_invoice.run),
    ActionType.CALL_WEBHOOK: Action(call_webhook.check, call_webhook.run),
}
