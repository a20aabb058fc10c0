"""The mailer: delivers queued emails (models.email), retries them with backoff, records the
outcome, and is fair between firms. It runs where the automation runner runs (web.workers), is
woken after every commit that queued an email (workflow.emails.queue owes EMAILS), and polls.

Claiming an email leases it: in a short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, so
any number of mailers share the work) its next_attempt_at moves past the attempt's deadline and
its attempts grow by one. The message is sent outside any transaction, then the outcome is
written:
- sent: SENT, sent_at, and the sealed link token dropped (it was needed only to compose);
- refused for good (a 5xx about this message: no such mailbox, content refused; or an email
  that cannot be composed): FAILED with the server's code and text, for staff to see;
- anything else (the server down, 4xx, a timeout): QUEUED again with last_error, due after
  BACKOFF (10 s, 1 min, 5 min, then every 15 min, for as long as it takes): an unreachable or
  misconfigured SMTP server makes emails wait, never fail.

A mailer that dies mid-attempt leaves the lease to expire (twice the transport's deadline for
an attempt, which asyncio.timeout enforces), and the email is sent again by whichever mailer
claims it next, under the same Message-ID and the same bytes.

The one window SMTP cannot close: the server accepted a message (its 250 to DATA is on the
wire) and the mailer died, or lost the connection, before recording SENT. The retry carries the
same Message-ID header, by which receiving systems deduplicate, so the recipient sees one
email; a server that does not deduplicate delivers it twice. (Closing it would need the server
to report acceptances we can query; SMTP has no such thing.) The folder transport has no such
window: a file written again replaces the first (mail.transport.FolderTransport).

Fair between firms: due emails are claimed round robin by firm
(realtime.background.IN_FIRM_TURNS: every firm's first due email before any firm's second), and
a Mailer sends each as its own task, at most MAX_IN_FLIGHT at once and FIRM_IN_FLIGHT for one
firm, claiming more as soon as one ends: a firm with thousands queued holds its few slots, and
another firm's email waits at most one round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from mail import compose
from mail.transport import Outcome, Outgoing, Transport
from models import Email, EmailStatus, sql
from models.db import is_postgres
from realtime.background import IN_FIRM_TURNS, BackgroundLoop, FirmTurns, InFlight
from workflow import clock
from workflow.unit import EMAILS

log = logging.getLogger("workflow.mail")

BACKOFF = (10, 60, 300, 900)  # seconds before the 1st, 2nd, 3rd retry, then every retry after
BATCH = 20  # emails send_due claims and sends together
MAX_IN_FLIGHT = 20  # attempts one Mailer has under way at once (SMTP connections, at most)
FIRM_IN_FLIGHT = 5  # of them for one firm: the rest stay free for the other firms
STOP_GRACE = 5.0  # seconds a stopping Mailer waits for its attempts in flight to end
WARN_EVERY = 60.0  # seconds between two warnings that emails are waiting for the server

# Due emails in firm turns, oldest first within a firm. Hand-written: tortoise has no window
# functions. It locks nothing; the chosen rows are locked (SKIP LOCKED) and leased by id.
# `{busy}`: firms at their cap in flight.
DUE = (
    'SELECT "id", "firm_id" FROM (SELECT "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "id") AS "turn" FROM "email" '
    'WHERE "status" = ? AND "next_attempt_at" <= ?{busy}) AS "due" '
    f'WHERE "turn" <= ? {IN_FIRM_TURNS}, "id" LIMIT ?'
)


def lease(timeout: float) -> timedelta:
    """How long a claimed email is another mailer's to leave alone: twice the attempt's
    deadline (the margin covers a busy event loop and clocks of machines a little apart)."""
    return timedelta(seconds=2 * timeout)


def backoff(attempts: int) -> timedelta:
    """How long after its `attempts`-th attempt failed (not for good) an email is due again."""
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1])


async def _due(limit: int, in_flight: InFlight[Email], turns: FirmTurns) -> list[int]:
    """Ids of up to `limit` due emails in firm turns, within every firm's free slots."""
    full = in_flight.full_firms()
    busy = f' AND "firm_id" NOT IN ({", ".join("?" * len(full))})' if full else ""
    # A firm with attempts in flight may get rows it has no slot for: ask for that many more.
    rows = await sql.fetch(
        DUE.format(busy=busy),
        [
            EmailStatus.QUEUED.value,
            clock.now(),
            *full,
            FIRM_IN_FLIGHT,
            turns.last_firm,
            limit + len(in_flight),
        ],
    )
    return in_flight.choose(rows, limit)


async def claim(
    limit: int = BATCH,
    in_flight: InFlight[Email] | None = None,
    turns: FirmTurns | None = None,
    attempt_seconds: float = 60.0,
) -> list[Email]:
    """Lease up to `limit` due emails in firm turns (continuing `turns`), leaving out what
    `in_flight` already holds its share of; each for an attempt of up to `attempt_seconds`."""
    in_flight, turns = in_flight or InFlight(FIRM_IN_FLIGHT), turns or FirmTurns()
    now = clock.now()
    async with in_transaction():
        chosen = await _due(limit, in_flight, turns)
        if not chosen:
            return []
        due = Email.filter(  # still due: another mailer may have leased it meanwhile
            id__in=chosen, status=EmailStatus.QUEUED, next_attempt_at__lte=now
        )
        if is_postgres():
            due = due.select_for_update(skip_locked=True)
        order = {email_id: n for n, email_id in enumerate(chosen)}
        emails = sorted(await due, key=lambda e: order[e.id])
        if not emails:
            return []
        await Email.filter(id__in=[e.id for e in emails]).update(
            next_attempt_at=now + lease(attempt_seconds), attempts=F("attempts") + 1
        )
    for email in emails:
        email.attempts += 1
    turns.served(emails[-1].firm_id)
    return emails


