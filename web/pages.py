"""The reference pages, static files with no build step: the board at GET /board (web/board/)
and the client portal at GET /portal (web/portal/).

Each page talks to the server like any other client: the board to /graphql with an API
token (queries and moveJob over HTTP, boardUpdated over graphql-transport-ws), the portal to
/portal/graphql with a portal session token.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PAGES_DIR = Path(__file__).parent
# A page loads nothing but its own files, and talks only to this server: a CDN script could
# not run, and a token could not leave for another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    # The portal's address holds a sign-in token until the page has used it: it must not
    # leave in a Referer.
    "Referrer-Policy": "no-referrer",
}


class PageFiles(StaticFiles):
    """A page's files, with its headers on each: /NAME/index.html is the page too."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(HEADERS)
        return response


def page_routes(name: str) -> list[BaseRoute]:
    """/NAME (and /NAME/) is the page web/NAME/index.html; /NAME/FILE its scripts and styles."""
    directory = PAGES_DIR / name

    async def page(_: Request) -> FileResponse:
        return FileResponse(directory / "index.html", headers=HEADERS)

    return [
        Route(f"/{name}", page),
        Route(f"/{name}/", page),
        Mount(f"/{name}", PageFiles(directory=directory), name=name),
    ]
