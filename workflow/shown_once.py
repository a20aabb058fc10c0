"""Secrets made by the request being served: answered once, in that request's answer, and
never kept anywhere else (web.idempotency keeps answers without them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_minted: ContextVar[list[str] | None] = ContextVar("minted_secrets", default=None)


def note(secret: str) -> str:
    """Record a secret made now (an API token, a webhook signing secret); returns it."""
    if (minted := _minted.get()) is not None:
        minted.append(secret)
    return secret


@contextmanager
def collecting() -> Iterator[list[str]]:
    """The secrets noted while the block runs (in its task and the tasks it starts)."""
    minted: list[str] = []
    token = _minted.set(minted)
    try:
        yield minted
    finally:
        _minted.reset(token)
