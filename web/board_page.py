"""The reference board page at GET /board: static files (web/board/), no build step.

The page talks to /graphql like any other client: a token, queries and moveJob over HTTP,
boardUpdated over graphql-transport-ws.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

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


def board_routes() -> list[BaseRoute]:
    """/board (and /board/) is the page; /board/NAME its scripts and styles."""
    return [
        Route("/board", board_page),
        Route("/board/", board_page),
        Mount("/board", StaticFiles(directory=BOARD_DIR), name="board"),
    ]
