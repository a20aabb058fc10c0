"""Outbound email against a real SMTP server (aiosmtpd on 127.0.0.1, tests/smtp.py), on both
databases: the message as it arrives (headers, both MIME parts, nothing injected), the same
Message-ID on every attempt, a server that is down (emails wait, then go), a refusal for good
(FAILED with the server's answer), a portal link's token (put in when sent, dropped after), the
.eml folder when there is no SMTP server, and the mailer's configuration. Time-driven retries
use workflow.clock (frozen, advanced), never sleeping."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

import server
import settings as settings_module
from mail import mailer
from mail.transport import FolderTransport, SmtpTransport
from models import Email, EmailKind, EmailStatus, keys
from models.email import LINK_TOKEN_PLACEHOLDER, LINK_TOKEN_PURPOSE
from tests.factories import queued_emails as queued
from tests.smtp import Hold, SmtpServer
from web import workers
from workflow import clock
from workflow.firms import NewFirm

MAIL_FROM = "Acme CPA <no-reply@acme.test>"
AVERY = "avery@example.test"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as running:
        yield running


@pytest.fixture
async def transport(smtp: SmtpServer) -> AsyncIterator[SmtpTransport]:
    sending = SmtpTransport(smtp.url)
    yield sending
    await sending.close()


@pytest.fixture
def now() -> Iterator[datetime]:
    """The clock held at a whole second: retries fall due only when the test moves it."""
    at = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(at):
        yield at


async def reread(row: Email) -> Email:
    return await Email.get(id=row.id)


def content(part: EmailMessage) -> str:
    """A text part's content with its line ends as queued (on the wire they are CRLF)."""
    return str(part.get_content()).replace("\r\n", "\n")


# ----------------------------------------------------------------------- the message


async def test_an_email_arrives_with_its_headers_and_both_parts(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    text = "Hello Zoë,\n.\n.a line that starts with a dot\n" + "long " * 300 + "\nend\n"
    html = "<p>Hello Zo&euml;, &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    [row] = await queued(
        firm_a,
        subject="Your return — ready\r\nBcc: everyone@evil.test\r\n\r\nInjected body",
        text=text,
        html=html,
    )
    assert await mailer.send_due(transport, MAIL_FROM) == 1

    [got] = await smtp.wait_for(1)
    assert (got.mail_from, got.rcpt_tos) == ("no-reply@acme.test", [AVERY])
    assert all(byte < 128 for byte in got.data), "7-bit clean: no 8BITMIME needed"
    assert max(len(line) for line in got.data.split(b"\r\n")) <= 998
    message = got.message
    assert message["From"] == MAIL_FROM
    assert message["To"] == AVERY
    # one line: CR and LF became spaces, so nothing after them became a header or the body
    assert message["Subject"] == "Your return — ready Bcc: everyone@evil.test Injected body"
    assert "Bcc" not in message and len(message.keys()) == 7, message.keys()
    assert message["Message-ID"] == f"<{row.header_message_id}@acme.test>"
    assert parsedate_to_datetime(message["Date"]) == row.created_at.replace(microsecond=0)
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.iter_parts()
    assert (plain.get_content_type(), rich.get_content_type()) == ("text/plain", "text/html")
    assert content(plain) == text
    assert content(rich) == html  # as queued: escaped by whoever wrote it, not again
    assert "MIME-Version" not in plain and "MIME-Version" not in rich

    stored = await reread(row)
    assert (stored.status, stored.sent_at, stored.attempts, stored.last_error) == (
        EmailStatus.SENT,
        now,
        1,
        None,
    )
    assert await mailer.send_due(transport, MAIL_FROM) == 0


