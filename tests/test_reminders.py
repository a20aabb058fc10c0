"""Reminders of organizers and invoices (workflow.reminders, run by automations.scheduler),
with the clock held by the test (workflow.clock): one every N days while the client has not
acted, at most M, stopped by submission or payment, each sent exactly once however many
schedulers run, and a failed one rolled back whole."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automations import manage, runner, scheduler
from automations.scheduler import Scheduler
from models import (
    ActionType,
    Client,
    Contact,
    Email,
    EmailKind,
    EventType,
    Invoice,
    Job,
    JobEvent,
    Organizer,
    OrganizerStatus,
    Pipeline,
    Stage,
    sql,
)
from settings import load
from tests.factories import board, client, job, scope_of
from web import workers
from workflow import clock, documents, jobs, reminders, unit
from workflow.firms import NewFirm
from workflow.scope import Scope

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LINE = [{"description": "1040", "quantity": 1, "unitPriceCents": 45000}]


@dataclass
class World:
    scope: Scope
    pipeline: Pipeline
    stages: list[Stage]
    client: Client
    job: Job
    contacts: list[Contact]


async def _world(firm: NewFirm, title: str = "2025 return") -> World:
    pipeline, stages = await board(firm, name=f"1040 {title}")
    avery = await client(firm, f"Avery {title}")
    contacts = [
        await Contact.create(
            firm_id=firm.firm.id, client_id=avery.id, name=name, email=f"{name}@{title[:4]}.test"
        )
        for name in ("avery", "sam")
    ]
    card = await job(firm, pipeline, avery, title)
    return World(scope_of(firm), pipeline, stages, avery, card, contacts)


async def _reminder_emails(**about: int) -> list[Email]:
    return await Email.filter(kind=EmailKind.REMINDER, **about).order_by("id")


async def _reminded(event_type: EventType, job_id: int) -> list[dict[str, Any]]:
    events = await JobEvent.filter(job_id=job_id, type=event_type).order_by("id")
    return [event.changes for event in events if event.changes.get("action") == "reminded"]


async def _passes(*steps: timedelta) -> list[int]:
    """Move the clock by each step, then let the scheduler do what is due: the reminders sent
    at each."""
    sent = []
    for step in steps:
        clock.advance(step)
        sent.append(await scheduler.run_due())
    return sent


async def test_an_organizer_is_reminded_every_n_days_at_most_m_times(firm_a: NewFirm) -> None:
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "2025 organizer", ["Income?"], remind_every_days=3, max_reminders=2
        )
        assert organizer.next_reminder_at == T0 + 3 * DAY
        # not before 3 days; then one, and one only, per period; none after the second
        sent = await _passes(
            timedelta(0), 3 * DAY - timedelta(seconds=1), timedelta(seconds=1), timedelta(0),
            3 * DAY - timedelta(seconds=1), timedelta(seconds=1), 3 * DAY, 30 * DAY,
        )  # fmt: skip
        assert sent == [0, 0, 1, 0, 0, 1, 0, 0]
    organizer = await Organizer.get(id=organizer.id)
    assert (organizer.reminders_sent, organizer.next_reminder_at) == (2, None)
    emails = await _reminder_emails(organizer_id=organizer.id)
    assert sorted(email.to_address for email in emails) == sorted(
        2 * [contact.email for contact in w.contacts]
    )
    assert all(email.job_id == w.job.id and "Reminder" in email.subject for email in emails)
    assert await _reminded(EventType.ORGANIZER_CHANGED, w.job.id) == [
        {"organizer": organizer.id, "action": "reminded", "reminder": n} for n in (1, 2)
    ]


async def test_an_invoice_from_an_automation_is_reminded_until_it_is_paid(
    firm_a: NewFirm,
) -> None:
    w = await _world(firm_a)
    settings = {"currency": "USD", "lineItems": LINE, "remindEveryDays": 7, "maxReminders": 5}
    await manage.create_automation(w.scope, w.stages[1].id, ActionType.CREATE_INVOICE, settings)
    with clock.frozen(T0):
        await jobs.move_job(w.scope, w.job.id, w.stages[1].id)
        assert await runner.run_due() == 1
        invoice = await Invoice.get(job_id=w.job.id)
        assert (invoice.remind_every_days, invoice.max_reminders) == (7, 5)
        assert invoice.next_reminder_at == T0 + 7 * DAY
        assert await Email.filter(kind=EmailKind.INVOICE, invoice_id=invoice.id).count() == 2
        assert await _passes(7 * DAY - timedelta(microseconds=1), timedelta(microseconds=1)) == [
            0,
            1,
        ]
        await documents.pay_invoice(w.scope, invoice.id)
        assert await _passes(7 * DAY, 7 * DAY, 365 * DAY) == [0, 0, 0]
    invoice = await Invoice.get(id=invoice.id)
    assert (invoice.reminders_sent, invoice.next_reminder_at) == (1, None)
    assert len(await _reminder_emails(invoice_id=invoice.id)) == 2  # one per contact
    assert await _reminded(EventType.INVOICE_CHANGED, w.job.id) == [
        {"invoice": invoice.id, "action": "reminded", "reminder": 1}
    ]


async def test_submitting_the_organizer_stops_its_reminders(firm_a: NewFirm) -> None:
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=2, max_reminders=5
        )
        assert await _passes(2 * DAY) == [1]
        await documents.submit_organizer(w.scope, organizer.id, ["Wages"])
        assert (await Organizer.get(id=organizer.id)).next_reminder_at is None
        assert await _passes(2 * DAY, 2 * DAY, 20 * DAY) == [0, 0, 0]
    assert (await Organizer.get(id=organizer.id)).reminders_sent == 1
    assert len(await _reminder_emails(organizer_id=organizer.id)) == 2


async def test_a_late_pass_does_not_push_the_next_reminder_later(firm_a: NewFirm) -> None:
    """The next reminder is due a period after the last one was due, not after it was sent."""
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=3, max_reminders=3
        )
        assert await _passes(3 * DAY + timedelta(hours=5)) == [1]
        assert (await Organizer.get(id=organizer.id)).next_reminder_at == T0 + 6 * DAY
        assert await _passes(3 * DAY - timedelta(hours=5) - timedelta(seconds=1)) == [0]
        assert await _passes(timedelta(seconds=1)) == [1]  # at T0 + 6 days exactly


async def test_after_downtime_one_reminder_goes_out_and_the_next_is_a_period_later(
    firm_a: NewFirm,
) -> None:
    """Ten days without a scheduler, reminders every three days: one reminder when it is back
    (no flood of the three missed), the next three days after that; the count stays exact."""
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=3, max_reminders=3
        )
        back = clock.advance(10 * DAY)
        assert await scheduler.run_due() == 1
        assert await scheduler.run_due() == 0
        assert (await Organizer.get(id=organizer.id)).next_reminder_at == back + 3 * DAY
        assert await _passes(3 * DAY - timedelta(seconds=1), timedelta(seconds=1)) == [0, 1]
        assert await _passes(100 * DAY, 3 * DAY) == [1, 0]  # the third and last
    organizer = await Organizer.get(id=organizer.id)
    assert (organizer.reminders_sent, organizer.next_reminder_at) == (3, None)
    assert [c["reminder"] for c in await _reminded(EventType.ORGANIZER_CHANGED, w.job.id)] == [
        1,
        2,
        3,
    ]


async def test_archiving_the_job_drops_its_reminders(firm_a: NewFirm) -> None:
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=1, max_reminders=3
        )
        await jobs.archive_job(w.scope, w.job.id)
        assert await _passes(DAY, DAY) == [0, 0]
    organizer = await Organizer.get(id=organizer.id)
    assert (organizer.reminders_sent, organizer.next_reminder_at) == (0, None)
    assert await _reminder_emails() == []


async def test_a_job_given_to_another_client_takes_its_reminders_out_of_both(
    firm_a: NewFirm,
) -> None:
    """The organizer and invoice stay the first client's (they left both portals with the
    job): a reminder would go to the first client's contacts greeting the new client by name,
    about a document neither can open. None goes out, to anyone."""
    w = await _world(firm_a)
    blake = await client(firm_a, "Blake Jones")
    await Contact.create(firm_id=firm_a.firm.id, client_id=blake.id, name="b", email="b@b.test")
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=1, max_reminders=3
        )
        invoice = await documents.create_invoice(
            w.scope, w.job.id, "USD", LINE, remind_every_days=1, max_reminders=3
        )
        await jobs.update_job(w.scope, w.job.id, client_id=blake.id)
        assert await _passes(DAY, DAY) == [0, 0]
    assert await _reminder_emails() == []
    for document in (await Organizer.get(id=organizer.id), await Invoice.get(id=invoice.id)):
        assert (document.reminders_sent, document.next_reminder_at) == (0, None)


async def test_documents_without_a_schedule_are_never_reminded(firm_a: NewFirm) -> None:
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(w.scope, w.job.id, "Organizer", ["Income?"])
        invoice = await documents.create_invoice(w.scope, w.job.id, "USD", LINE)
        assert await _passes(DAY, 400 * DAY) == [0, 0]
    for document in (await Organizer.get(id=organizer.id), await Invoice.get(id=invoice.id)):
        assert (document.remind_every_days, document.next_reminder_at) == (None, None)


async def test_a_failure_inside_a_reminders_change_rolls_all_of_it_back(
    firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The emails are written and the count moved before the event fails: none of it stays,
    the reminder is still due and goes out at the next pass; the other one went out anyway."""
    w = await _world(firm_a)
    other = await job(firm_a, w.pipeline, w.client, "bookkeeping")
    with clock.frozen(T0):
        broken, fine = [
            await documents.send_organizer(
                w.scope, card.id, "Organizer", ["Income?"], remind_every_days=1, max_reminders=2
            )
            for card in (w.job, other)
        ]
        record = unit.Change.record

        async def failing(self: unit.Change, *args: Any, **kwargs: Any) -> JobEvent:
            if kwargs.get("changes", {}).get("organizer") == broken.id:
                raise RuntimeError("the event log is full")
            return await record(self, *args, **kwargs)

        monkeypatch.setattr(unit.Change, "record", failing)
        clock.advance(DAY)
        with caplog.at_level(logging.ERROR, logger="workflow.reminders"):
            assert await scheduler.run_due() == 1
        assert f"reminder of organizer {broken.id} failed" in caplog.text
        after = await Organizer.get(id=broken.id)
        assert (after.reminders_sent, after.next_reminder_at) == (0, T0 + DAY)
        assert await _reminder_emails(organizer_id=broken.id) == []
        assert await _reminded(EventType.ORGANIZER_CHANGED, w.job.id) == []
        assert len(await _reminder_emails(organizer_id=fine.id)) == 2

        monkeypatch.undo()
        assert await scheduler.run_due() == 1
    after = await Organizer.get(id=broken.id)
    assert (after.reminders_sent, after.next_reminder_at) == (1, T0 + 2 * DAY)
    assert len(await _reminder_emails(organizer_id=broken.id)) == 2


