"""How a composed email leaves: over SMTP (aiosmtplib) to SMTP_URL, or, with no SMTP_URL (the
embedded default), as an .eml file under MAIL_DIR that a person can open.

Every attempt has one of three outcomes (Outcome):
- sent: the server answered 250 to the message's DATA (or the file is in place);
- refused for good (`permanent`): a 5xx answer about this message, to RCPT TO (no such
  mailbox) or to its DATA (content refused), or 552 to MAIL FROM (too large); the server's code
  and text are kept for staff to see;
- not now (transient): everything else. A 4xx answer, a refused or dropped connection, a
  timeout, and also a 5xx greeting, EHLO, AUTH or MAIL FROM refusal: those say the server will
  not take mail from us at all (down, misconfigured, wrong password), not that this email is
  bad, so the email waits for the server to be fixed instead of failing.

SMTP connections are reused for the next message (one message at a time on each), kept at most
IDLE_REUSE seconds idle and for MESSAGES_PER_CONNECTION messages; one the server closed while
idle is noticed at MAIL FROM, before anything of the message was sent, and the message goes on
a new connection.

SMTP_URL: `smtp://[USER:PASSWORD@]HOST[:PORT]` (port 25, or 587 with `?starttls=true`: upgrade
to TLS before authenticating, required), `smtps://...` (TLS from the start, port 465), and
`timeout=SECONDS` for each command (default 30; a whole attempt may take twice that, and the
mailer leases an email for twice the attempt). Certificates are verified. The password is in
no log line and no error text: `description` names only host and port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPException, SMTPResponseException, SMTPServerDisconnected

import settings as settings_module

log = logging.getLogger("workflow.mail")

DEFAULT_TIMEOUT = 30.0  # seconds for each SMTP command (SMTP_URL's timeout=)
COMMANDS_PER_ATTEMPT = 2  # an attempt may take this many commands' timeouts in all
FOLDER_TIMEOUT = 30.0  # seconds to write a file (a full or stuck disk: tried again later)
IDLE_REUSE = 5.0  # seconds a connection may sit idle and still be used for the next message
MESSAGES_PER_CONNECTION = 100  # then QUIT and a new connection (servers cap it too)
MAX_IDLE_CONNECTIONS = 20
ERROR_CHARS = 1000  # Email.last_error


@dataclass(frozen=True)
class Outgoing:
    """One message on its way: the envelope and the bytes of the message."""

    email_id: int
    created_at: datetime
    sender: str  # MAIL FROM
    recipient: str  # RCPT TO
    subject: str  # for the folder transport's log line
    data: bytes


@dataclass(frozen=True)
class Outcome:
    sent: bool
    permanent: bool = False  # refused for good: the email is FAILED
    error: str = ""  # what went wrong (the server's code and text when it answered)

    @classmethod
    def transient(cls, error: str) -> Outcome:
        return cls(False, False, error[:ERROR_CHARS])

    @classmethod
    def refused(cls, error: str) -> Outcome:
        return cls(False, True, error[:ERROR_CHARS])


SENT = Outcome(True)


class Transport(Protocol):
    description: str  # where mail goes, for the startup log (no password)
    timeout: float  # seconds an attempt may take in all (the mailer's lease is twice that)

    async def send(self, outgoing: Outgoing) -> Outcome: ...

    async def close(self) -> None: ...


def answer(error: SMTPResponseException) -> str:
    """The server's answer as staff read it: `550 5.1.1 <x@y>: no such user`."""
    return f"{error.code} {' '.join(error.message.split())}"


def by_code(error: SMTPResponseException, stage: str) -> Outcome:
    """An answer about this message (RCPT TO, DATA): 5xx for good, anything else not now."""
    text = f"{answer(error)} ({stage})"
    return Outcome.refused(text) if 500 <= error.code < 600 else Outcome.transient(text)


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    messages: int = 0
    idle_since: float = 0.0