def outgoing(email: Email, mail_from: str) -> Outgoing:
    """The email as it goes out; raises compose.Unsendable."""
    message = compose.compose(email, mail_from)
    return Outgoing(
        email_id=email.id,
        created_at=email.created_at,
        sender=compose.sender_address(mail_from),
        recipient=compose.recipient(email),
        subject=str(message["Subject"]),
        data=compose.as_bytes(message),
    )


async def attempt(transport: Transport, email: Email, mail_from: str) -> Outcome:
    """Compose and send a claimed email, within the transport's deadline for an attempt."""
    try:
        message = outgoing(email, mail_from)
    except compose.Unsendable as error:
        return Outcome.refused(str(error))
    try:
        # The whole attempt, not each command: a server trickling its answers cannot hold on
        # past the lease.
        async with asyncio.timeout(transport.timeout):
            return await transport.send(message)
    except TimeoutError:
        return Outcome.transient(f"no answer within {transport.timeout:g} s")


async def record(email: Email, outcome: Outcome) -> None:
    """Store an attempt's outcome. A failure is stored only by the attempt that holds the
    lease (an attempt that outlived its lease finds `attempts` moved on); sent always wins over
    QUEUED, and whatever an email became first stays."""
    now = clock.now()
    if outcome.sent:
        await Email.filter(id=email.id, status=EmailStatus.QUEUED).update(
            status=EmailStatus.SENT, sent_at=now, sealed_secret=None, last_error=None
        )
        return
    mine = Email.filter(id=email.id, status=EmailStatus.QUEUED, attempts=email.attempts)
    if outcome.permanent:
        await mine.update(status=EmailStatus.FAILED, last_error=outcome.error, sealed_secret=None)
        log.warning("email %s to %s refused: %s", email.id, email.to_address, outcome.error)
    else:
        await mine.update(next_attempt_at=now + backoff(email.attempts), last_error=outcome.error)


async def deliver(transport: Transport, email: Email, mail_from: str) -> Outcome:
    """Attempt a claimed email and record the outcome."""
    outcome = await attempt(transport, email, mail_from)
    await record(email, outcome)
    return outcome


async def send_due(transport: Transport, mail_from: str, limit: int = BATCH) -> int:
    """Send one batch of due emails (in firm turns) concurrently; how many were attempted.
    For draining in tests and tools: the Mailer does not wait for a batch."""
    emails = await claim(limit, attempt_seconds=transport.timeout)
    await asyncio.gather(*(deliver(transport, e, mail_from) for e in emails))
    return len(emails)


class Mailer(BackgroundLoop):
    """Sends emails in the background, woken after commits that queued some, polling, and
    whenever an attempt ends: each email is its own task, so a slow server answer holds up
    only its slot."""

    name = "mailer"
    owed_work = EMAILS  # woken after commits that leave it this

    def __init__(
        self,
        transport: Transport,
        mail_from: str,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        super().__init__()
        self.transport = transport
        self.mail_from = mail_from
        self.max_in_flight = max_in_flight
        self.in_flight: InFlight[Email] = InFlight(FIRM_IN_FLIGHT)
        self.turns = FirmTurns()
        self._attempts: set[asyncio.Task[None]] = set()
        self._warned_at = -WARN_EVERY

    async def stop(self) -> None:
        """No more claims; attempts in flight get STOP_GRACE seconds to end and be recorded
        (one cancelled after the server accepted its message would be sent again when its
        lease expires); the rest are cancelled, and sent again then."""
        await super().stop()
        if self._attempts:
            await asyncio.wait(set(self._attempts), timeout=STOP_GRACE)
        for task in self._attempts:
            task.cancel()
        await asyncio.gather(*self._attempts, return_exceptions=True)
        await self.transport.close()

    async def work(self) -> None:
        free = self.max_in_flight - len(self.in_flight)
        if free <= 0:
            return  # an attempt that ends wakes us
        for email in await claim(free, self.in_flight, self.turns, self.transport.timeout):
            self.in_flight.add(email)
            task = asyncio.create_task(self.deliver(email), name=f"email-{email.id}")
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)

    async def deliver(self, email: Email) -> None:
        try:
            outcome = await deliver(self.transport, email, self.mail_from)
            if not outcome.sent and not outcome.permanent:
                self._warn(email, outcome)
        except Exception:  # recording failed (database away): the lease expires, sent again
            log.exception("email %s: its attempt was not recorded", email.id)
        finally:
            self.in_flight.remove(email)
            self._wake.set()  # a slot is free

    def _warn(self, email: Email, outcome: Outcome) -> None:
        """Emails waiting for the server: said at most once a minute, not once per email."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(
                "emails are waiting for %s (they stay queued and are retried): email %s: %s",
                self.transport.description,
                email.id,
                outcome.error,
            )
