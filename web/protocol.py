"""The HTTP/1.1 protocol uvicorn serves with (its httptools one), with the limits on slow and
greedy clients that uvicorn lacks (its `timeout_keep_alive` only closes idle connections
between requests, and `limit_concurrency` acts only once a request head is complete):

- a request head must be complete HEADER_TIMEOUT_SECONDS after the connection opened, or
  after the first byte of a keep-alive connection's next request, however steadily its bytes
  trickle in (slowloris): a partial head is answered 408, a silent connection just closed;
- a head over MAX_HEAD_BYTES is answered 431: httptools would buffer it whole;
- a body must be complete BODY_TIMEOUT_SECONDS after its head. The app answers one it is
  still reading with 408 (web.middleware.BodyLimit); here the connection is not kept alive
  after such an answer, and a body nobody reads (the answer already sent) is cut off;
- a process holds at most MAX_CONNECTIONS connections, websockets included: the next one is
  answered 503 and closed at once;
- a websocket's kernel send buffer is fixed at WEBSOCKET_SEND_BUFFER (no autotuning to
  megabytes): a client that stops reading is then noticed by the app after a few events
  (web.subscriptions closes it with 4413) instead of the kernel holding them for it.

The limits come from the environment (settings.load), once per serving process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import time
from asyncio import TimerHandle
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import State

import settings as settings_module

log = logging.getLogger("workflow.connections")
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; a bearer token and browser headers fit
REFUSAL_LOG_INTERVAL = 10.0  # seconds: refusals are logged as a count, not one line each
# Seconds a refused connection still reads (and drops) what the client sends after our answer:
# closing with unread data would reset the connection and lose the answer on its way.
LINGER = 1.0
WEBSOCKET_SEND_BUFFER = 128 * 1024  # bytes (the kernel doubles it for its bookkeeping)


def _answer(status: str, code: str, message: str, *headers: bytes) -> bytes:
    """A whole HTTP response that closes the connection, with a GraphQL-style error body."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    head = [
        f"HTTP/1.1 {status}".encode(),
        b"content-type: application/json",
        b"connection: close",
        b"content-length: %d" % len(body),
        *headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@functools.cache
def _settings() -> settings_module.Settings:
    return settings_module.load()


class GuardedHttpProtocol(HttpToolsProtocol):
    _refused = 0
    _refusals_logged_at = 0.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = _settings()
        self.max_connections = limits.max_connections
        self.header_timeout = limits.header_timeout
        self.body_timeout = limits.body_timeout
        self.in_head = True  # the next bytes belong to a request head
        self.head_bytes = 0
        self.head_timer: TimerHandle | None = None
        self.body_timer: TimerHandle | None = None
        self.hanging_up = False

    # ------------------------------------------------------------------ the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.connections) > self.max_connections:
            self._log_refusal()
            self._hang_up(
                _answer(
                    "503 Service Unavailable",
                    "SERVICE_UNAVAILABLE",
                    "the server has too many open connections: retry shortly",
                    b"retry-after: 1",
                )
            )
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.hanging_up:
            return
        in_head = self.in_head
        if in_head and self.head_timer is None:
            self._arm_head_timer()  # the first byte of a keep-alive connection's next request
        super().data_received(data)
        if in_head and self.in_head:  # all of it was head: still incomplete
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._hang_up(
                    _answer(
                        "431 Request Header Fields Too Large",
                        "REQUEST_TOO_LARGE",
                        f"the request head is over {MAX_HEAD_BYTES} bytes",
                    )
                )

    # ------------------------------------------------------------------ parser callbacks

    def on_headers_complete(self) -> None:
        self.in_head, self.head_bytes = False, 0
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().on_headers_complete()
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        if upgrading and (sock := self.transport.get_extra_info("socket")) is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, WEBSOCKET_SEND_BUFFER)
        if not upgrading and not self.transport.is_closing():
            self.body_timer = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        self.in_head = True
        super().on_message_complete()

    # ------------------------------------------------------------------ deadlines

    def _arm_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # Bytes after a request whose answer is still being made (a stray CRLF, a
            # pipelined head): no further request on this connection, but that answer goes.
            self.cycle.keep_alive = False
            return
        if self.head_bytes:
            self._hang_up(
                _answer(
                    "408 Request Timeout",
                    "REQUEST_TIMEOUT",
                    f"the request head took over {self.header_timeout:g} s",
                )
            )
        else:
            self.transport.close()

    def _body_too_slow(self) -> None:
        self.body_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # answered already; nobody waits for the rest
        else:
            self.cycle.keep_alive = False  # the app's answer (408 if it reads) ends it

    def _hang_up(self, answer: bytes) -> None:
        """Send `answer`, then our end of the connection; close it once the client has closed
        its end, or after LINGER seconds."""
        self._cancel_timers()
        self.hanging_up = True
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    def _cancel_timers(self) -> None:
        for timer in (self.head_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = None

    def _log_refusal(self) -> None:
        cls = GuardedHttpProtocol
        cls._refused += 1
        now = time.monotonic()
        if now - cls._refusals_logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning(
                "refused %d connection(s): MAX_CONNECTIONS=%d are open",
                cls._refused,
                self.max_connections,
            )
            cls._refused, cls._refusals_logged_at = 0, now


def text_frame(data: bytes) -> bytes:
    """A whole websocket text frame of `data` as a server sends it (RFC 6455 5.2: FIN, no
    mask, the length in 7, 16 or 64 bits)."""
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data


class Inbox:
    """What uvicorn's websocket protocol uses of an asyncio.Queue (put_nowait, get, empty),
    for the one task that reads a socket (the app's): a list, and a future while it waits.
    An asyncio.Queue holds three deques and an Event (four more), ~3.3 KB a socket."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def empty(self) -> bool:
        return not self.items

    async def get(self) -> Any:
        if self.waiter is not None:
            raise RuntimeError("a websocket is read by one task at a time")
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.pop(0)


class Gate:
    """What uvicorn's websocket protocol uses of an asyncio.Event (set, clear, wait) for its
    `writable`: a flag, and futures only while sends wait for the client (an Event holds a
    deque, ~0.8 KB a socket)."""

    __slots__ = ("flag", "waiters")

    def __init__(self, flag: bool) -> None:
        self.flag = flag
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.flag = False

    async def wait(self) -> bool:
        if self.flag:
            return True  # at once, without yielding to the loop (as an Event does)
        waiter = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        try:
            await waiter
        finally:
            if self.waiters is not None and waiter in self.waiters:
                self.waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets' Sans-I/O protocol (no task of its own per connection, unlike the legacy
    one), lighter per open socket:

    - its receive queue and `writable` event are an Inbox and a Gate (~4 KB less);
    - once accepted, the handshake is not kept for the socket's whole life: uvicorn's request
      and response are dropped, and the request's headers emptied (websockets' parser still
      holds the request, a local of its suspended generator: ~2.7 KB), as are the scope's
      (~1 KB; nothing reads a websocket's headers after its handshake).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = cast(Any, Inbox())
        self.writable = cast(Any, Gate(self.writable.is_set()))

    def write_text(self, data: bytes) -> bool:
        """Write a text frame of `data` (UTF-8) at once, as `send` would write a websocket.send
        of it; False, writing nothing, when `send` must do it: the socket is not open (a close
        sent or received), the client is not reading, or frames are not plain (an extension)."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(text_frame(data))
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.request is not None:
            self.request.headers.clear()
            self.scope["headers"] = []
            self.request = self.response = cast(Any, None)
