"""A real SMTP server for the mail tests (aiosmtpd on 127.0.0.1, in the test's own event loop):
it keeps every message it accepts, can refuse chosen recipients (550 by default), can be
stopped (connections dropped, the port closed: "SMTP down") and started again on the same port,
and can hold a message at the end of its DATA until the test lets it go (the sending mailer is
then waiting for the answer: the moment a crash test kills it).

`python -m tests.smtp [--port N]` runs one that accepts everything, for the bench
(bench/mail.py) and for trying the mailer by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers import free_port


@dataclass
class Received:
    """A message the server accepted (answered 250 to its DATA)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Hold:
    """Messages matching `holds` wait at the end of their DATA until `release` is set, then
    get `answer` (the message is kept only if it is a 250)."""

    holds: Callable[[Envelope], bool]
    answer: str = "451 4.3.0 try again later"
    release: asyncio.Event = field(default_factory=asyncio.Event)
    held: list[Envelope] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set as each one is held


class SmtpServer:
    """One server on a fixed loopback port (free when made): start, stop, start again."""

    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.credentials = credentials  # if set, AUTH with exactly these is required
        self.received: list[Received] = []
        self.refused: dict[str, str] = {}  # recipient (lower-case) -> the RCPT answer
        self.hold: Hold | None = None
        self.data_answers: Counter[str] = Counter()  # every DATA answer given, by its code
        self.logins: list[str] = []  # user names that signed in
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        """SMTP_URL for this server."""
        if self.credentials:
            user, password = self.credentials
            return f"smtp://{user}:{password}@127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- running

    async def start(self) -> SmtpServer:
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            protocol = _Protocol(self, loop)
            self._sessions.add(protocol)
            return protocol

        self._server = await loop.create_server(session, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def stop(self) -> None:
        """Close the port and drop every open connection: the server is down."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.abort()
        self._sessions.clear()

    async def __aenter__(self) -> SmtpServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        if self.hold is not None:
            self.hold.release.set()
        await self.stop()

    # ---------------------------------------------------------------- what it got

    def refuse(self, address: str, answer: str = "550 5.1.1 <{}>: no such mailbox") -> None:
        """Refuse RCPT TO this address with `answer` (`{}` is the address)."""
        self.refused[address.lower()] = answer.format(address)

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID was accepted."""
        return Counter(received.message_id for received in self.received)

    async def wait_for(self, count: int, within: float = 10) -> list[Received]:
        """Until `count` messages have been accepted."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received

    async def _accepted(self, envelope: Envelope) -> None:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        async with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- aiosmtpd's hooks

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.refused.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = "250 2.0.0 OK: queued"
        hold = self.hold
        if hold is not None and hold.holds(envelope):
            hold.held.append(envelope)
            hold.arrived.set()
            await hold.release.wait()  # cancelled if the client goes away meanwhile
            answer = hold.answer
        self.data_answers[answer[:3]] += 1
        if answer.startswith("250"):
            await self._accepted(envelope)
        return answer

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        if given != self.credentials:
            return AuthResult(success=False, handled=False)
        self.logins.append(given[0])
        return AuthResult(success=True)


class _Protocol(SMTP):
    """aiosmtpd's session, told its loop and host name (no DNS lookup), forgotten when closed."""

    def __init__(self, owner: SmtpServer, loop: asyncio.AbstractEventLoop) -> None:
        auth: dict[str, Any] = {}
        if owner.credentials is not None:  # plain-text AUTH allowed: loopback tests only
            auth = {
                "authenticator": owner.authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        with warnings.catch_warnings():  # that AUTH without TLS is unsafe: loopback only here
            warnings.simplefilter("ignore", UserWarning)
            super().__init__(owner, hostname="smtp.test", loop=loop, **auth)
        self.owner = owner

    def connection_lost(self, error: Exception | None) -> None:
        self.owner._sessions.discard(self)
        super().connection_lost(error)


async def serve(port: int) -> None:
    server = await SmtpServer(port).start()
    print(f"SMTP on 127.0.0.1:{server.port}, accepting everything", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.smtp", description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
