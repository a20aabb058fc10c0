"""The reference board page at GET /board: static files (web/board/), no build step.

The page talks to /graphql like any other client: a token, queries and moveJob over HTTP,
boardUpdated over graphql-transport-ws.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

BOARD_DIR = Path(__file__).parent / "board"
# The page loads nothing but its own files, and talks only to this server: a CDN script could
# not run, and a token could not leave for another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def board_page(_: Request) -> FileResponse:
    return FileResponse(
        BOARD_DIR / "index.html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


class BoardFiles(StaticFiles):
    """The page's files, with its policy on each: /board/index.html is the page too."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


def board_routes() -> list[BaseRoute]:
    """/board (and /board/) is the page; /board/NAME its scripts and styles."""
    return [
        Route("/board", board_page),
        Route("/board/", board_page),
        Mount("/board", BoardFiles(directory=BOARD_DIR), name="board"),
    ]
