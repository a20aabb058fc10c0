"""Caches that hold something per document (parse, validation, result cache, introspection
answers) keep nothing of a large document: a 0.5 MB comment holds no token, so such a
document passes every limit, and keyed by its text each cached entry kept its megabyte alive.
Sent through the in-process app; the caches are then looked at directly."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc
from collections.abc import Hashable, Iterator
from typing import Any

import httpx
import pytest

from schema import extensions, guard, introspection, result_cache
from schema.documents import MAX_CACHED_DOCUMENT_CHARS, DocumentCache, document_key
from workflow.firms import NewFirm

COMMENT = 500_000  # characters of comment in each large document
DOCUMENTS = 12
# Under tracemalloc a 0.5 MB document takes seconds to lex: the memory test sends 100 KB ones
# (five times the largest cached document), which would keep 1.2 MB alive, three times what
# it allows.
TRACED_COMMENT = 100_000
BOARD = "query Board { pipelines(first: 1) { edges { node { id name } } } }"
SCHEMA = "query Types { __schema { types { name } } }"


def large(n: int, document: str, comment: int = COMMENT) -> str:
    return f"# {n} {'x' * comment}\n{document}"


async def post(http: httpx.AsyncClient, firm: NewFirm, query: str) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {firm.token}"}
    )
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert "errors" not in body, body
    return dict(body)


@pytest.mark.slow
async def test_large_documents_leave_no_memory_behind(
    http: httpx.AsyncClient, firm_a: NewFirm, db: str
) -> None:
    """12 documents of 100 KB each are answered; they retain (almost) nothing once answered."""
    if not db.startswith("sqlite"):
        pytest.skip("what the caches keep does not depend on the database: SQLite suffices")
    for query in (BOARD, SCHEMA):
        await post(http, firm_a, query)  # warm: the caches hold these, the token is known
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(DOCUMENTS):
            await post(http, firm_a, large(n, BOARD if n % 2 else SCHEMA, TRACED_COMMENT))
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"\n{DOCUMENTS} documents of {TRACED_COMMENT / 1e6} MB: {retained / 1e6:.2f} MB retained")
    assert retained < 4 * TRACED_COMMENT, f"{retained / 1e6:.1f} MB retained"


def keys_of(cache: Any) -> Iterator[Hashable]:
    assert isinstance(cache, DocumentCache)
    yield from cache.entries


def flatten(key: Hashable) -> Iterator[Hashable]:
    if isinstance(key, tuple):
        for part in key:
            yield from flatten(part)
    else:
        yield key


async def test_caches_are_keyed_by_digest_and_skip_large_documents(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    caches = {
        "parse": extensions.PARSED,
        "validation": guard.VALID,
        "cacheable": result_cache.CACHEABLE,
        "introspection": introspection.ANSWERS,
    }
    for cache in caches.values():
        cache.clear()
    result_cache.STORE.clear()
    sent = [large(n, BOARD if n % 2 else SCHEMA) for n in range(DOCUMENTS)]
    for query in sent:
        await post(http, firm_a, query)
    large_digests = {hashlib.sha256(query.encode()).digest() for query in sent}
    for name, cache in caches.items():
        assert len(cache) == 0, name
    assert len(result_cache.STORE._entries) == 0  # noqa: SLF001

    for query in (BOARD, SCHEMA):  # a normal document is still cached, by its digest
        await post(http, firm_a, query)
    board, schema_ = document_key(BOARD), document_key(SCHEMA)
    assert board and schema_ and not large_digests & {board, schema_}
    expected = {
        "parse": {board, schema_},
        "validation": {board, schema_},
        "cacheable": {board},
        "introspection": {schema_},
    }
    for name, cache in caches.items():
        parts = {part for key in keys_of(cache) for part in flatten(key)}
        assert expected[name] <= parts, name
        assert not any(isinstance(part, str) and len(part) > 100 for part in parts), name
    stored = [part for key in result_cache.STORE._entries for part in flatten(key)]  # noqa: SLF001
    assert board in stored and not any(isinstance(p, str) and len(p) > 100 for p in stored)


def test_a_document_cache_is_bounded_by_entries_and_by_text() -> None:
    cache: DocumentCache[int] = DocumentCache(max_entries=3, max_chars=100)
    for n in range(5):
        cache.put(n, n, chars=10)
    assert list(cache.entries) == [2, 3, 4]
    assert cache.get(2) == 2  # used: now the most recent
    cache.put("big", 0, chars=90)  # 3 + 4 + big = 110 > 100: the least recent go
    assert list(cache.entries) == [2, "big"] and cache.chars == 100
    assert document_key("x" * (MAX_CACHED_DOCUMENT_CHARS + 1)) is None
    assert document_key("{ viewer { id } }") is not None