async def test_a_retry_carries_the_same_message_id(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    [row] = await queued(firm_a)
    smtp.hold = Hold(lambda envelope: True, answer="451 4.3.0 try again later")
    smtp.hold.release.set()  # answered at once
    assert await mailer.send_due(transport, MAIL_FROM) == 1

    stored = await reread(row)
    assert (stored.status, stored.attempts) == (EmailStatus.QUEUED, 1)
    assert stored.last_error == "451 4.3.0 try again later (DATA)"
    assert stored.next_attempt_at == now + timedelta(seconds=10)
    assert await mailer.send_due(transport, MAIL_FROM) == 0  # not due yet
    [refused] = smtp.hold.held
    assert isinstance(refused.content, bytes)
    first = email.message_from_bytes(refused.content, policy=email.policy.default)

    smtp.hold = None
    clock.advance(timedelta(seconds=10))
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    [got] = await smtp.wait_for(1)
    assert got.message_id == first["Message-ID"] == f"<{row.header_message_id}@acme.test>"
    assert got.data == refused.content  # the very same message, byte for byte
    stored = await reread(row)
    assert (stored.status, stored.attempts, stored.last_error) == (EmailStatus.SENT, 2, None)


async def test_smtp_down_keeps_emails_queued_until_it_is_back(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    [row] = await queued(firm_a)
    await smtp.stop()
    waited = []
    for attempt in range(1, 7):  # 10 s, 1 min, 5 min, then every 15 min: never FAILED
        assert await mailer.send_due(transport, MAIL_FROM) == 1
        stored = await reread(row)
        assert (stored.status, stored.attempts) == (EmailStatus.QUEUED, attempt)
        assert stored.last_error is not None
        assert stored.last_error.startswith(f"cannot connect to smtp 127.0.0.1:{smtp.port}")
        waited.append(stored.next_attempt_at - clock.now())
        assert await mailer.send_due(transport, MAIL_FROM) == 0
        clock.advance(waited[-1])
    assert [w.total_seconds() for w in waited] == [10, 60, 300, 900, 900, 900]

    await smtp.start()  # back, on the same port
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    [got] = await smtp.wait_for(1)
    assert got.message_id == f"<{row.header_message_id}@acme.test>"
    stored = await reread(row)
    assert (stored.status, stored.attempts, stored.last_error) == (EmailStatus.SENT, 7, None)


async def test_a_connection_the_server_dropped_while_idle_is_replaced(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    """The next email goes on a kept connection; the server restarted meanwhile: the email
    goes on a new one, at its first attempt."""
    [first] = await queued(firm_a, "first@example.test")
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    await smtp.stop()
    await smtp.start()
    [second] = await queued(firm_a, "second@example.test")
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    await smtp.wait_for(2)
    assert [(await reread(e)).status for e in (first, second)] == [EmailStatus.SENT] * 2
    assert (await reread(second)).attempts == 1


async def test_a_refused_recipient_is_failed_with_the_servers_answer(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    smtp.refuse("nobody@example.test")
    bad, good = await queued(firm_a, "nobody@example.test", "good@example.test")
    assert await mailer.send_due(transport, MAIL_FROM) == 2
    [got] = await smtp.wait_for(1)
    assert got.rcpt_tos == ["good@example.test"]
    failed = await reread(bad)
    assert (failed.status, failed.attempts, failed.sent_at) == (EmailStatus.FAILED, 1, None)
    assert failed.last_error == "550 5.1.1 <nobody@example.test>: no such mailbox (RCPT TO)"
    assert (await reread(good)).status == EmailStatus.SENT
    clock.advance(timedelta(days=1))
    assert await mailer.send_due(transport, MAIL_FROM) == 0  # never tried again


@pytest.mark.parametrize(
    ("where", "answer", "status"),
    [
        ("DATA", "554 5.7.1 message content rejected", EmailStatus.FAILED),
        ("DATA", "452 4.3.1 insufficient system storage", EmailStatus.QUEUED),
        ("RCPT TO", "450 4.2.1 mailbox busy", EmailStatus.QUEUED),
        ("RCPT TO", "553 5.1.3 bad recipient address syntax", EmailStatus.FAILED),
    ],
)
async def test_5xx_about_the_email_is_for_good_and_4xx_is_for_later(
    firm_a: NewFirm,
    smtp: SmtpServer,
    transport: SmtpTransport,
    now: datetime,
    where: str,
    answer: str,
    status: EmailStatus,
) -> None:
    [row] = await queued(firm_a)
    if where == "DATA":
        smtp.hold = Hold(lambda envelope: True, answer=answer)
        smtp.hold.release.set()
    else:
        smtp.refuse(AVERY, answer)
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    stored = await reread(row)
    assert (stored.status, stored.last_error) == (status, f"{answer} ({where})")
    assert smtp.received == []


async def test_a_bad_address_is_failed_without_reaching_the_server(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    [row] = await queued(firm_a)
    await Email.filter(id=row.id).update(to_address="a@b.test>\r\nRCPT TO:<c@d.test")
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    stored = await reread(row)
    assert stored.status == EmailStatus.FAILED
    assert stored.last_error is not None and "not a valid email address" in stored.last_error
    assert smtp.received == [] and smtp.data_answers == {}


async def test_sign_in_with_a_user_and_password_that_no_log_or_error_shows(
    firm_a: NewFirm, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    password = "pw-" + secrets.token_hex(8)
    async with SmtpServer(credentials=("mailer", password)) as smtp:
        [row] = await queued(firm_a)
        wrong = SmtpTransport(smtp.url.replace(password, "not-" + password))
        assert await mailer.send_due(wrong, MAIL_FROM) == 1
        await wrong.close()
        stored = await reread(row)
        assert stored.status == EmailStatus.QUEUED  # the server refuses us, not the email
        assert stored.last_error is not None and "535" in stored.last_error
        clock.advance(timedelta(seconds=10))
        right = SmtpTransport(smtp.url)
        assert password not in right.description and right.description == (
            f"smtp 127.0.0.1:{smtp.port}"
        )
        assert await mailer.send_due(right, MAIL_FROM) == 1
        await right.close()
        await smtp.wait_for(1)
        assert smtp.logins == ["mailer"]
        stored = await reread(row)
    assert stored.status == EmailStatus.SENT
    assert password not in caplog.text and password not in str(stored.last_error)


# ----------------------------------------------------------------------- portal links


async def test_a_portal_links_token_is_put_in_when_sent_and_dropped_after(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    token = secrets.token_urlsafe(32)
    link = f"http://127.0.0.1:8000/portal/sign-in?token={LINK_TOKEN_PLACEHOLDER}"
    [row] = await queued(
        firm_a,
        kind=EmailKind.PORTAL_LINK,
        subject="Your sign-in link",
        text=f"Sign in: {link}\n",
        html=f'<p><a href="{link}">Sign in</a></p>\n',
        sealed_secret=keys.seal(token.encode(), LINK_TOKEN_PURPOSE),
    )
    assert token not in row.text_body + row.html_body
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    [got] = await smtp.wait_for(1)
    plain, rich = got.message.iter_parts()
    assert content(plain) == f"Sign in: {link.replace(LINK_TOKEN_PLACEHOLDER, token)}\n"
    assert f'href="{link.replace(LINK_TOKEN_PLACEHOLDER, token)}"' in content(rich)
    assert LINK_TOKEN_PLACEHOLDER not in got.data.decode()
    stored = await reread(row)
    assert (stored.status, stored.sealed_secret) == (EmailStatus.SENT, None)
    assert token not in stored.text_body + stored.html_body  # never stored in clear


async def test_a_token_that_does_not_open_fails_the_email_and_sends_nothing(
    firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport, now: datetime
) -> None:
    sealed_for_something_else = keys.seal(b"token", b"webhook-secret")
    [row] = await queued(
        firm_a, kind=EmailKind.PORTAL_LINK, sealed_secret=sealed_for_something_else
    )
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    stored = await reread(row)
    assert (stored.status, stored.sealed_secret) == (EmailStatus.FAILED, None)
    assert stored.last_error is not None and "cannot be read" in stored.last_error
    assert smtp.data_answers == {}


# ----------------------------------------------------------------------- no SMTP server


async def test_without_smtp_each_email_is_an_eml_file_that_parses(
    firm_a: NewFirm, tmp_path: Path, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "not" / "yet" / "there"
    folder = FolderTransport(outbox)
    [row] = await queued(firm_a, subject="Your organizer — 2025")
    caplog.set_level(logging.INFO, "workflow.mail")
    assert await mailer.send_due(folder, MAIL_FROM) == 1

    [path] = list(outbox.iterdir())
    assert path.name == f"{row.created_at:%Y%m%dT%H%M%SZ}-{row.id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Your organizer — 2025"
    assert message["To"] == AVERY
    assert message["Message-ID"] == f"<{row.header_message_id}@acme.test>"
    plain, rich = message.iter_parts()
    assert content(plain) == "Your return is ready for review.\n"
    assert rich.get_content_type() == "text/html"
    [line] = [r.getMessage() for r in caplog.records if r.name == "workflow.mail"]
    assert line == f"email to {AVERY}, subject 'Your organizer — 2025': written to {path}"
    assert (await reread(row)).status == EmailStatus.SENT

    # Written again (its SENT lost to a crash, its lease over): the same file, replaced.
    await Email.filter(id=row.id).update(status=EmailStatus.QUEUED, next_attempt_at=now)
    assert await mailer.send_due(folder, MAIL_FROM) == 1
    assert list(outbox.iterdir()) == [path]
    # A file holds what the client was sent, a sign-in link's token too: its owner's only.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700


def test_settings_read_smtp_url_and_mail_from() -> None:
    load = settings_module.load
    config = load({"SMTP_URL": "smtp://u:p%40ss@mail.example.test:2525?starttls=true&timeout=5"})
    smtp = SmtpTransport(config.smtp_url or "")
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == (
        "mail.example.test",
        2525,
        "u",
        "p@ss",
    )
    assert (smtp.start_tls, smtp.use_tls, smtp.command_timeout, smtp.timeout) == (
        True,
        False,
        5.0,
        10.0,
    )
    assert SmtpTransport("smtps://mail.example.test").port == 465
    assert SmtpTransport("smtp://mail.example.test?starttls=true").port == 587
    assert SmtpTransport("smtp://mail.example.test").port == 25
    for bad, says in [
        ("http://mail.example.test", "SMTP_URL: expected"),
        ("smtp://mail.example.test?tls=yes", "unknown option tls"),
        ("smtp://mail.example.test?starttls=maybe", "starttls is true or false"),
        ("smtps://mail.example.test?starttls=true", "smtps:// is TLS from the start"),
        ("smtp://mail.example.test?timeout=0", "timeout='0'"),
        ("smtp://mail.example.test?timeout=forever", "timeout='forever'"),
    ]:
        with pytest.raises(settings_module.ConfigError, match=says):
            load({"SMTP_URL": bad})
    for bad in [
        "no address",
        "Name <a b@c>",
        "x@",
        "Evil\r\nBcc: a@b <a@b.c>",
        # one address, one From: a second one would be a second author (and reply address)
        "firm@example.test, evil@example.test",
        "Firm <firm@example.test>, evil@example.test",
        "Firm <firm@example.test> evil@example.test",
        "Firm <firm@example.test>;evil@example.test",
    ]:
        with pytest.raises(settings_module.ConfigError, match="MAIL_FROM"):
            load({"MAIL_FROM": bad})
    for good in [
        '"Firm, Inc" <firm@example.test>',
        "Fïrm <firm@example.test>",
        "firm@example.test",
    ]:
        assert load({"MAIL_FROM": good}).mail_from == good


def test_the_startup_log_says_where_mail_goes_without_the_password() -> None:
    secret = "pw-" + secrets.token_hex(8)
    config = settings_module.load(
        {"SMTP_URL": f"smtp://mailer:{secret}@127.0.0.1:2525?starttls=true"}
    )
    lines = server.startup_lines(config, workers=1, runner=True)
    assert (
        f"mail: smtp 127.0.0.1:2525 (STARTTLS), from {config.mail_from}, sent by this server"
        in lines
    )
    assert secret not in "\n".join(lines)
    folder = settings_module.load({"MAIL_DIR": "mail/out"})
    assert server.startup_lines(folder, workers=1, runner=False)[-1] == (
        "mail: written as .eml files to mail/out/ (no SMTP_URL), from "
        "Workflow <no-reply@localhost>, sent by the `python server.py worker` processes"
    )


# ----------------------------------------------------------------------- the running mailer


async def test_the_workers_mailer_sends_what_a_change_queued(
    firm_a: NewFirm, smtp: SmtpServer
) -> None:
    """The mailer among the process's loops (web.workers), woken by the commit."""
    config = settings_module.load({"SMTP_URL": smtp.url, "MAIL_FROM": MAIL_FROM})
    async with workers.running(config) as loops:
        assert "mailer" in [loop.name for loop in loops]
        [row] = await queued(firm_a)
        [got] = await smtp.wait_for(1)
    assert got.message_id == f"<{row.header_message_id}@acme.test>"
    assert (await reread(row)).status == EmailStatus.SENT


async def test_a_mailer_stopping_records_the_message_the_server_is_answering(
    firm_a: NewFirm, smtp: SmtpServer
) -> None:
    """Stopped while the server has the message and has not answered yet: the Mailer waits
    for the answer (within STOP_GRACE) and records SENT, rather than cancelling an attempt the
    server accepts, which would be sent again when its lease expired."""
    [row] = await queued(firm_a)
    hold = smtp.hold = Hold(lambda _: True, answer="250 OK")
    running = mailer.Mailer(SmtpTransport(smtp.url), MAIL_FROM)
    running.start()
    async with asyncio.timeout(10):
        await hold.arrived.wait()
    assert running._task is not None
    stopping = asyncio.create_task(running.stop())
    await asyncio.wait([running._task])  # the loop has stopped: no more claims
    await asyncio.sleep(0)  # a turn for stop() to go on to the attempts in flight
    assert not stopping.done()
    hold.release.set()
    async with asyncio.timeout(mailer.STOP_GRACE):
        await stopping
    assert (await reread(row)).status == EmailStatus.SENT
    assert len(smtp.received) == 1
