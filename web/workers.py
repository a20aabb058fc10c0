"""The background loops of a process that runs the firms' work (the server, unless
--no-runner, and every `server.py worker`): in one place, so both run the same set: the
automation runner, the webhook sender, the scheduler of dated work, the mailer and the
export runner."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import settings as settings_module
from automations.runner import Runner
from automations.scheduler import Scheduler
from exporter.runner import ExportRunner
from mail import transport
from mail.mailer import Mailer
from realtime.background import BackgroundLoop
from webhooks.sender import Sender
from workflow import clock, email_content, exports, unit, webhook_addresses


def configure(config: settings_module.Settings) -> None:
    """What the domain needs to know of the deployment, in every process that serves or works."""
    webhook_addresses.configure(config.webhook_allow_private)  # registrations' policy
    email_content.configure(config.public_url)  # the portal links in emails
    clock.configure(config.test_clock_file)  # a test's clock, in a process it started
    exports.configure(config.export_dir, config.export_retention_hours, config.public_url)


def loops(config: settings_module.Settings) -> list[BackgroundLoop]:
    return [
        Runner(),
        Sender(config.webhook_retry_schedule, allow_private=config.webhook_allow_private),
        Scheduler(),
        Mailer(transport.from_settings(config), config.mail_from),
        ExportRunner(),
    ]


@asynccontextmanager
async def running(config: settings_module.Settings) -> AsyncIterator[list[BackgroundLoop]]:
    """Start the loops, each woken after the commits that leave it work; stop them at the
    end (what is in flight is cancelled: a run rolls back, an attempt's lease expires)."""
    # What the process holds for its whole life (modules, the schema, the models) is set
    # apart from the collector: its full collections, which the loops' allocations trigger
    # (an export makes millions of short-lived objects), no longer walk it. Measured on an
    # export of 100,000 jobs: 37 -> 27 us of CPU per job.
    gc.freeze()
    started = loops(config)
    for loop in started:
        loop.start()
        unit.on_commit(loop.wake, loop.owed_work)
    try:
        yield started
    finally:
        for loop in started:
            unit.remove_commit_callback(loop.wake)
            await loop.stop()
