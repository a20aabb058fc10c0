"""Caches that hold something per document text, and the key they hold it under.

A document's text may be as large as a request body (1 MB) while holding no token (one long
comment): keyed by the text itself, each cached entry kept that megabyte alive, and its parse
(whose every node keeps the source and the token list) as much again. So caches key by the
text's sha256 digest, leave out documents over MAX_CACHED_DOCUMENT_CHARS (clients' recurring
documents are a few KB; a longer one is parsed and validated again each time), and are bounded
by entries and by the text their entries were made from.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

MAX_CACHED_DOCUMENT_CHARS = 20_000

V = TypeVar("V")


def document_key(text: str | None) -> bytes | None:
    """The sha256 digest of a document's text; None if there is no text or it is too long to
    be cached."""
    if text is None or len(text) > MAX_CACHED_DOCUMENT_CHARS:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class DocumentCache(Generic[V]):
    """Values by key (a document's digest, with whatever else tells them apart), least
    recently used dropped first once more than `max_entries` are held or the texts they were
    made from total more than `max_chars`."""

    def __init__(self, max_entries: int, max_chars: int | None = None) -> None:
        self.max_entries, self.max_chars = max_entries, max_chars
        self.entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.chars = 0

    def get(self, key: Hashable) -> V | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: V, chars: int) -> None:
        self.forget(key)
        self.entries[key] = (value, chars)
        self.chars += chars
        while len(self.entries) > self.max_entries or (
            self.max_chars is not None and self.chars > self.max_chars
        ):
            self.forget(next(iter(self.entries)))

    def forget(self, key: Hashable) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.chars -= entry[1]

    def clear(self) -> None:
        self.entries.clear()
        self.chars = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.entries
