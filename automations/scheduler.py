"""The scheduler: the one background loop for dated work, what falls due by the clock
(workflow.clock) rather than after a commit: DATED_WORK, each kind a function of
workflow.dated's shape, run in that order at every pass.

Reminders come first, then recurring schedules' occurrences (workflow.occurrences: each
(schedule, client, period) one job), then deadlines (workflow.deadlines: JOB_OVERDUE once per
crossing). The time-and-recurrence issue adds its other kinds to DATED_WORK (date-triggered
automations), each doing what is
due and claiming each item like reminders do, so every kind runs wherever the scheduler runs:
in the embedded server (unless --no-runner) and in every `server.py worker` process
(web.workers). It polls every realtime.background.POLL_INTERVAL; no commit wakes it (owed_work
DATED, which no change owes yet: nothing a change writes falls due at once).
"""

from __future__ import annotations

import logging

from realtime.background import BackgroundLoop
from workflow import deadlines, occurrences, reminders
from workflow.dated import DatedWork, Progress
from workflow.unit import DATED

log = logging.getLogger(__name__)

# Items handled per kind and pass; the rest wait for the next pass (a second later).
PASS_LIMIT = 1000

DATED_WORK: list[DatedWork] = [
    reminders.send_due_reminders,
    occurrences.create_due_jobs,  # recurring schedules' jobs (workflow.occurrences)
    deadlines.announce_due_deadlines,
]


async def run_due(limit: int = PASS_LIMIT) -> int:
    """Do all dated work due now, kind by kind (each until none is due, or `limit`); how
    many items were done. For tests and the command line: the Scheduler does the same."""
    return sum([await work(limit, Progress()) for work in DATED_WORK])


class Scheduler(BackgroundLoop):
    """Dated work in the background: polling, each kind with its own progress (its round
    robin between firms), a failing kind not holding up the others."""

    name = "scheduler"
    owed_work = DATED

    def __init__(self) -> None:
        super().__init__()
        self.work_and_progress = [(work, Progress()) for work in DATED_WORK]

    async def work(self) -> None:
        for work, progress in self.work_and_progress:
            try:
                await work(PASS_LIMIT, progress)
            except Exception:
                log.exception("dated work %s failed; retrying", work.__qualname__)
