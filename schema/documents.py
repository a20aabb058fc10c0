"""The key under which a cache holds something per document text.

A document's text may be as large as a request body (1 MB) while holding no token (one long
comment): keyed by the text itself, each cached entry would keep that megabyte alive. Caches
key by a digest instead, and leave out documents over MAX_CACHED_DOCUMENT_CHARS (clients'
recurring documents are a few KB; a longer one is parsed and validated again each time).
"""

from __future__ import annotations

import hashlib

MAX_CACHED_DOCUMENT_CHARS = 20_000


def document_key(text: str | None) -> bytes | None:
    """The sha256 digest of a document's text; None if there is no text or it is too long to
    be cached."""
    if text is None or len(text) > MAX_CACHED_DOCUMENT_CHARS:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