@pytest.mark.postgres_only
async def test_concurrent_schedulers_send_each_reminder_once(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    worlds = [await _world(firm, title) for firm in (firm_a, firm_b) for title in ("1040", "W-2")]
    with clock.frozen(T0):
        for w in worlds:
            for _ in range(5):
                await documents.send_organizer(
                    w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=1,
                    max_reminders=3,
                )  # fmt: skip
                await documents.create_invoice(
                    w.scope, w.job.id, "USD", LINE, remind_every_days=1, max_reminders=3
                )
        documents_ = 2 * 5 * len(worlds)
        for period in (1, 2):
            clock.advance(DAY)
            sent = await asyncio.gather(*(reminders.send_due_reminders() for _ in range(4)))
            assert sum(sent) == documents_, sent
            assert await Email.filter(kind=EmailKind.REMINDER).count() == 2 * documents_ * period
            counts = {o.reminders_sent for o in await Organizer.all()} | {
                i.reminders_sent for i in await Invoice.all()
            }
            assert counts == {period}
    events = await JobEvent.all()
    assert sum(event.changes.get("action") == "reminded" for event in events) == 2 * documents_


@pytest.mark.postgres_only
async def test_a_reminder_waits_for_a_submission_under_way_and_then_sends_nothing(
    firm_a: NewFirm, caplog: pytest.LogCaptureFixture
) -> None:
    """A change that holds the job (as every change does first) and then takes the organizer
    runs while a reminder of that organizer is due: the reminder's claim does not hold the
    organizer's row, so neither deadlocks; the reminder sees the organizer answered."""
    w = await _world(firm_a)
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=1, max_reminders=2
        )
        clock.advance(DAY)
        holding, go_on = asyncio.Event(), asyncio.Event()

        async def submit_slowly() -> None:
            async with unit.change(w.scope) as change:
                await change.lock_job(w.job.id)
                holding.set()
                await go_on.wait()
                answered = await w.scope.get(Organizer, organizer.id, lock=True)
                answered.status, answered.answers = OrganizerStatus.SUBMITTED, ["Wages"]
                answered.next_reminder_at = None
                await answered.save()

        submitting = asyncio.create_task(submit_slowly())
        await holding.wait()
        with caplog.at_level(logging.ERROR):
            reminding = asyncio.create_task(reminders.send_due_reminders())
            deadline = time.monotonic() + 10
            while not await sql.fetch('SELECT 1 FROM "pg_locks" WHERE NOT "granted"', []):
                assert time.monotonic() < deadline, "the reminder never waited for the job"
                await asyncio.sleep(0.01)
            go_on.set()
            # A deadlock aborts one of the two: this change (raising here) or the reminder
            # (logged, and left due).
            await submitting
            assert await reminding == 0
        assert not caplog.records, caplog.text
    assert await _reminder_emails() == []
    assert (await Organizer.get(id=organizer.id)).reminders_sent == 0


async def test_the_scheduler_runs_in_every_working_process_and_sends_when_due(
    firm_a: NewFirm,
) -> None:
    assert scheduler.DATED_WORK[0] is reminders.send_due_reminders
    assert [type(loop) for loop in workers.loops(load({}))].count(Scheduler) == 1
    w = await _world(firm_a)
    loop = Scheduler()
    with clock.frozen(T0):
        organizer = await documents.send_organizer(
            w.scope, w.job.id, "Organizer", ["Income?"], remind_every_days=1, max_reminders=1
        )
        loop.start()
        try:
            clock.advance(DAY)
            deadline = time.monotonic() + 10
            while len(await _reminder_emails(organizer_id=organizer.id)) < 2:
                assert time.monotonic() < deadline, "the scheduler sent no reminder"
                await asyncio.sleep(0.05)
        finally:
            await loop.stop()
    assert (await Organizer.get(id=organizer.id)).reminders_sent == 1
