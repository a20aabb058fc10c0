"""The broker carries notifications between processes; the event log carries the truth.

A notification only says "channel X has news"; whoever listens reads the news from the log.
So a lost notification (Redis down, a process dying after commit) costs latency, never an
event: feeds also poll the log (see realtime.hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
RECONNECT_DELAY = 0.5


class Broker(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, channel: str, message: str) -> None: ...
    async def listen(self, channel: str, listener: Listener) -> None: ...
    async def unlisten(self, channel: str, listener: Listener) -> None: ...
    async def ping(self) -> bool: ...


class InProcessBroker:
    """The embedded default: one process, so a notification is a function call."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[Listener]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.listeners.clear()

    async def publish(self, channel: str, message: str) -> None:
        for listener in list(self.listeners.get(channel, ())):
            listener(message)

    async def listen(self, channel: str, listener: Listener) -> None:
        self.listeners[channel].add(listener)

    async def unlisten(self, channel: str, listener: Listener) -> None:
        self.listeners[channel].discard(listener)
        if not self.listeners[channel]:
            del self.listeners[channel]

    async def ping(self) -> bool:
        return True


class RedisBroker:
    """Redis pub/sub. One connection per process carries every channel this process listens
    to, each subscribed once however many local listeners it has, and dropped with the last.
    The reader reconnects by itself; `on_reconnect` lets feeds catch up from the log."""

    def __init__(self, url: str, on_reconnect: Callable[[], None] | None = None) -> None:
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=10
        )
        self.listeners: dict[str, set[Listener]] = defaultdict(set)
        self.on_reconnect = on_reconnect
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self.pubsub.aclose()
        await self.client.aclose()

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self.client.publish(channel, message)
        except (RedisError, OSError) as error:  # subscribers catch up from the log
            log.warning("publish to %s failed: %s", channel, error)

    async def listen(self, channel: str, listener: Listener) -> None:
        first = not self.listeners[channel]
        self.listeners[channel].add(listener)
        if first and self.connected.is_set():
            try:
                await self.pubsub.subscribe(channel)
            except (RedisError, OSError) as error:  # resubscribed on reconnect
                log.warning("subscribe to %s failed: %s", channel, error)

    async def unlisten(self, channel: str, listener: Listener) -> None:
        self.listeners[channel].discard(listener)
        if self.listeners[channel]:
            return
        del self.listeners[channel]
        if self.connected.is_set():
            try:
                await self.pubsub.unsubscribe(channel)
            except (RedisError, OSError) as error:
                log.warning("unsubscribe from %s failed: %s", channel, error)

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), timeout=1))
        except (RedisError, OSError, TimeoutError):
            return False

    async def _read(self) -> None:
        while True:
            try:
                await self.pubsub.ping()  # connects
                channels = list(self.listeners)
                if channels:
                    await self.pubsub.subscribe(*channels)
                self.connected.set()
                if self.on_reconnect:
                    self.on_reconnect()
                while True:
                    message = await self.pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                if self.connected.is_set():
                    log.warning("redis broker disconnected: %s", error)
                self.connected.clear()
                with contextlib.suppress(RedisError, OSError):
                    await self.pubsub.aclose()
                self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await asyncio.sleep(RECONNECT_DELAY)

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        text = data.decode() if isinstance(data, bytes) else data
        for listener in list(self.listeners.get(name, ())):
            listener(text)


def create_broker(redis_url: str | None, on_reconnect: Callable[[], None]) -> Broker:
    return RedisBroker(redis_url, on_reconnect) if redis_url else InProcessBroker()
