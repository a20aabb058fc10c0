"""Idempotency-Key: a retried request returns the first one's response instead of running again.

Keys belong to the token that sends them: another token's request with the same key is
another request, and never sees this one's answer. The key is claimed (a row unique per token
and key) before the request runs, so of two concurrent requests with one key only one runs;
the other is told the key is in use (409). The response is stored when the request ends and
replayed for 24 hours to a request with the same key and the same body; another body with
that key is refused (422). A secret the request made (a new API token, a webhook signing
secret: workflow.shown_once) is in its answer only: the stored answer has null in its place.
A request refused before doing anything (rate limited) or cut off (timed out: its transaction
rolled back) releases its key so it can be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from models import IdempotentRequest
from workflow import shown_once
from workflow.unit import writing_with_every_change

log = logging.getLogger(__name__)
RELEASE_ATTEMPTS = 60  # every 0.5 s
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
KEEP = timedelta(hours=24)
PURGE_EVERY = 3600.0
RELEASE_ON = {429, 503}  # nothing ran: the key may be used again


async def _mark_changed(claim_id: int) -> None:
    await IdempotentRequest.filter(id=claim_id).update(changed=True)


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return status, body.encode()


async def _send(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Idempotency:
    def __init__(self, app: ASGIApp, lease: timedelta) -> None:
        self.app = app
        self.lease = lease  # how long a request may run: its claim is stale after that
        self.last_purge = 0.0
        self._releasing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"idempotency-key"),
            None,
        )
        caller = scope.get("state", {}).get("scope")
        if (
            key is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or not caller
            or caller.token_id is None
        ):
            await self.app(scope, receive, send)
            return
        if not KEY_RE.match(key):
            await _send(
                send,
                *_error(
                    400,
                    "INVALID_IDEMPOTENCY_KEY",
                    "Idempotency-Key: 1 to 255 visible ASCII characters",
                ),
                [],
            )
            return
        body = await _read(receive)
        digest = hashlib.sha256(body).hexdigest()
        await self._purge()
        # Shielded: cut off mid-claim (a busy SQLite), the claim still completes, then is freed.
        owner = Owner(caller.firm_id, caller.token_id)
        claiming = asyncio.ensure_future(_claim(owner, key, digest, self.lease))
        try:
            claim = await asyncio.shield(claiming)
        except BaseException:

            def release_if_held(done: asyncio.Future[IdempotentRequest | None]) -> None:
                # None: the claim completed and this request holds the key it no longer uses
                if not (done.cancelled() or done.exception() or done.result()):
                    self._release_soon(owner, key)

            claiming.add_done_callback(release_if_held)
            raise
        if claim is not None:
            if claim.request_hash != digest:
                await _send(
                    send,
                    *_error(
                        422,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this Idempotency-Key was used with another request body; use a new key",
                    ),
                    [],
                )
            elif claim.response is None and claim.changed and self._expired(claim):
                await _send(
                    send,
                    *_error(
                        409,
                        "IDEMPOTENCY_RESPONSE_LOST",
                        "the request with this Idempotency-Key was carried out, but the server "
                        "stopped before answering: read the current state instead of retrying",
                    ),
                    [],
                )
            elif claim.response is None:
                await _send(
                    send,
                    *_error(
                        409,
                        "IDEMPOTENCY_KEY_IN_USE",
                        "a request with this Idempotency-Key is running",
                    ),
                    [(b"retry-after", b"1")],
                )
            else:
                await _send(
                    send,
                    claim.status_code or 200,
                    claim.response.encode(),
                    [(b"idempotent-replayed", b"true")],
                )
            return
        await self._run_and_store(scope, body, send, owner, key)

    def _expired(self, claim: IdempotentRequest) -> bool:
        """Its request cannot still be running: the server that ran it stopped under it."""
        return claim.created_at < datetime.now(UTC) - self.lease

    async def _run_and_store(
        self, scope: Scope, body: bytes, send: Send, owner: Owner, key: str
    ) -> None:
        status, chunks = 500, []
        replayed = False

        async def receive_body() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # flat=True: ids, not the tuples tortoise's typing says
        claim_id: list[int] = await owner.claims(key).values_list("id", flat=True)  # type: ignore[assignment]
        # Each change the request makes marks its claim in the change's own transaction: if
        # the server stops before answering, a retry learns that the change was made
        # (IDEMPOTENCY_RESPONSE_LOST) instead of taking the claim over and making it twice.
        marking = (
            writing_with_every_change(partial(_mark_changed, claim_id[0]))
            if claim_id
            else contextlib.nullcontext()
        )
        try:
            with marking, shown_once.collecting() as secrets:
                await self.app(scope, receive_body, capture)
        except BaseException:  # cut off (timeout, client gone) or crashed: no response to keep
            self._release_soon(owner, key)
            raise
        stored = owner.claims(key)
        if status in RELEASE_ON:
            await stored.delete()
        else:
            answer = _without(b"".join(chunks).decode(), secrets)
            await stored.update(status_code=status, response=answer)

    def _release_soon(self, owner: Owner, key: str) -> None:
        """Free a key in the background: the database may be what held the request up."""

        async def release() -> None:
            for _ in range(RELEASE_ATTEMPTS):
                try:
                    await owner.claims(key).delete()
                    return
                except Exception as error:
                    log.warning("could not release idempotency key yet: %s", error)
                    await asyncio.sleep(0.5)

        task = asyncio.create_task(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _purge(self) -> None:
        if time.monotonic() - self.last_purge > PURGE_EVERY:
            self.last_purge = time.monotonic()
            await IdempotentRequest.filter(created_at__lt=datetime.now(UTC) - KEEP).delete()


async def _read(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _without(answer: str, secrets: list[str]) -> str:
    """The answer to keep: each secret in it (a JSON string, whatever its field's alias)
    replaced by null."""
    for secret in secrets:
        answer = answer.replace(f'"{secret}"', "null").replace(secret, "")
    return answer


@dataclass(frozen=True)
class Owner:
    """Whose keys: a token's, within its firm."""

    firm_id: int
    token_id: int

    def claims(self, key: str) -> QuerySet[IdempotentRequest]:
        return IdempotentRequest.filter(token_id=self.token_id, key=key)


async def _claim(owner: Owner, key: str, digest: str, lease: timedelta) -> IdempotentRequest | None:
    """None if this request now holds the key; else the earlier request's row. A claim whose
    request was cut off by a stopped server, having changed nothing, is taken over."""
    for _ in range(2):
        try:
            await IdempotentRequest.create(
                firm_id=owner.firm_id, token_id=owner.token_id, key=key, request_hash=digest
            )
            return None
        except IntegrityError:
            existing = await owner.claims(key).first()
            if existing is None:
                continue  # released meanwhile: claim it
            now = datetime.now(UTC)
            if existing.created_at < now - KEEP:
                await IdempotentRequest.filter(id=existing.id).delete()
                continue
            if (
                existing.request_hash == digest
                and existing.response is None
                and not existing.changed
                and existing.created_at < now - lease
            ):
                taken = await IdempotentRequest.filter(
                    id=existing.id,
                    created_at=existing.created_at,
                    response__isnull=True,
                    changed=False,
                ).update(created_at=now)
                if taken:
                    return None
            return existing
    return await owner.claims(key).first()
