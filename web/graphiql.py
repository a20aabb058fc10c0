"""GraphiQL for browsers: our page (web/graphiql.html, with a sign-in box for the token),
answered to a GET /graphql that asks for HTML, and its assets, served by this server from
web/static/graphiql/ (pinned files; see the README.md there)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
ASSETS_PATH = "/static/graphiql"  # where web/graphiql.html loads them from
CDN = "https://unpkg.com"  # the page's fallback for an asset that fails to load here
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def _page() -> str:
    return (HERE / "graphiql.html").read_text(encoding="utf-8")


@cache
def content_security_policy() -> str:
    """The page keeps a token: it runs only its own inline scripts (by hash) and the assets
    from here or the CDN, talks only to this server, and cannot be framed. Styles may be
    inline: GraphiQL sets them on its elements."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(_page())
    )
    return (
        f"default-src 'none'; script-src 'self' {CDN} {hashes}; "
        f"style-src 'self' 'unsafe-inline' {CDN}; font-src 'self' data:; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def page() -> HTMLResponse:
    # no-cache: a browser revalidates, so a new version of the page is seen at once.
    return HTMLResponse(
        _page(),
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(),
        },
    )


def assets() -> StaticFiles:
    return StaticFiles(directory=HERE / "static" / "graphiql")
