"""GraphiQL's page and assets as the server answers them (issue 13): a browser's GET /graphql
gets our page without a token; its assets are served here, each the file the page's CDN
fallback names (same SHA-384); a GraphQL GET still needs the token. In-process, no database:
none of this touches it. The page at work in a browser: tests/browser/test_graphiql.py."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import settings
from web.app import create_app

WEB = Path(__file__).resolve().parent.parent / "web"
ASSETS = WEB / "static" / "graphiql"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings.load()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_browser_gets_our_page_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (WEB / "graphiql.html").read_text(encoding="utf-8")
    assert 'id="sign-in"' in response.text and "wsConnectionParams" in response.text
    # A GraphQL request by GET is no page: it needs the token like any other.
    refused = await client.get("/graphql", params={"query": "{ viewer { id } }"})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
    ],
)
async def test_each_asset_is_served_here_and_is_the_cdn_fallbacks_file(
    client: httpx.AsyncClient, name: str, kind: str
) -> None:
    response = await client.get(f"/static/graphiql/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert response.content == (ASSETS / name).read_bytes()
    digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
    page = (WEB / "graphiql.html").read_text(encoding="utf-8")
    entry = re.search(rf'"{re.escape(name)}": \[\s*"(https://[^"]+)",\s*"sha384-([^"]+)"', page)
    assert entry, f"{name} has no CDN fallback in web/graphiql.html"
    assert entry.group(2) == digest, f"{name}: its integrity in web/graphiql.html is stale"
    version = re.search(r"@([0-9.]+)/", entry.group(1))
    assert version and version.group(1) in (ASSETS / "README.md").read_text(encoding="utf-8")


def test_the_vendored_files_keep_their_licenses() -> None:
    for package in ("graphiql", "react", "react-dom"):
        assert "MIT License" in (ASSETS / f"LICENSE.{package}").read_text(encoding="utf-8")


async def test_the_page_runs_only_its_own_scripts_and_cannot_be_framed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    policy = dict(
        rule.strip().split(" ", 1)
        for rule in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert inline  # each inline script is allowed by its hash, no other inline script is
    allowed = policy["script-src"].split()
    assert "'unsafe-inline'" not in allowed and "'unsafe-eval'" not in allowed
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
