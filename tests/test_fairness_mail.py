"""Fairness between firms for outbound email, on both databases: one firm's backlog does not
queue another firm's email behind it (round robin by firm, a per-firm cap on attempts in
flight), even when the SMTP server sits on every message of the first firm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from mail import mailer
from mail.transport import SmtpTransport
from models import Email, EmailStatus
from realtime.background import InFlight
from tests.factories import queued_emails
from tests.smtp import Hold, SmtpServer
from workflow.firms import NewFirm

MAIL_FROM = "Acme CPA <no-reply@acme.test>"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as running:
        yield running


async def sent(count: int, within: float = 10) -> None:
    """Until the mailer has recorded `count` emails SENT (just after the server's answers)."""
    deadline = time.monotonic() + within
    while await Email.filter(status=EmailStatus.SENT).count() < count:
        assert time.monotonic() < deadline, "not recorded in time"
        await asyncio.sleep(0.02)


def addresses(firm: str, count: int) -> list[str]:
    return [f"client-{n}@{firm}.example.test" for n in range(count)]


async def test_a_firms_email_is_claimed_among_the_first(firm_a: NewFirm, firm_b: NewFirm) -> None:
    await queued_emails(firm_a, *addresses("a", 100))
    [mine] = await queued_emails(firm_b, "only@b.example.test")
    claimed = await mailer.claim(limit=5)
    assert mine.id in [e.id for e in claimed[:2]]
    assert len(claimed) == 5
    leased = await Email.filter(id__in=[e.id for e in claimed])
    assert all(e.attempts == 1 and e.next_attempt_at > datetime.now(UTC) for e in leased)
    rest = []
    while more := await mailer.claim(limit=50):  # the rest, a firm's share per claim
        assert len(more) <= mailer.FIRM_IN_FLIGHT
        rest += more
    every = await Email.all().values_list("id", flat=True)
    assert sorted(e.id for e in claimed + rest) == sorted(every)  # each leased once


async def test_a_firm_at_its_cap_in_flight_gets_no_more_until_one_ends(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    await queued_emails(firm_a, *addresses("a", 30))
    flight: InFlight[Email] = InFlight(mailer.FIRM_IN_FLIGHT)
    for email in await mailer.claim(limit=50):
        flight.add(email)
    assert flight.firms == {firm_a.firm.id: mailer.FIRM_IN_FLIGHT}
    [mine] = await queued_emails(firm_b, "only@b.example.test")
    assert [e.id for e in await mailer.claim(limit=50, in_flight=flight)] == [mine.id]
    flight.remove(next(iter(flight.items.values())))
    [again] = await mailer.claim(limit=50, in_flight=flight)
    assert again.firm_id == firm_a.firm.id


async def test_a_firm_whose_emails_the_server_sits_on_does_not_hold_up_another_firm(
    firm_a: NewFirm, firm_b: NewFirm, smtp: SmtpServer
) -> None:
    """The server holds every message of firm A at the end of its DATA: A's attempts fill
    its slots and stay there; firm B's email goes out beside them, and A gets no more."""
    await queued_emails(firm_a, *addresses("a", 30))
    hold = smtp.hold = Hold(lambda e: e.rcpt_tos[0].endswith("@a.example.test"), answer="250 OK")
    running = mailer.Mailer(SmtpTransport(smtp.url), MAIL_FROM)
    running.start()
    try:
        async with asyncio.timeout(10):
            while len(hold.held) < mailer.FIRM_IN_FLIGHT:
                await hold.arrived.wait()
                hold.arrived.clear()
        [mine] = await queued_emails(firm_b, "only@b.example.test")
        await running.wake()
        [got] = await smtp.wait_for(1, within=5)
        assert got.rcpt_tos == ["only@b.example.test"]
        await sent(1)
        assert (await Email.get(id=mine.id)).status == EmailStatus.SENT
        assert len(hold.held) == mailer.FIRM_IN_FLIGHT  # A held its share, no more
        assert running.in_flight.firms == {firm_a.firm.id: mailer.FIRM_IN_FLIGHT}
        hold.release.set()  # the server answers: A's backlog drains
        await smtp.wait_for(31, within=30)
        await sent(31)
    finally:
        await running.stop()
    assert smtp.message_ids().most_common(1)[0][1] == 1
