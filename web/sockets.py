"""Open websockets, closed as soon as the token they authenticated with stops working.

A revocation (token revoked, user deactivated or their role changed) is announced on the
broker's "access" channel, so every process closes its sockets of that token or user with 4401
at once; a periodic re-check of every open socket's token covers a lost announcement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref

from starlette.websockets import WebSocket, WebSocketState

from realtime.broker import Broker
from workflow.firms import live_token_ids
from workflow.scope import Scope

log = logging.getLogger(__name__)
CHANNEL = "access"
REVOKED_CLOSE_CODE = 4401
RECHECK_INTERVAL = 10.0


class OpenSockets:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.sockets: weakref.WeakKeyDictionary[WebSocket, Scope] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        self._recheck: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.broker.listen(CHANNEL, self._on_message)
        self._recheck = asyncio.create_task(self._recheck_forever(), name="socket-recheck")

    async def close(self) -> None:
        await self.broker.unlisten(CHANNEL, self._on_message)
        if self._recheck:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck

    def add(self, websocket: WebSocket, scope: Scope) -> None:
        self.sockets[websocket] = scope

    async def announce(self, token_ids: list[int], user_ids: list[int]) -> None:
        """Tell every process (this one included) to close these tokens' and users' sockets."""
        message = json.dumps({"tokens": token_ids, "users": user_ids})
        await self.broker.publish(CHANNEL, message)

    def _on_message(self, message: str) -> None:
        try:
            revoked = json.loads(message)
            tokens, users = set(revoked["tokens"]), set(revoked["users"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed access message: %.100s", message)
            return
        self._close_where(lambda s: s.token_id in tokens or s.user_id in users)

    def _close_where(self, revoked: object) -> None:
        for websocket, scope in list(self.sockets.items()):
            if revoked(scope) and websocket.client_state != WebSocketState.DISCONNECTED:  # type: ignore[operator]
                del self.sockets[websocket]
                task = asyncio.create_task(
                    websocket.close(code=REVOKED_CLOSE_CODE, reason="token no longer valid")
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_INTERVAL)
            try:
                open_tokens = {s.token_id for s in self.sockets.values() if s.token_id}
                dead = open_tokens - await live_token_ids(open_tokens)
                if dead:
                    self._close_where(lambda s, dead=dead: s.token_id in dead)
            except Exception:
                log.exception("re-checking open websockets' tokens failed; will retry")
