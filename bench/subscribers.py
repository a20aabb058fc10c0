"""A process holding many idle subscribers: websockets (graphql-transport-ws) to the servers,
or raw Redis SUBSCRIBE connections (the fan-out floor). Spoken to over stdin/stdout, one JSON
object a line (see `Pool` for the parent's side):

    {"cmd": "open", "kind": "ws", "urls": [...], "count": N, "token": T, "query": Q, "variables": V}
    {"cmd": "open", "kind": "redis", "url": U, "count": N, "channel": C}
    {"cmd": "wait", "events": K, "timeout": S}   until every subscriber has K events
    {"cmd": "report"}                            latencies (ms) since the last report
    {"cmd": "close"}

Each connection is a bare asyncio protocol that stamps a message when its last byte arrives
and decodes it later: the websockets library costs ~50 µs a message, which at 10,000
subscribers would measure this process rather than the server. Latency is receipt time minus
the time the message carries (the event's occurredAt, or the publisher's clock).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import sys
import time
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import orjson


def mask(payload: bytes) -> bytes:
    """A client frame's payload must be masked (RFC 6455, 5.3)."""
    key = os.urandom(4)
    length = len(payload)
    stream = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return key + masked.to_bytes(length, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    return head + mask(payload)


class Tally:
    """Messages received by all the subscribers of this process; wakes `wait` at a target."""

    def __init__(self) -> None:
        self.count, self.target = 0, 0
        self.reached = asyncio.Event()

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.reached.set()

    async def until(self, target: int, seconds: float) -> bool:
        self.target = target
        if self.count < target:
            self.reached.clear()
            try:
                await asyncio.wait_for(self.reached.wait(), seconds)
            except TimeoutError:
                return False
        return True


TALLY: Tally | None = None


class Subscriber(asyncio.Protocol):
    """Base: counts messages, keeps (receipt time, raw message) for decoding later."""

    def __init__(self) -> None:
        assert TALLY is not None
        self.tally = TALLY
        self.buffer = b""
        self.messages: list[tuple[float, bytes]] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.errors: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))
        elif self.transport is not None and not self.transport.is_closing():
            self.errors.append(f"connection lost: {exc}")

    def latencies(self) -> list[float]:
        raise NotImplementedError


class WebSocketSubscriber(Subscriber):
    """`timed`: the event type whose deliveries are timed and counted; events of other types
    (a JOB_OVERDUE that the servers' own scheduler records meanwhile) are only counted apart."""

    def __init__(
        self, url: str, token: str, query: str, variables: dict[str, Any], timed: str | None
    ) -> None:
        super().__init__()
        self.timed = None if timed is None else f'"type":{orjson.dumps(timed).decode()}'.encode()
        self.untimed = 0
        self.parts = urlsplit(url)
        self.init = orjson.dumps(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        )
        self.subscribe = orjson.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        self.upgraded = False
        self.closed_with: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        assert self.transport is not None
        self.transport.write(
            f"GET {self.parts.path} HTTP/1.1\r\nHost: {self.parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        received = time.time()
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(head[:200].decode(errors="replace")))
                return
            self.upgraded, self.buffer = True, rest
            self.send(1, self.init)
        while (message := self.next_frame()) is not None:
            opcode, payload = message
            if opcode == 1:
                self.on_text(received, payload)
            elif opcode == 9:  # a ping frame: uvicorn closes connections that do not answer
                self.send(10, payload)
            elif opcode == 8:
                self.closed_with = int.from_bytes(payload[:2], "big") if payload else 1005

    def next_frame(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        length, at = buffer[1] & 0x7F, 2
        if length == 126:
            length, at = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            length, at = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < at + length:
            return None
        self.buffer = buffer[at + length :]
        return buffer[0] & 0x0F, buffer[at : at + length]

    def on_text(self, received: float, payload: bytes) -> None:
        if b'"next"' in payload[:40]:  # an event: decoded later, off the clock
            if self.timed is not None and self.timed not in payload:
                self.untimed += 1
                return
            self.messages.append((received, payload))
            self.tally.hit()
            return
        message = orjson.loads(payload)
        if message["type"] == "connection_ack":
            self.send(1, self.subscribe)
            if not self.ready.done():
                self.ready.set_result(None)
        elif message["type"] == "ping":
            self.send(1, b'{"type":"pong"}')
        elif message["type"] in ("error", "complete"):
            self.errors.append(payload[:200].decode(errors="replace"))

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame(opcode, payload))

    def latencies(self) -> list[float]:
        out = []
        for received, payload in self.messages:
            message = orjson.loads(payload)
            if message["payload"].get("errors"):
                self.errors.append(str(message["payload"]["errors"])[:200])
                continue
            event = next(iter(message["payload"]["data"].values()))
            occurred = datetime.fromisoformat(event["occurredAt"]).timestamp()
            out.append((received - occurred) * 1000)
        return out


