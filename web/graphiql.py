"""GraphiQL for browsers: our page (web/graphiql.html, with a sign-in box for the token),
answered to a GET /graphql that asks for HTML, and its assets, served by this server from
web/static/graphiql/ (pinned files; see the README.md there)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
ASSETS_PATH = "/static/graphiql"  # where web/graphiql.html loads them from


@cache
def _page() -> str:
    return (HERE / "graphiql.html").read_text(encoding="utf-8")


def page() -> HTMLResponse:
    # no-cache: a browser revalidates, so a new version of the page is seen at once.
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


def assets() -> StaticFiles:
    return StaticFiles(directory=HERE / "static" / "graphiql")
