"""A firm that floods a server with expensive documents, from a process of its own (so that
reading its large answers does not slow the test's own clock or event loop).

Run as `python -m tests.reliability.flood` with a JSON spec on stdin:
{"url", "token", "seconds", "concurrency", "documents": [{"query", "variables"}]}; each of
`concurrency` clients sends the documents in turn until `seconds` have passed (a document whose
variables hold "n" gets n = 100 - i % 10, so no two answers in a row are the same; VARY in a
document is replaced by a number never sent before, so that no cache knows it). Prints one
JSON line: requests by status, GraphQL error codes seen, each document's median time.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from typing import Any

import httpx


async def _client(
    spec: dict[str, Any], number: int, tally: Counter[str], took: list[list[float]]
) -> None:
    deadline = time.monotonic() + spec["seconds"]
    documents = spec["documents"]
    headers = {"Authorization": f"Bearer {spec['token']}"}
    i = number
    async with httpx.AsyncClient(timeout=60) as http:
        while time.monotonic() < deadline:
            document = documents[i % len(documents)]
            variables = dict(document.get("variables") or {})
            if "n" in variables:
                variables["n"] = 100 - i % 10
            i += 1
            sent = time.monotonic()
            query = document["query"].replace("VARY", f"{number}x{i}")
            try:
                response = await http.post(
                    f"{spec['url']}/graphql",
                    headers=headers,
                    json={"query": query, "variables": variables},
                )
            except httpx.HTTPError as error:
                tally[f"transport:{type(error).__name__}"] += 1
                continue
            tally[f"status:{response.status_code}"] += 1
            took[documents.index(document)].append(time.monotonic() - sent)
            for error in response.json().get("errors") or []:
                tally[f"code:{(error.get('extensions') or {}).get('code')}"] += 1


async def flood(spec: dict[str, Any]) -> dict[str, Any]:
    tally: Counter[str] = Counter()
    took: list[list[float]] = [[] for _ in spec["documents"]]
    await asyncio.gather(*(_client(spec, n, tally, took) for n in range(spec["concurrency"])))
    return {**tally, "median_s": [round(statistics.median(t), 3) if t else None for t in took]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(flood(json.load(sys.stdin)))))