class SmtpTransport:
    """SMTP to the server of SMTP_URL, reusing connections."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        options = {key: value.lower() for key, value in parse_qsl(parts.query)}
        self.use_tls = parts.scheme == "smtps"
        self.start_tls = options.get("starttls") == "true"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.use_tls else 587 if self.start_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.command_timeout = float(options.get("timeout", DEFAULT_TIMEOUT))
        self.timeout = COMMANDS_PER_ATTEMPT * self.command_timeout
        tls = " (TLS)" if self.use_tls else " (STARTTLS)" if self.start_tls else ""
        self.description = f"smtp {self.host}:{self.port}{tls}"
        self._idle: list[_Connection] = []
        self._local_hostname: str | None = None

    async def _connect(self) -> _Connection:
        if self._local_hostname is None:  # the EHLO name; getfqdn may ask DNS: once, off-loop
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.command_timeout,
            local_hostname=self._local_hostname,
        )
        await smtp.connect()
        return _Connection(smtp)

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if (
                connection.smtp.is_connected
                and time.monotonic() - connection.idle_since < IDLE_REUSE
            ):
                return connection
            connection.smtp.close()
        return None

    def _give_back(self, connection: _Connection, healthy: bool) -> None:
        connection.messages += 1
        if (
            healthy
            and connection.smtp.is_connected
            and connection.messages < MESSAGES_PER_CONNECTION
            and len(self._idle) < MAX_IDLE_CONNECTIONS
        ):
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        elif connection.smtp.is_connected and healthy:
            asyncio.get_running_loop().create_task(_quit(connection.smtp))
        else:
            connection.smtp.close()

    async def send(self, outgoing: Outgoing) -> Outcome:
        connection = self._take_idle()
        reused = connection is not None
        while True:
            if connection is None:
                try:
                    connection = await self._connect()
                except SMTPResponseException as error:  # greeting, EHLO, STARTTLS, AUTH
                    return Outcome.transient(f"the server refused us: {answer(error)}")
                except (SMTPException, OSError) as error:
                    return Outcome.transient(f"cannot connect to {self.description}: {error}")
            healthy = False  # whether the connection can take the next message
            try:
                try:
                    await connection.smtp.mail(outgoing.sender)
                except SMTPResponseException as error:
                    healthy = await _reset(connection.smtp)
                    if error.code == 552:  # exceeds the server's size limit: for good
                        return Outcome.refused(f"{answer(error)} (MAIL FROM)")
                    return Outcome.transient(f"the server refused the sender: {answer(error)}")
                except (SMTPServerDisconnected, ConnectionError) as error:
                    if reused:  # closed while idle: nothing of this message was sent
                        connection.smtp.close()
                        connection, reused = None, False
                        continue
                    return Outcome.transient(f"connection lost: {error}")
                try:
                    await connection.smtp.rcpt(outgoing.recipient)
                except SMTPResponseException as error:
                    healthy = await _reset(connection.smtp)
                    return by_code(error, "RCPT TO")
                try:
                    await connection.smtp.data(outgoing.data)
                except SMTPResponseException as error:  # the transaction is over either way
                    healthy = True
                    return by_code(error, "DATA")
                healthy = True
                return SENT
            except (SMTPException, OSError) as error:  # lost, timed out: no answer to trust
                return Outcome.transient(f"{type(error).__name__}: {error}")
            finally:  # cancelled too (the attempt's deadline): then it is closed, not reused
                if connection is not None:
                    self._give_back(connection, healthy)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c.smtp) for c in idle), return_exceptions=True)


async def _reset(smtp: aiosmtplib.SMTP) -> bool:
    """RSET after a refusal, so the connection can take the next message; False if not."""
    try:
        await smtp.rset()
        return True
    except (SMTPException, OSError):
        return False


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(5):
            await smtp.quit()
    except (SMTPException, OSError, TimeoutError):
        pass
    finally:
        smtp.close()


class FolderTransport:
    """Each email as `<MAIL_DIR>/<queued at>-<id>.eml`, written to a temporary file and renamed
    into place (a reader never sees half a file; writing the same email again after a crash
    replaces the file, so the folder holds it once), and one log line. Files are readable by
    their owner only (0600, the folder 0700 when it is made here)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.timeout = FOLDER_TIMEOUT
        self.description = f"written as .eml files to {self.folder}/ (no SMTP_URL)"

    def path(self, outgoing: Outgoing) -> Path:
        stamp = outgoing.created_at.strftime("%Y%m%dT%H%M%SZ")
        return self.folder / f"{stamp}-{outgoing.email_id}.eml"

    def _write(self, outgoing: Outgoing) -> Path:
        # The owner's only: a file holds what the client was sent, a sign-in token too.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.path(outgoing)
        temporary = final.with_name(f".{final.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(outgoing.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        return final

    async def send(self, outgoing: Outgoing) -> Outcome:
        try:
            path = await asyncio.to_thread(self._write, outgoing)
        except OSError as error:
            return Outcome.transient(f"cannot write to {self.folder}: {error}")
        log.info(
            "email to %s, subject %r: written to %s", outgoing.recipient, outgoing.subject, path
        )
        return SENT

    async def close(self) -> None:
        return None


def from_settings(config: settings_module.Settings) -> Transport:
    if config.smtp_url:
        return SmtpTransport(config.smtp_url)
    return FolderTransport(config.mail_dir)


def describe(config: settings_module.Settings) -> str:
    """Where mail goes, for the startup log: `smtp host:port` (never the password) or the
    folder."""
    return from_settings(config).description