class RedisSubscriber(Subscriber):
    """SUBSCRIBE over RESP; each message carries the publisher's time.time()."""

    def __init__(self, channel: str) -> None:
        super().__init__()
        self.channel = channel

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(f"SUBSCRIBE {self.channel}\r\n".encode())

    def data_received(self, data: bytes) -> None:
        received = time.time()
        self.buffer += data
        while (parts := self.next_array()) is not None:
            if parts[0] == b"message":
                self.messages.append((received, parts[2]))
                self.tally.hit()
            elif parts[0] == b"subscribe" and not self.ready.done():
                self.ready.set_result(None)

    def next_array(self) -> list[bytes] | None:
        """One complete RESP array of bulk strings / integers off the buffer, or None."""
        buffer = self.buffer
        if not buffer.startswith(b"*") or b"\r\n" not in buffer:
            return None
        head, _, rest = buffer.partition(b"\r\n")
        parts = []
        for _ in range(int(head[1:])):
            line, found, after = rest.partition(b"\r\n")
            if not found:
                return None
            if line.startswith(b"$"):
                size = int(line[1:])
                if len(after) < size + 2:
                    return None
                parts.append(after[:size])
                rest = after[size + 2 :]
            else:
                parts.append(line[1:])
                rest = after
        self.buffer = rest
        return parts

    def latencies(self) -> list[float]:
        return [(received - float(sent)) * 1000 for received, sent in self.messages]


class Worker:
    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []

    async def open(self, request: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(32)  # handshakes in flight: more only queue in the servers

        async def connect(n: int) -> Subscriber:
            if request["kind"] == "ws":
                url = request["urls"][n % len(request["urls"])]
                subscriber: Subscriber = WebSocketSubscriber(
                    url,
                    request["token"],
                    request["query"],
                    request["variables"],
                    request.get("timed"),
                )
            else:
                url = request["url"]
                subscriber = RedisSubscriber(request["channel"])
            parts = urlsplit(url)
            async with gate:
                await loop.create_connection(lambda: subscriber, parts.hostname, parts.port)
                await subscriber.ready
            return subscriber

        started = time.perf_counter()
        async with asyncio.timeout(request.get("timeout", 1800)):
            self.subscribers += await asyncio.gather(*(connect(n) for n in range(request["count"])))
        return {"opened": len(self.subscribers), "seconds": time.perf_counter() - started}

    async def wait(self, request: dict[str, Any]) -> dict[str, Any]:
        """Until every subscriber has `events` messages since the last report."""
        assert TALLY is not None
        target = TALLY.count - self.pending() + request["events"] * len(self.subscribers)
        if not await TALLY.until(target, request.get("timeout", 60)):
            return {"events": min(len(s.messages) for s in self.subscribers), "timeout": True}
        return {"events": min(len(s.messages) for s in self.subscribers)}

    def pending(self) -> int:
        """Messages held (received since the last report)."""
        return sum(len(s.messages) for s in self.subscribers)

    def report(self) -> dict[str, Any]:
        latencies, errors, untimed = [], [], 0
        for subscriber in self.subscribers:
            latencies += subscriber.latencies()
            if isinstance(subscriber, WebSocketSubscriber):
                untimed, subscriber.untimed = untimed + subscriber.untimed, 0
            errors += subscriber.errors
            closed = getattr(subscriber, "closed_with", None)
            if closed is not None:
                errors.append(f"closed by the server with {closed}")
            subscriber.messages, subscriber.errors = [], []
        return {
            "latencies": latencies,
            "errors": errors[:20],
            "error_count": len(errors),
            "untimed": untimed,
        }

    def close(self) -> dict[str, Any]:
        for subscriber in self.subscribers:
            if subscriber.transport is not None:
                subscriber.transport.close()
        self.subscribers = []
        return {}


async def serve() -> None:
    global TALLY
    TALLY = Tally()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker()
    while line := await reader.readline():
        request = json.loads(line)
        command = request["cmd"]
        try:
            if command == "open":
                answer = await worker.open(request)
            elif command == "wait":
                answer = await worker.wait(request)
            elif command == "report":
                answer = worker.report()
            else:
                answer = worker.close()
        except Exception as error:  # the parent shows it; this process keeps serving
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())
